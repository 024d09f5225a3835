package chdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// The binding of libchdb's C API, loaded at run time with purego so that a
// binary without the library still starts (chdb-go's package init panics
// instead). The function signatures and the opaque handle layouts follow
// chdb-go v1.11.0's chdb-purego package (github.com/chdb-io/chdb-go,
// Apache-2.0) and chDB's programs/local/chdb.h:
//
//	chdb_connection *chdb_connect(int argc, char **argv);
//	void chdb_close_conn(chdb_connection *conn);
//	chdb_result *chdb_query_n(chdb_connection conn, const char *query, size_t query_len,
//	                          const char *format, size_t format_len);
//	char *chdb_result_buffer(chdb_result *result);
//	size_t chdb_result_length(chdb_result *result);
//	const char *chdb_result_error(chdb_result *result);
//	void chdb_destroy_query_result(chdb_result *result);
//	void chdb_set_signal_handlers_enabled(int enabled);
//
// where chdb_connection is a pointer to struct { void *internal_data; } and
// chdb_result is struct { void *internal_data; }, both opaque to us: we only
// pass the pointers back.
//
// We call chdb_query_n, not chdb_query: it takes lengths, so a Go string
// goes to C without a NUL-terminated copy (and could hold NUL bytes).

// chdbConnection mirrors struct chdb_connection_.
type chdbConnection struct{ internalData unsafe.Pointer }

// chdbResult mirrors struct chdb_result_.
type chdbResult struct{ internalData unsafe.Pointer }

// lib holds the resolved C functions.
type lib struct {
	path string

	connect       func(argc int32, argv **byte) **chdbConnection
	closeConn     func(conn **chdbConnection)
	queryN        func(conn *chdbConnection, query *byte, queryLen uintptr, format *byte, formatLen uintptr) *chdbResult
	resultBuffer  func(res *chdbResult) *byte
	resultLength  func(res *chdbResult) uintptr
	resultError   func(res *chdbResult) *byte
	destroyResult func(res *chdbResult)
	// setSignalHandlers is optional: older libraries lack it.
	setSignalHandlers func(enabled int32)
}

var (
	libMu     sync.Mutex
	loaded    *lib
	loadedErr error
)

// loadLib finds and loads libchdb once per process. A library that was
// found but failed to load is remembered: dlopen of a 560 MB library that
// half-initialised is not worth retrying. A library that was not found is
// not remembered, so a later Open (after `make libchdb`) can succeed.
func loadLib(configured string) (*lib, error) {
	libMu.Lock()
	defer libMu.Unlock()
	if loaded != nil {
		if configured != "" && !sameFile(configured, loaded.path) {
			return nil, fmt.Errorf("chdb: libchdb already loaded from %s, cannot load %s as well", loaded.path, configured)
		}
		return loaded, nil
	}
	if loadedErr != nil {
		return nil, loadedErr
	}
	path, tried := findLib(configured)
	if path == "" {
		return nil, fmt.Errorf("%w (looked in: %s); run `make libchdb` in the tracer source tree "+
			"(it unpacks the npm package @chdb/lib-linux-x64-gnu into .cache/chdb/), "+
			"or set CHDB_LIB_PATH to the path of libchdb.so", ErrNoLibrary, strings.Join(tried, ", "))
	}
	l, err := openLib(path)
	if err != nil {
		loadedErr = err
		return nil, err
	}
	loaded = l
	return l, nil
}

// findLib applies the lookup order: Config.LibPath, $CHDB_LIB_PATH, then the
// standard places. An explicitly named path that does not exist is not
// silently replaced by another library.
func findLib(configured string) (path string, tried []string) {
	explicit := []string{configured, os.Getenv("CHDB_LIB_PATH")}
	for _, p := range explicit {
		if p == "" {
			continue
		}
		tried = append(tried, p)
		if isFile(p) {
			return p, tried
		}
		return "", tried
	}
	var candidates []string
	candidates = append(candidates, "/usr/local/lib/libchdb.so")
	if exe, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(exe), "libchdb.so"))
	}
	if wd, err := os.Getwd(); err == nil {
		candidates = append(candidates, filepath.Join(wd, ".cache", "chdb", "libchdb.so"))
	}
	for _, p := range candidates {
		tried = append(tried, p)
		if isFile(p) {
			return p, tried
		}
	}
	return "", tried
}

func openLib(path string) (*lib, error) {
	// RTLD_NOW resolves every relocation of the library up front: a
	// missing dependency fails here rather than in the middle of a query.
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("chdb: loading %s (a broken download? run `make libchdb` again, "+
			"or point CHDB_LIB_PATH at a working libchdb.so): %w", path, err)
	}
	l := &lib{path: path}
	syms := []struct {
		name     string
		fn       any
		optional bool
	}{
		{"chdb_connect", &l.connect, false},
		{"chdb_close_conn", &l.closeConn, false},
		{"chdb_query_n", &l.queryN, false},
		{"chdb_result_buffer", &l.resultBuffer, false},
		{"chdb_result_length", &l.resultLength, false},
		{"chdb_result_error", &l.resultError, false},
		{"chdb_destroy_query_result", &l.destroyResult, false},
		{"chdb_set_signal_handlers_enabled", &l.setSignalHandlers, true},
	}
	for _, s := range syms {
		sym, err := purego.Dlsym(h, s.name)
		if err != nil {
			if s.optional {
				continue
			}
			return nil, fmt.Errorf("chdb: %s lacks %s, part of chDB's current C API "+
				"(@chdb/lib-linux-x64-gnu 26.x has it; `make libchdb` fetches it): %w", path, s.name, err)
		}
		purego.RegisterFunc(s.fn, sym)
	}
	return l, nil
}

// cResult is a finished query's output, copied into Go memory.
type cResult struct {
	data []byte
	err  error
}

// query runs one statement and copies its output out of C memory, so the
// C result is freed before query returns and nothing in Go points into it.
func (l *lib) query(conn *chdbConnection, query, format string) cResult {
	var qp, fp *byte
	if len(query) > 0 {
		qp = unsafe.StringData(query)
	}
	if len(format) > 0 {
		fp = unsafe.StringData(format)
	}
	res := l.queryN(conn, qp, uintptr(len(query)), fp, uintptr(len(format)))
	// The strings must stay reachable while C reads them.
	runtime.KeepAlive(qp)
	runtime.KeepAlive(fp)
	if res == nil {
		// Old libraries returned NULL for a statement without output.
		return cResult{}
	}
	defer l.destroyResult(res)
	if msg := cString(l.resultError(res)); msg != "" {
		return cResult{err: errors.New(msg)}
	}
	n := l.resultLength(res)
	buf := l.resultBuffer(res)
	if n == 0 || buf == nil {
		return cResult{}
	}
	data := make([]byte, n)
	copy(data, unsafe.Slice(buf, n))
	return cResult{data: data}
}

// cString copies a NUL-terminated C string.
func cString(p *byte) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

// cArgv builds a NUL-terminated argv. The memory is Go's; C reads it only
// during chdb_connect (the engine copies its arguments).
func cArgv(args []string) (argv []*byte, keep [][]byte) {
	argv = make([]*byte, len(args)+1)
	for i, a := range args {
		b := append([]byte(a), 0)
		keep = append(keep, b)
		argv[i] = &b[0]
	}
	return argv, keep
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}
