package trace

import "sync"

// Cache shares what traces read from the store between the traces of one
// batch, such as the traces of a report over every cluster: a trace reuses
// the transactions, address rows, spends and clusters that another trace of the
// batch has read instead of asking the store again. Traces that share a
// cache may run at the same time.
//
// A cache does not watch the store: it is a snapshot for one batch, not
// for a long-lived tracer. Each trace still keeps its own graph; the cache
// only answers its reads.
type Cache struct {
	mu      sync.Mutex
	txs     map[string]*tx // nil: not stored
	idx     map[string]bool
	io      map[string][]ioRow
	spends  map[string][]spendRow
	cluster map[string]uint32 // 0: in no cluster
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{txs: map[string]*tx{}, idx: map[string]bool{}, io: map[string][]ioRow{}, spends: map[string][]spendRow{}, cluster: map[string]uint32{}}
}

// WithCache returns a tracer over the same store and labels whose traces
// share c.
func (t *Tracer) WithCache(c *Cache) *Tracer {
	t.lmu.Lock()
	defer t.lmu.Unlock()
	return &Tracer{conn: t.conn, labels: t.labels, acl: t.acl, btcLabels: t.btcLabels, cache: c}
}

// Clusters returns the clusters of the addresses that traces of the batch
// have looked up (0: in no cluster), and the addresses they have not.
func (c *Cache) Clusters(addrs []string) (known map[string]uint32, missing []string) {
	known = make(map[string]uint32, len(addrs))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range addrs {
		if id, ok := c.cluster[a]; ok {
			known[a] = id
		} else {
			missing = append(missing, a)
		}
	}
	return known, missing
}

// The methods below fill a trace's graph from the cache and the cache from
// what the trace read; nil caches answer nothing and keep nothing.

// takeCached moves the cached entries of need from c's map into the graph's and
// returns the keys still to read.
func takeCached[V any](c *Cache, cached, into map[string]V, need []string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	rest := need[:0]
	for _, k := range need {
		if v, ok := cached[k]; ok {
			into[k] = v
		} else {
			rest = append(rest, k)
		}
	}
	return rest
}

// putCached copies what the graph read for keys into c's map.
func putCached[V any](c *Cache, read, cached map[string]V, keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		cached[k] = read[k]
	}
}

func (c *Cache) takeIO(g *graph, need []string) []string {
	if c == nil {
		return need
	}
	return takeCached(c, c.io, g.io, need)
}

func (c *Cache) putIO(g *graph, addrs []string) {
	if c != nil {
		putCached(c, g.io, c.io, addrs)
	}
}

func (c *Cache) takeSpends(g *graph, need []string) []string {
	if c == nil {
		return need
	}
	return takeCached(c, c.spends, g.spends, need)
}

func (c *Cache) putSpends(g *graph, txids []string) {
	if c != nil {
		putCached(c, g.spends, c.spends, txids)
	}
}

func (c *Cache) takeClusters(g *graph, need []string) []string {
	if c == nil {
		return need
	}
	return takeCached(c, c.cluster, g.cluster, need)
}

func (c *Cache) putClusters(g *graph, addrs []string) {
	if c != nil {
		putCached(c, g.cluster, c.cluster, addrs)
	}
}

// takeTxs moves the cached transactions of need into g (with their
// position in the block when g needs it) and returns the rest.
func (c *Cache) takeTxs(g *graph, need []string) []string {
	if c == nil {
		return need
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rest := need[:0]
	for _, id := range need {
		if t, ok := c.txs[id]; ok && (!g.needIdx || t == nil || c.idx[id]) {
			g.txs[id] = t
		} else {
			rest = append(rest, id)
		}
	}
	return rest
}

func (c *Cache) putTxs(g *graph, ids []string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if c.idx[id] {
			continue // already there, with more
		}
		c.txs[id] = g.txs[id]
		c.idx[id] = g.needIdx
	}
}
