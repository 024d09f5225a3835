package chserver

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
)

// writeConfig writes config.xml and users.xml into dir and returns the path
// of config.xml.
//
// What ClickHouse 18.16 needs, found by leaving each piece out:
//   - mark_cache_size has no default: without it the server exits at start
//     ("Not found: mark_cache_size").
//   - <logger> must be there ("Not found: logger"). With <log> set the server
//     logs to the files only; they live in dir/log so that a failed start
//     can be explained (Start quotes the error log).
//   - users.xml must define the profile and the quota that the default user
//     names: without the profile the server exits at start, without the
//     quota every query fails ("Unknown quota default").
//   - users_config is relative to the directory of config.xml.
//   - Ports that are not configured are not opened: leaving out
//     interserver_http_port (and mysql_port, postgresql_port on newer
//     releases) keeps the server to the two ports we chose.
//   - The root element may be <yandex> or <clickhouse> in 18.16; current
//     releases still accept <yandex>.
//
// The default profile sets min_compress_block_size to
// store.CompressBlockSize, as docs/clickhouse.md asks of an 18.16 server: that
// release has it only as a user setting, which its merges take from the
// default profile (checked in the marks of a merged part: one compression
// block per granule).
//
// Directories end in "/" as in the shipped configuration; releases have
// differed in whether they add it themselves.
func writeConfig(dir string, tcpPort, httpPort int) (string, error) {
	for _, sub := range []string{"data", "tmp", "user_files", "format_schemas", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return "", err
		}
	}
	slash := func(sub string) string { return esc(filepath.Join(dir, sub) + "/") }
	config := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
    <logger>
        <level>information</level>
        <log>%s</log>
        <errorlog>%s</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>%d</tcp_port>
    <http_port>%d</http_port>
    <path>%s</path>
    <tmp_path>%s</tmp_path>
    <user_files_path>%s</user_files_path>
    <format_schema_path>%s</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <keep_alive_timeout>3</keep_alive_timeout>
</yandex>
`,
		esc(filepath.Join(dir, "log", "server.log")), esc(filepath.Join(dir, "log", "server.err.log")),
		tcpPort, httpPort,
		slash("data"), slash("tmp"), slash("user_files"), slash("format_schemas"))

	// The default user has no password and may connect from loopback only.
	users := `<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
            <min_compress_block_size>4096</min_compress_block_size>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>::1</ip>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
`
	configPath := filepath.Join(dir, "config.xml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "users.xml"), []byte(users), 0o644); err != nil {
		return "", err
	}
	return configPath, nil
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s)) // writes to a bytes.Buffer never fail
	return b.String()
}
