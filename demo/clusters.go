package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/store"
)

// clusters prints the planted brokers' clusters and returns one to
// explore; off (clustering disabled) prints nothing.
func clusters(ctx context.Context, w io.Writer, st *store.Store, truth *simulate.Truth, off bool) (example string, err error) {
	if off {
		return "", nil // cluster.enabled is false
	}
	c := cluster.NewClusters(st.Conn())
	fmt.Fprintf(w, "\n5. The brokers' clusters (multi-input heuristic, CoinJoins excluded)\n")
	t := newTable(w)
	row(t, "  broker", "cluster", "size", "broker's addresses in it", "other owners' addresses", "merges")
	owners := truth.Owners()
	for _, e := range truth.EntitiesOf(simulate.KindBroker) {
		best, bestN := uint32(0), 0
		counts := map[uint32]int{}
		for _, addr := range e.Addresses {
			id, err := c.ClusterOf(ctx, addr)
			if errors.Is(err, cluster.ErrNotClustered) {
				continue
			}
			if err != nil {
				return "", err
			}
			counts[id]++
			if counts[id] > bestN {
				best, bestN = id, counts[id]
			}
		}
		if bestN == 0 {
			row(t, "  "+e.Name, "-", 1, fmt.Sprintf("0 of %d", len(e.Addresses)), 0, 0)
			continue
		}
		sum, err := c.Cluster(ctx, best)
		if err != nil {
			return "", err
		}
		members, err := c.Members(ctx, best, 0, int(sum.Size))
		if err != nil {
			return "", err
		}
		others := 0
		for _, m := range members {
			if owners[m] != e.ID {
				others++
			}
		}
		if example == "" {
			example = strconv.FormatUint(uint64(best), 10)
		}
		row(t, "  "+e.Name, best, sum.Size, fmt.Sprintf("%d of %d", bestN, len(e.Addresses)), others, sum.Merges)
	}
	return example, t.Flush()
}
