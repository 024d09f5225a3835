package clickhouse

import (
	"strings"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"

	"github.com/tracerproject/tracer/store"
)

// presize gives every String column of a batch the room for all its bytes
// before its rows are appended.
//
// clickhouse-go appends a []string one string at a time to the column's
// single byte buffer (ch-go's ColStr), and Go grows a slice past 256 KB by
// about 1.25 times, so the strings of a large batch are copied several
// times over (`tracer bench ingest --cpuprofile` shows it). Appending one
// string of the total length and resetting the column leaves the buffer's
// capacity in place, since Reset truncates and keeps it; the rows then fill
// it without copying. The positions (16 bytes a row) still grow as before.
//
// testKeys (store/keys_test.go) counts the rows and bytes of a 50,019-row
// insert, so a padding row left behind fails it.
func presize(cols []column.Interface, values []store.Column) {
	for i, c := range cols {
		if i >= len(values) || c.Type() != "String" {
			continue
		}
		v, ok := values[i].Values.([]string)
		if !ok || len(v) < 1024 {
			continue
		}
		n := 0
		for _, s := range v {
			n += len(s)
		}
		if err := c.AppendRow(padding(n)); err != nil {
			continue // only an optimisation; Append reports real errors
		}
		c.Reset()
	}
}

// pad is a shared run of zero bytes: strings are immutable, so every
// presize slices the same one. It keeps the largest column's size.
var pad struct {
	sync.Mutex
	s string
}

func padding(n int) string {
	pad.Lock()
	defer pad.Unlock()
	if len(pad.s) < n {
		pad.s = strings.Repeat("\x00", max(n, 2*len(pad.s)))
	}
	return pad.s[:n]
}
