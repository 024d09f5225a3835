package store

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// CompressBlockSize is the smallest compression block (bytes) the tables
// read by key are written with. ClickHouse's default, 65,536, packs 16
// granules of a UInt32 column into one block, so a keyed read that needs
// one granule per key decompresses sixteen; 4,096 gives a block per
// granule for a little more disk (docs/clickhouse.md).
const CompressBlockSize = 4096

// tuneLayout gives the tables read by key CompressBlockSize where the
// engine has it as a table setting (current ClickHouse, chDB). ClickHouse
// 18.16 has it only as a user setting, taken from the server's default
// profile: the operator sets it there (docs/clickhouse.md). Parts
// written before keep their blocks until they are merged (tracer store
// optimize --rewrite). It returns what CompressLayout found.
func tuneLayout(ctx context.Context, c Conn) (how string, profileValue int, err error) {
	how, profileValue, err = CompressLayout(ctx, c)
	if err != nil || how != "table setting" {
		return how, profileValue, err
	}
	return how, profileValue, setTableLayout(ctx, c)
}

// setTableLayout sets CompressBlockSize on the tables read by key that do
// not have it yet.
func setTableLayout(ctx context.Context, c Conn) error {
	want := fmt.Sprintf("min_compress_block_size = %d", CompressBlockSize)
	rows, err := c.Query(ctx, "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() AND name IN ?", Keys(LookupTableNames()))
	if err != nil {
		return fmt.Errorf("store: reading the settings of the tables read by key: %w", err)
	}
	var alter []string
	for rows.Next() {
		var name, engine string
		if err := rows.Scan(&name, &engine); err != nil {
			rows.Close()
			return fmt.Errorf("store: reading the settings of the tables read by key: %w", err)
		}
		if !strings.Contains(engine, want) {
			alter = append(alter, name)
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("store: reading the settings of the tables read by key: %w", err)
	}
	for _, t := range alter {
		if err := c.Exec(ctx, "ALTER TABLE "+t+" MODIFY SETTING "+want); err != nil {
			return fmt.Errorf("store: setting the compression block of %s: %w", t, err)
		}
	}
	return nil
}

// tableCompressSetting reports whether MergeTree tables take
// min_compress_block_size as a table setting. ClickHouse 18.16 has no
// system.merge_tree_settings at all.
func tableCompressSetting(ctx context.Context, c Conn) (bool, error) {
	n, err := count(ctx, c, "SELECT count() FROM system.tables WHERE database = 'system' AND name = 'merge_tree_settings'")
	if err != nil || n == 0 {
		return false, err
	}
	n, err = count(ctx, c, "SELECT count() FROM system.merge_tree_settings WHERE name = 'min_compress_block_size'")
	return n > 0, err
}

// CompressLayout says how the tables read by key get CompressBlockSize on
// this engine: "table setting", "server profile" (an 18.16 server whose
// default profile sets min_compress_block_size to at most
// CompressBlockSize), or "" when they do not get it, with the value the
// engine writes with.
func CompressLayout(ctx context.Context, c Conn) (how string, profileValue int, err error) {
	ok, err := tableCompressSetting(ctx, c)
	if err != nil {
		return "", 0, err
	}
	if ok {
		return "table setting", 0, nil
	}
	rows, err := c.Query(ctx, "SELECT value FROM system.settings WHERE name = 'min_compress_block_size'")
	if err != nil {
		return "", 0, fmt.Errorf("store: reading min_compress_block_size: %w", err)
	}
	defer rows.Close()
	var v string
	for rows.Next() {
		if err := rows.Scan(&v); err != nil {
			return "", 0, fmt.Errorf("store: reading min_compress_block_size: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return "", 0, fmt.Errorf("store: reading min_compress_block_size: %w", err)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return "", 0, fmt.Errorf("store: min_compress_block_size %q: %w", v, err)
	}
	if n <= CompressBlockSize {
		return "server profile", n, nil
	}
	return "", n, nil
}

var engineVersion = regexp.MustCompile(`(\d+)\.\d+`)

// KeyFilter is the clause for a keyed read's `key IN ?`: "PREWHERE" on
// ClickHouse releases before 20, "WHERE" on later ones. The primary index
// picks, in every part of a table, the granule where a key would be; until
// the table is merged, only one part of several holds it. ClickHouse 18.16
// keeps a condition on the sorting key in WHERE and so reads every selected
// column of each of those granules; in PREWHERE it reads the key column
// first and the others only where a key matched. Current ClickHouse does
// the opposite: the same PREWHERE makes the reads several times slower
// (`tracer bench trace` shows both on a store of many parts).
func KeyFilter(c Conn) string {
	if m := engineVersion.FindStringSubmatch(c.Engine()); m != nil {
		if major, err := strconv.Atoi(m[1]); err == nil && major < 20 {
			return "PREWHERE"
		}
	}
	return "WHERE"
}
