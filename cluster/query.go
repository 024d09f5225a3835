package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/store"
)

// Sentinel errors.
var (
	// ErrNotClustered: the address was never linked to another one.
	ErrNotClustered = errors.New("cluster: address is in no multi-address cluster")
	// ErrNoCluster: no cluster has this id.
	ErrNoCluster = errors.New("cluster: no such cluster")
)

// Clusters reads the clusters the clusterer stored for one chain.
type Clusters struct {
	conn  store.Conn
	chain string
}

// NewClusters reads Bitcoin clusters through conn.
func NewClusters(conn store.Conn) *Clusters { return &Clusters{conn: conn, chain: chain.BTC} }

// NewChainClusters reads the clusters of chain (btc or eth) through conn.
func NewChainClusters(conn store.Conn, chainName string) (*Clusters, error) {
	if chainName != chain.BTC && chainName != chain.ETH {
		return nil, fmt.Errorf("cluster: no clusters of chain %q (btc or eth)", chainName)
	}
	return &Clusters{conn: conn, chain: chainName}, nil
}

// Chain is the chain whose clusters c reads.
func (c *Clusters) Chain() string { return c.chain }

// q names the chain's tables in query: {merges}, {held}, {address_cluster},
// {clusters}, {io} (the loader's address index), {edge} (the merge
// columns Edge scans).
func (c *Clusters) q(query string) string {
	io := "btc_address_io"
	edge := edgeColumns
	if c.chain == chain.ETH {
		io, edge = "eth_address_transfers", edgeColumns+", "+ethEdgeColumns
	}
	return strings.NewReplacer("{merges}", tableName(c.chain, "merges"), "{held}", tableName(c.chain, "held"),
		"{address_cluster}", tableName(c.chain, "address_cluster"), "{clusters}", tableName(c.chain, "clusters"),
		"{io}", io, "{edge}", edge).Replace(query)
}

// Cluster is one cluster's summary.
type Cluster struct {
	ID   uint32 `json:"id"`
	Size uint32 `json:"size"`
	// Height of the block that last changed the cluster.
	Height uint32 `json:"height"`
	// FirstSeen: height of the first block in which any member appears
	// (from the loader's address index; 0 when the chain is not stored).
	FirstSeen uint32 `json:"first_seen"`
	// FirstLinked: height of the earliest link among its merges.
	FirstLinked uint32 `json:"first_linked"`
	Merges      uint64 `json:"merges"`
}

// membersQuery is the current members of a cluster. address_cluster rows
// change as clusters merge; argMax by seq picks each address's newest row
// (a WHERE on cluster next to FINAL could be moved to PREWHERE, before the
// replacing merge, by ClickHouse 18.16).
const membersQuery = `SELECT address FROM (SELECT address, argMax(cluster, seq) AS c FROM {address_cluster} GROUP BY address) WHERE c = ?`

// ClusterOf returns the id of the cluster that holds address.
func (c *Clusters) ClusterOf(ctx context.Context, address string) (uint32, error) {
	rows, err := c.conn.Query(ctx, c.q("SELECT cluster FROM {address_cluster} FINAL WHERE address = ?"), address)
	if err != nil {
		return 0, fmt.Errorf("cluster: cluster of %s: %w", address, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("cluster: cluster of %s: %w", address, err)
		}
		return 0, fmt.Errorf("%w: %s", ErrNotClustered, address)
	}
	var id uint32
	if err := rows.Scan(&id); err != nil {
		return 0, fmt.Errorf("cluster: cluster of %s: %w", address, err)
	}
	return id, nil
}

// Cluster returns the summary of cluster id.
func (c *Clusters) Cluster(ctx context.Context, id uint32) (Cluster, error) {
	out := Cluster{ID: id}
	rows, err := c.conn.Query(ctx, c.q("SELECT size, block_height FROM {clusters} FINAL WHERE cluster = ?"), id)
	if err != nil {
		return out, fmt.Errorf("cluster: cluster %d: %w", id, err)
	}
	found := false
	for rows.Next() {
		if err := rows.Scan(&out.Size, &out.Height); err != nil {
			rows.Close()
			return out, fmt.Errorf("cluster: cluster %d: %w", id, err)
		}
		found = true
	}
	rows.Close()
	if !found || out.Size == 0 {
		return out, fmt.Errorf("%w: %d (absorbed into another cluster, or never formed)", ErrNoCluster, id)
	}
	rows, err = c.conn.Query(ctx, c.q("SELECT count(), min(block_height) FROM {merges} FINAL WHERE address_a IN ("+membersQuery+")"), id)
	if err != nil {
		return out, fmt.Errorf("cluster: merges of cluster %d: %w", id, err)
	}
	for rows.Next() {
		if err := rows.Scan(&out.Merges, &out.FirstLinked); err != nil {
			rows.Close()
			return out, fmt.Errorf("cluster: merges of cluster %d: %w", id, err)
		}
	}
	rows.Close()
	// eth_address_transfers has UInt64 heights.
	rows, err = c.conn.Query(ctx, c.q("SELECT count(), toUInt32(min(block_height)) FROM {io} FINAL WHERE address IN ("+membersQuery+")"), id)
	if err != nil {
		return out, fmt.Errorf("cluster: first seen of cluster %d: %w", id, err)
	}
	defer rows.Close()
	var n uint64
	for rows.Next() {
		if err := rows.Scan(&n, &out.FirstSeen); err != nil {
			return out, fmt.Errorf("cluster: first seen of cluster %d: %w", id, err)
		}
	}
	return out, rows.Err()
}

// Members returns up to limit members of cluster id in address order,
// starting at offset.
func (c *Clusters) Members(ctx context.Context, id uint32, offset, limit int) ([]string, error) {
	rows, err := c.conn.Query(ctx, c.q(membersQuery+" ORDER BY address LIMIT ?, ?"), id, offset, limit)
	if err != nil {
		return nil, fmt.Errorf("cluster: members of cluster %d: %w", id, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("cluster: members of cluster %d: %w", id, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Edge is one piece of merge evidence as stored.
type Edge struct {
	AddressA  string `json:"address_a"`
	AddressB  string `json:"address_b"`
	Txid      string `json:"txid"`
	Heuristic string `json:"heuristic"`
	Version   uint16 `json:"heuristic_version"`
	BlockHash string `json:"block_hash"`
	Height    uint32 `json:"block_height"`
	ClusterA  uint32 `json:"cluster_a"`
	ClusterB  uint32 `json:"cluster_b"`
	SizeA     uint32 `json:"size_a"`
	SizeB     uint32 `json:"size_b"`
	Seq       uint64 `json:"seq"`
	// Ethereum deposit-address reuse: Txid is the payment of AddressA
	// into the deposit address AddressB, SweepTxid the transaction that
	// forwarded it to the exchange wallet Exchange, at Height; PaidHeight
	// is the payment's height.
	SweepTxid  string `json:"sweep_txid,omitempty"`
	Exchange   string `json:"exchange,omitempty"`
	Asset      string `json:"asset,omitempty"`
	Rule       string `json:"rule,omitempty"`
	Confidence uint8  `json:"confidence,omitempty"`
	PaidHeight uint64 `json:"paid_height,omitempty"`
}

const (
	edgeColumns    = "address_a, address_b, txid, heuristic, heuristic_version, block_hash, block_height, cluster_a, cluster_b, size_a, size_b, seq"
	ethEdgeColumns = "sweep_txid, exchange, asset, rule, confidence, paid_height"
)

func (c *Clusters) scanEdges(rows store.Rows) ([]Edge, error) {
	defer rows.Close()
	var out []Edge
	for rows.Next() {
		var e Edge
		dst := []any{&e.AddressA, &e.AddressB, &e.Txid, &e.Heuristic, &e.Version, &e.BlockHash, &e.Height,
			&e.ClusterA, &e.ClusterB, &e.SizeA, &e.SizeB, &e.Seq}
		if c.chain == chain.ETH {
			dst = append(dst, &e.SweepTxid, &e.Exchange, &e.Asset, &e.Rule, &e.Confidence, &e.PaidHeight)
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Growth returns the merges that built cluster id, in the order they were
// applied (within one block, the sizes joined grow with each merge), at
// most limit.
func (c *Clusters) Growth(ctx context.Context, id uint32, limit int) ([]Edge, error) {
	rows, err := c.conn.Query(ctx, c.q("SELECT {edge} FROM {merges} FINAL WHERE address_a IN ("+membersQuery+") ORDER BY seq, size_a + size_b, txid LIMIT ?"), id, limit)
	if err != nil {
		return nil, fmt.Errorf("cluster: growth of cluster %d: %w", id, err)
	}
	e, err := c.scanEdges(rows)
	if err != nil {
		return nil, fmt.Errorf("cluster: growth of cluster %d: %w", id, err)
	}
	return e, nil
}

// Held returns the merges the supercluster guard held, at most limit.
func (c *Clusters) Held(ctx context.Context, limit int) ([]Edge, error) {
	rows, err := c.conn.Query(ctx, c.q("SELECT {edge} FROM {held} FINAL ORDER BY seq, txid LIMIT ?"), limit)
	if err != nil {
		return nil, fmt.Errorf("cluster: held merges: %w", err)
	}
	e, err := c.scanEdges(rows)
	if err != nil {
		return nil, fmt.Errorf("cluster: held merges: %w", err)
	}
	return e, nil
}

// ErrNotLinked says two addresses are in different clusters.
var ErrNotLinked = errors.New("cluster: addresses are not linked")

// Explain returns the shortest chain of merge evidence from a to b: each
// edge is a transaction in which a heuristic linked two addresses, the
// first edge touches a and the last b. It returns ErrNotLinked when the two
// are in different clusters.
func (c *Clusters) Explain(ctx context.Context, a, b string) ([]Edge, error) {
	if a == b {
		return nil, nil
	}
	ca, err := c.ClusterOf(ctx, a)
	if errors.Is(err, ErrNotClustered) {
		return nil, fmt.Errorf("%w: %s is in no cluster", ErrNotLinked, a)
	}
	if err != nil {
		return nil, err
	}
	cb, err := c.ClusterOf(ctx, b)
	if errors.Is(err, ErrNotClustered) {
		return nil, fmt.Errorf("%w: %s is in no cluster", ErrNotLinked, b)
	}
	if err != nil {
		return nil, err
	}
	if ca != cb {
		return nil, fmt.Errorf("%w: %s is in cluster %d, %s in cluster %d", ErrNotLinked, a, ca, b, cb)
	}
	// Breadth-first search over the evidence, one query per level.
	prev := map[string]Edge{a: {}}
	frontier := []string{a}
	for len(frontier) > 0 {
		// Keys: a level of a large cluster is more than a literal list holds.
		rows, err := c.conn.Query(ctx, c.q("SELECT {edge} FROM {merges} FINAL WHERE address_a IN ? OR address_b IN ?"), store.Keys(frontier), store.Keys(frontier))
		if err != nil {
			return nil, fmt.Errorf("cluster: explaining %s to %s: %w", a, b, err)
		}
		edges, err := c.scanEdges(rows)
		if err != nil {
			return nil, fmt.Errorf("cluster: explaining %s to %s: %w", a, b, err)
		}
		inFrontier := make(map[string]bool, len(frontier))
		for _, f := range frontier {
			inFrontier[f] = true
		}
		var next []string
		for _, e := range edges {
			for _, step := range [2][2]string{{e.AddressA, e.AddressB}, {e.AddressB, e.AddressA}} {
				from, to := step[0], step[1]
				if !inFrontier[from] {
					continue
				}
				if _, seen := prev[to]; seen {
					continue
				}
				prev[to] = e
				next = append(next, to)
			}
		}
		if _, ok := prev[b]; ok {
			var path []Edge
			for at := b; at != a; {
				e := prev[at]
				path = append(path, e)
				if e.AddressA == at {
					at = e.AddressB
				} else {
					at = e.AddressA
				}
			}
			for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
				path[i], path[j] = path[j], path[i]
			}
			return path, nil
		}
		frontier = next
	}
	return nil, fmt.Errorf("cluster: %s and %s are both in cluster %d but no evidence path joins them: the merge evidence is incomplete", a, b, ca)
}
