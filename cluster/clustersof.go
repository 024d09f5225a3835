package cluster

import (
	"context"
	"fmt"

	"github.com/tracerproject/tracer/store"
)

// clustersOfBatch bounds the addresses of one ClustersOf query.
const clustersOfBatch = store.KeysLimit

// ClustersOf returns the cluster of each address that is in one (addresses
// never linked to another are left out), in batched queries.
func (c *Clusters) ClustersOf(ctx context.Context, addresses []string) (map[string]uint32, error) {
	out := make(map[string]uint32, len(addresses))
	for start := 0; start < len(addresses); start += clustersOfBatch {
		part := addresses[start:min(start+clustersOfBatch, len(addresses))]
		// argMax by seq: each address's newest row, without FINAL.
		rows, err := c.conn.Query(ctx, "SELECT address, argMax(cluster, seq) FROM trace_btc_address_cluster WHERE address IN ? GROUP BY address", store.Keys(part))
		if err != nil {
			return nil, fmt.Errorf("cluster: clusters of %d addresses: %w", len(part), err)
		}
		for rows.Next() {
			var a string
			var id uint32
			if err := rows.Scan(&a, &id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("cluster: clusters of %d addresses: %w", len(part), err)
			}
			out[a] = id
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("cluster: clusters of %d addresses: %w", len(part), err)
		}
	}
	return out, nil
}
