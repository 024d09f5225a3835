package cluster_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tracerproject/tracer/cluster"
)

// IDSet against a map: membership, first-added order and reuse after
// Reset, with ids spread over a large range and repeated.
func TestIDSet(t *testing.T) {
	var s cluster.IDSet
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 5 {
		want := map[uint32]bool{}
		var order []uint32
		n := 1 + r.IntN(20_000)
		span := uint32(1 + r.IntN(1<<(10+3*round)))
		for range n {
			id := r.Uint32N(span)
			if !want[id] {
				want[id] = true
				order = append(order, id)
			}
			s.Add(id)
		}
		if s.Len() != len(want) || !slices.Equal(s.IDs(), order) {
			t.Fatalf("round %d: %d ids, want %d in first-added order", round, s.Len(), len(want))
		}
		for range 1000 {
			id := r.Uint32N(span + 100)
			if s.Has(id) != want[id] {
				t.Fatalf("round %d: Has(%d) = %v, want %v", round, id, s.Has(id), want[id])
			}
		}
		s.Reset()
		if s.Len() != 0 {
			t.Fatalf("round %d: %d ids after Reset", round, s.Len())
		}
		for id := range want {
			if s.Has(id) {
				t.Fatalf("round %d: %d still in the set after Reset", round, id)
			}
		}
	}
}
