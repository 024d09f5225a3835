package pipeline_test

import (
	"testing"

	"github.com/tracerproject/tracer/internal/chserver"
)

// TestMain shares one ClickHouse server between the package's tests; each
// test gets a fresh database from chserver.TempDatabase.
func TestMain(m *testing.M) { chserver.Main(m) }
