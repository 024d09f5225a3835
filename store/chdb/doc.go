// Package chdb is the store driver for embedded chDB: current ClickHouse
// running inside the tracer process, on a data directory of its own.
//
// # The library
//
// chDB is libchdb.so (about 560 MB), from the npm package
// @chdb/lib-linux-x64-gnu; `make libchdb` unpacks it into .cache/chdb/. It
// is loaded with purego when Open is first called, never at program start,
// so a tracer binary runs without it as long as nothing asks for the
// embedded store (github.com/chdb-io/chdb-go, by contrast, panics in its
// package init when the library is missing). Open looks for it at
// Config.LibPath, then $CHDB_LIB_PATH, then /usr/local/lib/libchdb.so,
// beside the executable and in ./.cache/chdb/; when it finds nothing it
// returns ErrNoLibrary with those instructions.
//
// # One engine per process
//
// chDB boots one ClickHouse per process, on one data directory: a second
// chdb_connect on another directory fails while the first is open. Open
// therefore refuses another directory with ErrOtherPath while any Conn is
// open, and Conns on the same directory share the engine. Closing the last
// Conn shuts the engine down; it can then be opened again, on the same or
// another directory, in the same process. Another process opening a
// directory in use fails (ClickHouse locks its status file).
//
// Booting the engine resets the handlers of SIGSEGV, SIGBUS, SIGFPE and
// friends, which the Go runtime needs (a nil-pointer dereference would kill
// the process instead of panicking). Open puts the Go runtime's handlers
// back right after chdb_connect (Linux); a signal that arrives during that
// call itself still meets chDB's.
//
// # Statements
//
// chDB documents chdb_query as thread safe (it hands the statement to a
// worker thread and waits), but a connection runs one statement at a time.
// Conn serializes statements itself, so that waiting for the connection
// honours ctx and Close cannot pull the connection from under a statement.
// A statement that has started cannot be cancelled: the C call runs to its
// end, and ctx is only checked before it starts.
//
// Arguments are bound on the client side (see Bind): `?` placeholders,
// values rendered as escaped ClickHouse literals.
//
// Results come as RowBinaryWithNamesAndTypes, which is exact and fast to
// decode; the whole result is copied out of chDB before Query returns (chDB
// hands it over in one buffer), so a result must fit in memory and the
// connection is free while the caller iterates. A query must not carry its
// own FORMAT clause.
//
// Insert writes the rows as RowBinaryWithNamesAndTypes to a file under the
// data directory and runs INSERT ... FROM INFILE; see Conn.Insert for why
// the data cannot travel inline with the statement.
//
// # Mutations
//
// chDB runs with mutations_sync = 1: ALTER TABLE ... DELETE returns once
// the rows are gone, and system.mutations shows it done. (A ClickHouse
// server runs mutations in the background, so the store still waits on
// system.mutations; on chDB that finds nothing to wait for.)
package chdb
