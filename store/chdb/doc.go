// Package chdb is the store driver for embedded chDB (ClickHouse in
// process).
package chdb
