package cluster

import (
	"testing"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/simulate"
)

// Helpers for the end-to-end tests in package trace_test.

var SimConfig = simConfig

func SimChain(t testing.TB, blocks, txsPerBlock int, seed int64) ([]*chain.Block, *simulate.Truth) {
	return simChain(t, blocks, txsPerBlock, seed)
}

// ExpectedPartition clusters blocks in a state of its own and returns its
// multi-address clusters (see partition).
func ExpectedPartition(t testing.TB, blocks []*chain.Block) []string {
	t.Helper()
	s := openState(t, t.TempDir(), 0)
	defer s.Close()
	apply(t, s, 0, blocksOf(blocks))
	return partition(t, s)
}
