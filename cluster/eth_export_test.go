package cluster

import (
	"testing"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster/heuristic"
	"github.com/tracerproject/tracer/simulate/ethsim"
)

// Helpers for the Ethereum end-to-end tests in package trace_test.

func ETHWorld(t testing.TB, blocks, customers int, seed int64) ([]*chain.Block, *ethsim.Truth, string) {
	return ethWorld(t, blocks, customers, seed)
}

func ETHHeuristics(truth *ethsim.Truth) heuristic.Config { return ethHeuristics(truth) }

// ExpectedETHPartition clusters Ethereum blocks in a state of its own.
func ExpectedETHPartition(t testing.TB, h heuristic.Config, blocks []*chain.Block) []string {
	t.Helper()
	s := openETHState(t, t.TempDir(), h)
	defer s.Close()
	apply(t, s, 0, blocksOf(blocks))
	return partition(t, s)
}
