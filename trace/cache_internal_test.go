package trace

import (
	"slices"
	"testing"
)

// TestCacheIndex: a transaction cached by a trace that did not read its
// position in the block is read again by a fifo trace, which orders by it;
// one cached with its position serves both.
func TestCacheIndex(t *testing.T) {
	c := NewCache()
	haircut := newGraph(nil)
	haircut.txs["a"] = &tx{txid: "a"}
	haircut.txs["gone"] = nil // not stored
	c.putTxs(haircut, []string{"a", "gone"})

	fifo := newGraph(nil)
	fifo.needIdx = true
	if rest := c.takeTxs(fifo, []string{"a", "gone"}); !slices.Equal(rest, []string{"a"}) {
		t.Fatalf("fifo after haircut: to read %q, want [a]", rest)
	}
	fifo.txs["a"] = &tx{txid: "a", idx: 7}
	c.putTxs(fifo, []string{"a"})

	again := newGraph(nil)
	again.needIdx = true
	if rest := c.takeTxs(again, []string{"a"}); len(rest) != 0 || again.txs["a"].idx != 7 {
		t.Fatalf("fifo after fifo: to read %q, idx %d; want nothing, 7", rest, again.txs["a"].idx)
	}
	// A later haircut trace does not replace the positioned copy.
	c.putTxs(haircut, []string{"a"})
	if rest := c.takeTxs(again, []string{"a"}); len(rest) != 0 {
		t.Fatalf("fifo after a later haircut put: to read %q, want nothing", rest)
	}
}
