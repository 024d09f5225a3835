package trace

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/tracerproject/tracer/store"
)

// chunk bounds the key sets of one query (sent as store.Keys).
const chunk = store.KeysLimit

// op is an output: txid and index.
type op struct {
	txid string
	n    uint32
}

func (o op) String() string { return fmt.Sprintf("%s:%d", o.txid, o.n) }

type txIn struct {
	n        uint32
	prev     op
	coinbase bool
	address  string
	value    int64
}

type txOut struct {
	n       uint32
	address string
	value   int64
}

// tx is a stored transaction with its inputs and outputs in index order.
type tx struct {
	txid   string
	height uint32
	idx    uint32
	time   time.Time
	ins    []txIn
	outs   []txOut
	inVal  int64
	outVal int64
}

// ioRow is a row of btc_address_io: an output received (input false) or
// an input spent by the address.
type ioRow struct {
	txid   string
	input  bool
	n      uint32
	height uint32
	time   time.Time
	value  int64
}

type ioKey struct {
	address, txid string
	input         bool
	n             uint32
}

// spendRow is a row of btc_spends: output prevN of a transaction is
// spent by transaction txid.
type spendRow struct {
	prevN uint32
	txid  string
}

// graph reads the UTXO graph from the store and caches what it read.
type graph struct {
	conn    store.Conn
	needIdx bool // fifo orders transactions within a block
	txs     map[string]*tx
	io      map[string][]ioRow
	spends  map[string][]spendRow // by the spent outputs' txid
	filter  string                // PREWHERE or WHERE (store.KeyFilter)
	cluster map[string]uint32
	queries int
	shared  *Cache // nil: none
}

// clusterOf is the cluster of an address read so far, 0 for none.
func (g *graph) clusterOf(a string) uint32 { return g.cluster[a] }

func newGraph(conn store.Conn) *graph {
	g := &graph{conn: conn, filter: "WHERE", txs: map[string]*tx{}, io: map[string][]ioRow{}, spends: map[string][]spendRow{}, cluster: map[string]uint32{}}
	if conn != nil { // nil: a graph the tests fill by hand, which reads nothing
		g.filter = store.KeyFilter(conn)
	}
	return g
}

// set is the right-hand side of `col IN ?` for keys: sent as data. The
// keyed reads below filter with g.filter (store.KeyFilter): PREWHERE or
// WHERE, whichever reads less on the engine.
func set(ss []string) store.Keys { return store.Keys(ss) }

// each runs f on chunks of keys.
func each(keys []string, f func([]string) error) error {
	for i := 0; i < len(keys); i += chunk {
		if err := f(keys[i:min(i+chunk, len(keys))]); err != nil {
			return err
		}
	}
	return nil
}

// unread is keys without an entry in read, each once, in order.
func unread[V any](keys []string, read map[string]V) []string {
	var need []string
	seen := map[string]bool{}
	for _, k := range keys {
		if _, ok := read[k]; !ok && !seen[k] {
			seen[k] = true
			need = append(need, k)
		}
	}
	return need
}

// loadIO reads the address index of addresses not read yet.
func (g *graph) loadIO(ctx context.Context, addrs []string) error {
	need := unread(addrs, g.io)
	need = g.shared.takeIO(g, need)
	err := each(need, func(part []string) error {
		g.queries++
		// Without FINAL, which costs ClickHouse 18.16 a merge on every read:
		// a row inserted twice (a loader retry) is dropped here by its key.
		rows, err := g.conn.Query(ctx, "SELECT address, txid, is_input, n, block_height, time, value FROM btc_address_io "+g.filter+" address IN ?", set(part))
		if err != nil {
			return fmt.Errorf("trace: reading address index: %w", err)
		}
		defer rows.Close()
		for _, a := range part {
			g.io[a] = nil
		}
		seen := map[ioKey]bool{}
		for rows.Next() {
			var a string
			var r ioRow
			var in uint8
			if err := rows.Scan(&a, &r.txid, &in, &r.n, &r.height, &r.time, &r.value); err != nil {
				return fmt.Errorf("trace: reading address index: %w", err)
			}
			r.input = in == 1
			k := ioKey{a, r.txid, r.input, r.n}
			if seen[k] {
				continue
			}
			seen[k] = true
			g.io[a] = append(g.io[a], r)
		}
		return rows.Err()
	})
	if err == nil {
		g.shared.putIO(g, need)
	}
	return err
}

// loadSpends reads, from the spend index, which transactions spend the
// outputs of the transactions txids (those not read yet).
func (g *graph) loadSpends(ctx context.Context, txids []string) error {
	need := unread(txids, g.spends)
	need = g.shared.takeSpends(g, need)
	err := each(need, func(part []string) error {
		g.queries++
		for _, id := range part {
			g.spends[id] = nil
		}
		// Without FINAL (see loadIO): a repeated row is dropped here.
		seen := map[string]bool{}
		return queryRows(ctx, g.conn, "spend index", func(rows store.Rows) error {
			var prev string
			var s spendRow
			if err := rows.Scan(&prev, &s.prevN, &s.txid); err != nil {
				return err
			}
			if k := prev + ":" + strconv.FormatUint(uint64(s.prevN), 10) + ":" + s.txid; !seen[k] {
				seen[k] = true
				g.spends[prev] = append(g.spends[prev], s)
			}
			return nil
		}, "SELECT prev_txid, prev_n, txid FROM btc_spends "+g.filter+" prev_txid IN ?", set(part))
	})
	if err == nil {
		g.shared.putSpends(g, need)
	}
	return err
}

// spenders are the transactions that spend the output o, once spends
// has read o's transaction (one, or several while a reorg's undo is
// pending).
func (g *graph) spenders(o op) []string {
	var out []string
	for _, s := range g.spends[o.txid] {
		if s.prevN == o.n {
			out = append(out, s.txid)
		}
	}
	return out
}

// loadTxs reads the transactions not read yet, with inputs and outputs.
func (g *graph) loadTxs(ctx context.Context, ids []string) error {
	need := unread(ids, g.txs)
	need = g.shared.takeTxs(g, need)
	err := each(need, func(part []string) error {
		g.queries += 2
		got := map[string]*tx{}
		// Height and time come with the outputs (every transaction has
		// one); the position in the block only fifo needs.
		err := queryRows(ctx, g.conn, "outputs", func(rows store.Rows) error {
			var id string
			var o txOut
			var h uint32
			var tm time.Time
			if err := rows.Scan(&id, &o.n, &o.address, &o.value, &h, &tm); err != nil {
				return err
			}
			t := got[id]
			if t == nil {
				t = &tx{txid: id, height: h, time: tm}
				got[id] = t
			}
			t.outs = append(t.outs, o)
			return nil
		}, "SELECT txid, n, address, value, block_height, time FROM btc_outputs "+g.filter+" txid IN ?", set(part))
		if err != nil {
			return err
		}
		if g.needIdx {
			g.queries++
			err := queryRows(ctx, g.conn, "transactions", func(rows store.Rows) error {
				var id string
				var idx uint32
				if err := rows.Scan(&id, &idx); err != nil {
					return err
				}
				if t := got[id]; t != nil {
					t.idx = idx
				}
				return nil
			}, "SELECT txid, idx FROM btc_txs FINAL "+g.filter+" txid IN ?", set(part))
			if err != nil {
				return err
			}
		}
		if err := queryRows(ctx, g.conn, "inputs", scanInputs(got), "SELECT "+inputColumns+" FROM btc_inputs "+g.filter+" txid IN ?", set(part)); err != nil {
			return err
		}
		for _, id := range part {
			if t := got[id]; t != nil {
				t.settle()
			}
			g.txs[id] = got[id] // nil: not stored
		}
		return nil
	})
	if err == nil {
		g.shared.putTxs(g, need)
	}
	return err
}

// loadClusters reads the cluster of addresses not read yet (0: none).
func (g *graph) loadClusters(ctx context.Context, addrs []string) error {
	var need []string
	for _, a := range addrs {
		if _, ok := g.cluster[a]; !ok {
			g.cluster[a] = 0
			need = append(need, a)
		}
	}
	need = g.shared.takeClusters(g, need)
	err := each(need, func(part []string) error {
		g.queries++
		// argMax by seq: an address's row changes as its cluster merges.
		rows, err := g.conn.Query(ctx, "SELECT address, argMax(cluster, seq) FROM trace_btc_address_cluster "+g.filter+" address IN ? GROUP BY address", set(part))
		if err != nil {
			return fmt.Errorf("trace: reading clusters: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var a string
			var c uint32
			if err := rows.Scan(&a, &c); err != nil {
				return fmt.Errorf("trace: reading clusters: %w", err)
			}
			g.cluster[a] = c
		}
		return rows.Err()
	})
	if err == nil {
		g.shared.putClusters(g, need)
	}
	return err
}

// evidence is the merge evidence the clusterer stored for transactions,
// by txid: "heuristic vN (a~b)". A link a transaction draws joins two of
// its own addresses, so its merge rows have address_a among the
// addresses of the transaction: the query names them, which reads the
// table by its sorting key (address_a, ...) instead of scanning it for
// the txids (seconds on a large store). Without FINAL, like every read of
// the tracer (ClickHouse 18.16 merges on every FINAL read): a row stored
// twice sorts next to itself and the first row per txid is taken.
func (g *graph) evidence(ctx context.Context, txids []string) (map[string]string, error) {
	out := map[string]string{}
	var ids, addrs []string
	seen := map[string]bool{}
	flush := func() error {
		if len(ids) == 0 {
			return nil
		}
		g.queries++
		rows, err := g.conn.Query(ctx, "SELECT txid, heuristic, heuristic_version, address_a, address_b FROM trace_btc_merges WHERE address_a IN ? AND txid IN ? ORDER BY txid, heuristic, address_a, address_b, heuristic_version", set(addrs), set(ids))
		if err != nil {
			return fmt.Errorf("trace: reading merge evidence: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, h, a, b string
			var v uint16
			if err := rows.Scan(&id, &h, &v, &a, &b); err != nil {
				return fmt.Errorf("trace: reading merge evidence: %w", err)
			}
			if _, ok := out[id]; !ok {
				out[id] = fmt.Sprintf("%s v%d (%s ~ %s)", h, v, a, b)
			}
		}
		ids, addrs, seen = ids[:0], addrs[:0], map[string]bool{}
		return rows.Err()
	}
	for _, id := range txids {
		t := g.txs[id]
		if t == nil {
			continue // not stored: no evidence either
		}
		var mine []string
		for _, in := range t.ins {
			mine = append(mine, in.address)
		}
		for _, o := range t.outs {
			mine = append(mine, o.address)
		}
		if len(ids)+len(addrs)+1+len(mine) > chunk {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		ids = append(ids, id)
		for _, a := range mine {
			if a != "" && !seen[a] {
				seen[a] = true
				addrs = append(addrs, a)
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// queryRows runs query and calls scan on each row; an error names what
// was being read.
func queryRows(ctx context.Context, conn store.Conn, what string, scan func(store.Rows) error, query string, args ...any) error {
	rows, err := conn.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("trace: reading %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("trace: reading %s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("trace: reading %s: %w", what, err)
	}
	return nil
}

// inputColumns are what scanInputs reads of btc_inputs.
const inputColumns = "txid, n, prev_txid, prev_n, coinbase, address, value"

// scanInputs adds each row of inputColumns to its transaction in got.
func scanInputs(got map[string]*tx) func(store.Rows) error {
	return func(rows store.Rows) error {
		var id string
		var in txIn
		var cb uint8
		if err := rows.Scan(&id, &in.n, &in.prev.txid, &in.prev.n, &cb, &in.address, &in.value); err != nil {
			return err
		}
		in.coinbase = cb == 1
		if t := got[id]; t != nil {
			t.ins = append(t.ins, in)
		}
		return nil
	}
}

// settle puts a read transaction's inputs and outputs in index order (fifo
// lays them out in it), counts a row inserted twice once, and sums them.
func (t *tx) settle() {
	slices.SortFunc(t.ins, func(a, b txIn) int { return cmp.Compare(a.n, b.n) })
	slices.SortFunc(t.outs, func(a, b txOut) int { return cmp.Compare(a.n, b.n) })
	t.ins = slices.CompactFunc(t.ins, func(a, b txIn) bool { return a.n == b.n })
	t.outs = slices.CompactFunc(t.outs, func(a, b txOut) bool { return a.n == b.n })
	t.inVal, t.outVal = 0, 0
	for _, in := range t.ins {
		t.inVal += in.value
	}
	for _, o := range t.outs {
		t.outVal += o.value
	}
}
