// Package chserver runs a real clickhouse-server process for tests: its own
// generated configuration, its own data directory, loopback-only listeners
// on free ports.
//
// Tests normally need only one call:
//
//	dsn := chserver.DSN(t) // clickhouse://127.0.0.1:PORT/default
//
// or, for a database of their own that is dropped when the test ends:
//
//	dsn := chserver.TempDatabase(t) // clickhouse://127.0.0.1:PORT/test_...
//
// The first such call in a test binary starts one server that every later
// call shares. Environment:
//
//   - TRACER_TEST_CLICKHOUSE_DSN: use that running server instead of starting
//     one (clickhouse://host:port[/db]).
//   - TRACER_REQUIRE_CLICKHOUSE=1: a missing clickhouse-server binary fails
//     the test instead of skipping it (CI sets it).
//
// The binary is clickhouse-server, or the single clickhouse binary of newer
// releases run as `clickhouse server`, found on PATH or in /usr/sbin (where
// Debian's package puts it) and /usr/bin. The generated configuration is
// the least that Debian's ClickHouse 18.16 accepts and still valid for
// current releases; see config.go.
//
// The shared server is killed when the test binary exits, even on a panic or
// a timeout (the child gets SIGKILL when its parent dies, on Linux). A
// package that wants a clean stop and its directory removed calls
// StopShared after m.Run in TestMain, or uses Main:
//
//	func TestMain(m *testing.M) { chserver.Main(m) }
//
// Directories left by killed runs are removed by the next Start.
package chserver
