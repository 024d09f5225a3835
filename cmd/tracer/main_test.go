package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tracerproject/tracer/internal/chserver"
)

// TestMain removes the binary the tests built (65 MB a run).
func TestMain(m *testing.M) {
	chserver.Main(m, func() {
		if build.path != "" {
			os.RemoveAll(filepath.Dir(build.path))
		}
	})
}

var build struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// tracerBinary builds this command once per test binary.
func tracerBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "tracer-bin-")
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(dir, "tracer")
		cmd := exec.Command("go", "build", "-o", build.path, ".")
		build.out, build.err = cmd.CombinedOutput()
	})
	if build.err != nil {
		t.Fatalf("building tracer: %v\n%s", build.err, build.out)
	}
	return build.path
}
