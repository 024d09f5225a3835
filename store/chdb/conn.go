package chdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/tracerproject/tracer/store"
)

var _ store.Conn = (*Conn)(nil)

// Config says where the embedded database lives and where libchdb is.
type Config struct {
	// Path is the data directory of the embedded database; it is created
	// when missing. Required.
	Path string
	// LibPath is the path of libchdb.so. Empty means $CHDB_LIB_PATH, then
	// /usr/local/lib/libchdb.so, libchdb.so beside the executable and
	// ./.cache/chdb/libchdb.so.
	LibPath string
}

var (
	// ErrNoLibrary is returned by Open when libchdb.so cannot be found;
	// the message says how to get it.
	ErrNoLibrary = errors.New("chdb: libchdb.so not found")
	// ErrOtherPath is returned by Open when the process already has the
	// engine open on another data directory.
	ErrOtherPath = errors.New("chdb: the engine is already open on another data directory in this process")
	// ErrClosed is returned by calls on a closed Conn.
	ErrClosed = errors.New("chdb: connection closed")
	// ErrBind is wrapped by every argument-binding error.
	ErrBind = errors.New("chdb: binding arguments")
)

// The engine is process-wide: chDB boots one ClickHouse instance per
// process, on the data directory given to the first chdb_connect. All Conns
// on that directory share one C connection; it is closed with the last of
// them.
var (
	engMu sync.Mutex
	eng   *engine
)

type engine struct {
	lib     *lib
	path    string
	version string
	refs    int
	tmpDir  string // insert files, under the data directory

	// sem serializes statements on the C connection (a channel, not a
	// mutex, so that waiting for it honours ctx). Whoever holds it may use
	// conn; Close takes it too, so no statement outlives the connection.
	sem  chan struct{}
	conn **chdbConnection
}

// insertDir, under the data directory, holds the files Insert loads. It is
// not a name ClickHouse uses there (it keeps its own in tmp/).
const insertDir = "tracer_insert"

// Conn is a connection to the embedded engine. It is safe for concurrent
// use; statements run one at a time.
type Conn struct {
	eng       *engine
	closeOnce sync.Once
	closed    chan struct{}
}

// Open loads libchdb (once per process) and opens the database at
// cfg.Path. Only one data directory can be open per process: opening a
// second Conn on the same path shares the engine, opening another path
// fails with ErrOtherPath until every Conn on the first is closed. Closing
// and reopening, on the same or another path, works within one process.
func Open(cfg Config) (*Conn, error) {
	if cfg.Path == "" {
		return nil, errors.New("chdb: Config.Path (the data directory) is required")
	}
	path, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("chdb: data directory %s: %w", cfg.Path, err)
	}
	path = filepath.Clean(path)
	l, err := loadLib(cfg.LibPath)
	if err != nil {
		return nil, err
	}

	engMu.Lock()
	defer engMu.Unlock()
	if eng != nil {
		if eng.path != path {
			return nil, fmt.Errorf("%w (open: %s, asked for: %s)", ErrOtherPath, eng.path, path)
		}
		eng.refs++
		return &Conn{eng: eng, closed: make(chan struct{})}, nil
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("chdb: creating data directory: %w", err)
	}
	// Insert files left by a crash go with the directory.
	tmpDir := filepath.Join(path, insertDir)
	if err := os.RemoveAll(tmpDir); err != nil {
		return nil, fmt.Errorf("chdb: clearing %s: %w", tmpDir, err)
	}
	if err := os.Mkdir(tmpDir, 0o700); err != nil {
		return nil, fmt.Errorf("chdb: creating %s: %w", tmpDir, err)
	}
	saved := saveSignals()
	if l.setSignalHandlers != nil {
		// ClickHouse installs process-wide handlers (SIGSEGV, SIGBUS,
		// SIGFPE, ...) for its crash reports; they would take the signals
		// the Go runtime relies on (nil-pointer panics, preemption).
		l.setSignalHandlers(0)
	}
	argv, keep := cArgv([]string{"clickhouse", "--path=" + path})
	conn := l.connect(int32(len(argv)-1), &argv[0])
	runtime.KeepAlive(keep)
	runtime.KeepAlive(argv)
	restoreSignals(saved)
	if conn == nil || *conn == nil {
		return nil, fmt.Errorf("chdb: connecting to %s failed (is another process using it?)", path)
	}
	e := &engine{lib: l, path: path, refs: 1, tmpDir: tmpDir, sem: make(chan struct{}, 1), conn: conn}
	r := l.query(*conn, "SELECT version()", "TabSeparated")
	if r.err != nil {
		l.closeConn(conn)
		return nil, fmt.Errorf("chdb: asking the engine for its version: %w", r.err)
	}
	e.version = strings.TrimSpace(string(r.data))
	// store.Keys binds a set as one string literal in the query text: let
	// the text be as long as KeysLimit keys need (the default is 256 KiB).
	if r := l.query(*conn, "SET max_query_size = 268435456", "TabSeparated"); r.err != nil {
		l.closeConn(conn)
		return nil, fmt.Errorf("chdb: raising max_query_size: %w", r.err)
	}
	eng = e
	return &Conn{eng: e, closed: make(chan struct{})}, nil
}

// Engine names the engine and its version() as the engine reports it, e.g.
// "chdb 26.5.1.1" for the npm package @chdb/lib-linux-x64-gnu 26.5.3.
func (c *Conn) Engine() string { return "chdb " + c.eng.version }

// Path is the absolute data directory.
func (c *Conn) Path() string { return c.eng.path }

// Close releases the Conn; the last Conn on the engine closes the C
// connection, after the statement in flight (if any) has finished.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		engMu.Lock()
		defer engMu.Unlock()
		e := c.eng
		e.refs--
		if e.refs > 0 {
			return
		}
		e.sem <- struct{}{}
		e.lib.closeConn(e.conn)
		e.conn = nil
		<-e.sem
		eng = nil
	})
	return nil
}

// run executes one statement, waiting for the connection first. The C call
// itself cannot be interrupted: ctx is honoured only until it starts.
func (c *Conn) run(ctx context.Context, query, format string) ([]byte, error) {
	select {
	case <-c.closed:
		return nil, ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e := c.eng
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closed:
		return nil, ErrClosed
	}
	defer func() { <-e.sem }()
	// Close may have won the race for sem while we waited.
	select {
	case <-c.closed:
		return nil, ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := e.lib.query(*e.conn, query, format)
	if r.err != nil {
		// chDB (26.5) keeps what a failing statement had already written
		// (a RowBinary header, the first blocks of rows) and hands it out
		// in front of the next statement's result. A throwaway statement
		// takes it, so the caller's next query decodes cleanly.
		e.lib.query(*e.conn, "SELECT 1", "TabSeparated")
		return nil, &Error{Msg: strings.TrimSpace(r.err.Error())}
	}
	return r.data, nil
}

// Error is an error reported by the engine.
type Error struct {
	Op  string // what the driver was doing, e.g. "insert into t"; may be empty
	Msg string // ClickHouse's message, e.g. "Code: 62. DB::Exception: Syntax error: ..."
}

func (e *Error) Error() string {
	if e.Op == "" {
		return "chdb: " + e.Msg
	}
	return "chdb: " + e.Op + ": " + e.Msg
}

// Exec runs a statement that returns no rows.
func (c *Conn) Exec(ctx context.Context, query string, args ...any) error {
	q, err := Bind(query, args...)
	if err != nil {
		return err
	}
	_, err = c.run(ctx, q, "TabSeparated")
	return err
}

// Query runs a statement and returns its rows. The whole result is read
// into memory before Query returns (chDB hands it over in one buffer), so
// the connection is free again while the caller iterates.
func (c *Conn) Query(ctx context.Context, query string, args ...any) (store.Rows, error) {
	q, err := Bind(query, args...)
	if err != nil {
		return nil, err
	}
	data, err := c.run(ctx, q, resultFormat)
	if err != nil {
		return nil, err
	}
	return newRows(data)
}
