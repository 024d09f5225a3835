package trace

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/store"
)

// The index's propagation as a scan of the chain.
//
// Tracing from a category fetches, round by round, the rows of the
// outputs it reaches: a random read per key, fine for a few thousand
// outputs, hours for the millions a category like exchange reaches on a
// large chain. The scan computes the same taint graph in one pass over the
// chain in order (and one in reverse for upstream), reading it in ranges
// of blocks, every category at once. It gives what the category traces
// give: a transaction is met after every transaction whose outputs it
// spends, so the taint of its inputs is final when their taint passes on,
// which is the fixed point the rounds of a trace reach (an output's hop
// count is the least over what fed it, and a share beyond the hop limit is
// dropped whole, as there). A trace's MaxNodes and Timeout do not apply:
// the scan is complete.

// scanTaint is the taint one category holds in an output.
type scanTaint struct {
	taint int64
	// held (upstream, for an output of the category's own address, until
	// its creating transaction is met and says whether it is a seed): what
	// fed it, shared then.
	held *scanHeld
	cat  int
	hop  int
	seed bool
}

type scanHeld struct {
	addr  string
	feeds []scanFeed
}

type scanFeed struct {
	addr  string
	taint int64
	hop   int
}

type scanner struct {
	t        *Tracer
	ic       IndexConfig
	cats     []string
	catOf    map[string][]int // address → categories whose seed it is
	labelled func(a string) bool
	cluster  map[string]uint32
	acc      map[flowKey]*flowSum
	nodes    map[op][]scanTaint
	reached  uint64
	// spill stores acc's partial sums and empties it once it holds
	// spillAt rows: a subject's rows may be stored in parts, which readers
	// add up.
	spill   func(ctx context.Context, acc map[flowKey]*flowSum) error
	spillAt int
}

// maybeSpill stores acc when it has grown to spillAt rows.
func (s *scanner) maybeSpill(ctx context.Context) error {
	if len(s.acc) < s.spillAt {
		return nil
	}
	if err := s.spill(ctx, s.acc); err != nil {
		return err
	}
	s.acc = map[flowKey]*flowSum{}
	return nil
}

func (s *scanner) inWindow(t time.Time) bool {
	if !s.ic.Since.IsZero() && t.Before(s.ic.Since) {
		return false
	}
	if !s.ic.Until.IsZero() && t.After(s.ic.Until) {
		return false
	}
	return true
}

func (s *scanner) clusterOf(a string) uint32 { return s.cluster[a] }

func (s *scanner) clusterKey(a string) string {
	if c := s.cluster[a]; c != 0 {
		return "cluster:" + strconv.FormatUint(uint64(c), 10)
	}
	return a
}

func (s *scanner) isSeed(cat int, a string) bool { return slices.Contains(s.catOf[a], cat) }

// passes: the taint in an output at address a goes on.
func (s *scanner) passes(x *scanTaint, a string) bool { return x.seed || !s.labelled(a) }

// share adds to the subjects of the output at addr what each feed put in
// its taint.
func (s *scanner) share(cat int, to bool, addr string, taint int64, feeds []scanFeed) {
	var all int64
	for _, f := range feeds {
		all += f.taint
	}
	if all <= 0 {
		return
	}
	ck := s.clusterKey(addr)
	add := func(subject string, hop int, amt int64) {
		k := flowKey{subject, s.cats[cat], to}
		fs := s.acc[k]
		if fs == nil {
			fs = &flowSum{}
			s.acc[k] = fs
		}
		if hop <= 1 {
			fs.direct += amt
		} else {
			fs.indirect += amt
		}
	}
	for _, f := range feeds {
		hop, _ := StepHop(Feed{Address: f.addr, Hop: f.hop, Taint: f.taint}, addr, s.clusterOf)
		amt := Share(taint, f.taint, all)
		if f.addr != addr {
			add(addr, hop, amt)
		}
		if ck != addr && s.clusterKey(f.addr) != ck {
			add(ck, hop, amt)
		}
	}
}

// hopOf is the least hop count over feeds of an output at addr; false
// when no feed is within the hop limit.
func (s *scanner) hopOf(addr string, feeds []scanFeed) (int, bool) {
	hop, _, _ := LeastHop(len(feeds), func(i int) Feed {
		return Feed{Address: feeds[i].addr, Hop: feeds[i].hop, Taint: feeds[i].taint}
	}, addr, s.clusterOf)
	return hop, hop >= 0 && hop <= s.ic.Hops
}

// down spreads the taint of t's inputs to its outputs.
func (s *scanner) down(t *tx) {
	// Every output a category's address receives is that category's seed,
	// whenever it came (money received before Since may leave in the
	// window).
	for _, o := range t.outs {
		for _, c := range s.catOf[o.address] {
			k := op{t.txid, o.n}
			s.nodes[k] = append(s.nodes[k], scanTaint{cat: c, taint: o.value, seed: true})
		}
	}
	if !s.inWindow(t.time) || t.inVal <= 0 {
		for _, in := range t.ins {
			delete(s.nodes, in.prev)
		}
		return
	}
	feeds := map[int][]scanFeed{}
	var cats []int
	for _, in := range t.ins {
		xs, ok := s.nodes[in.prev]
		if !ok {
			continue
		}
		for i := range xs {
			x := &xs[i]
			if x.taint <= 0 || !s.passes(x, in.address) {
				continue
			}
			if _, ok := feeds[x.cat]; !ok {
				cats = append(cats, x.cat)
			}
			feeds[x.cat] = append(feeds[x.cat], scanFeed{in.address, x.taint, x.hop})
		}
		delete(s.nodes, in.prev) // spent: nothing else reads it
	}
	slices.Sort(cats)
	for _, c := range cats {
		fs := feeds[c]
		var T int64
		for _, f := range fs {
			T += f.taint
		}
		for _, o := range t.outs {
			taint := StepTaint(Haircut, o.value, T, t.inVal)
			if taint <= 0 || s.isSeed(c, o.address) {
				continue
			}
			hop, ok := s.hopOf(o.address, fs)
			if !ok || !Followed(taint, s.ic.MinValue) {
				continue
			}
			k := op{t.txid, o.n}
			s.nodes[k] = append(s.nodes[k], scanTaint{cat: c, taint: taint, hop: hop})
			s.reached++
			s.share(c, false, o.address, taint, fs)
		}
	}
}

// up passes the taint of t's outputs back to the outputs its inputs spend.
func (s *scanner) up(t *tx) {
	inWin := s.inWindow(t.time)
	feeds := map[int][]scanFeed{}
	var cats []int
	for _, o := range t.outs {
		k := op{t.txid, o.n}
		xs := s.nodes[k]
		// What a category's address received in the window is its seed; a
		// taint found for it from a later spend gives way.
		if inWin {
			for _, c := range s.catOf[o.address] {
				xs = slices.DeleteFunc(xs, func(x scanTaint) bool { return x.cat == c })
				xs = append(xs, scanTaint{cat: c, taint: o.value, seed: true})
			}
		}
		for i := range xs {
			x := &xs[i]
			if !x.seed && x.held != nil {
				s.share(x.cat, true, o.address, x.taint, x.held.feeds)
				x.held = nil
			}
			if !inWin || x.taint <= 0 || !s.passes(x, o.address) {
				continue
			}
			if _, ok := feeds[x.cat]; !ok {
				cats = append(cats, x.cat)
			}
			feeds[x.cat] = append(feeds[x.cat], scanFeed{o.address, x.taint, x.hop})
		}
		delete(s.nodes, k) // created here: nothing earlier reads it
	}
	if !inWin || t.inVal <= 0 {
		return
	}
	slices.Sort(cats)
	for _, c := range cats {
		fs := feeds[c]
		var T int64
		for _, f := range fs {
			T += f.taint
		}
		for _, in := range t.ins {
			if in.coinbase {
				continue
			}
			taint := StepTaint(Haircut, in.value, T, t.inVal)
			if taint <= 0 {
				continue
			}
			hop, ok := s.hopOf(in.address, fs)
			if !ok || !Followed(taint, s.ic.MinValue) {
				continue
			}
			x := scanTaint{cat: c, taint: taint, hop: hop}
			if s.isSeed(c, in.address) {
				// The category's own output: a seed if its creating
				// transaction is in the window, which only meeting it
				// tells; what the feeds put in it is shared then.
				x.held = &scanHeld{in.address, fs}
			} else {
				// No seed can take its place: share now, and keep no
				// feeds (they would hold every transaction's feeds until
				// the scan meets the outputs it spends).
				s.share(c, true, in.address, taint, fs)
			}
			s.nodes[in.prev] = append(s.nodes[in.prev], x)
			s.reached++
		}
	}
}

// finish shares what upstream reached in outputs whose creating
// transaction the store lacks.
func (s *scanner) finish() {
	for k, xs := range s.nodes {
		for _, x := range xs {
			if !x.seed && x.held != nil {
				s.share(x.cat, true, x.held.addr, x.taint, x.held.feeds)
			}
		}
		delete(s.nodes, k)
	}
}

// scanRanges splits the chain into ranges of blocks of about perRange
// transactions: [lo, hi) heights.
func (t *Tracer) scanRanges(ctx context.Context, perRange int) ([][2]uint32, error) {
	rows, err := t.conn.Query(ctx, "SELECT block_height, count() FROM btc_txs GROUP BY block_height ORDER BY block_height")
	if err != nil {
		return nil, fmt.Errorf("trace: counting transactions per block: %w", err)
	}
	defer rows.Close()
	var out [][2]uint32
	var n uint64
	for rows.Next() {
		var h uint32
		var c uint64
		if err := rows.Scan(&h, &c); err != nil {
			return nil, fmt.Errorf("trace: counting transactions per block: %w", err)
		}
		if len(out) == 0 || n >= uint64(perRange) {
			out = append(out, [2]uint32{h, h + 1})
			n = 0
		}
		out[len(out)-1][1] = h + 1
		n += c
	}
	return out, rows.Err()
}

// readRange reads the transactions of heights [lo, hi) with their inputs
// and outputs, in chain order (height, position in the block).
func (t *Tracer) readRange(ctx context.Context, lo, hi uint32) ([]*tx, error) {
	got := map[string]*tx{}
	blocks := fmt.Sprintf("blocks %d-%d", lo, hi-1)
	err := queryRows(ctx, t.conn, blocks, func(rows store.Rows) error {
		x := &tx{}
		if err := rows.Scan(&x.txid, &x.height, &x.idx, &x.time); err != nil {
			return err
		}
		got[x.txid] = x
		return nil
	}, "SELECT txid, block_height, idx, time FROM btc_txs WHERE block_height >= ? AND block_height < ?", lo, hi)
	if err != nil {
		return nil, err
	}
	err = queryRows(ctx, t.conn, "outputs of "+blocks, func(rows store.Rows) error {
		var id string
		var o txOut
		if err := rows.Scan(&id, &o.n, &o.address, &o.value); err != nil {
			return err
		}
		if x := got[id]; x != nil {
			x.outs = append(x.outs, o)
		}
		return nil
	}, "SELECT txid, n, address, value FROM btc_outputs WHERE block_height >= ? AND block_height < ?", lo, hi)
	if err != nil {
		return nil, err
	}
	err = queryRows(ctx, t.conn, "inputs of "+blocks, scanInputs(got),
		"SELECT "+inputColumns+" FROM btc_inputs WHERE block_height >= ? AND block_height < ?", lo, hi)
	if err != nil {
		return nil, err
	}
	out := make([]*tx, 0, len(got))
	for _, x := range got {
		x.settle()
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b *tx) int {
		if c := cmp.Compare(a.height, b.height); c != 0 {
			return c
		}
		return cmp.Compare(a.idx, b.idx)
	})
	return out, nil
}

// allClusters reads the cluster of every clustered address.
func (t *Tracer) allClusters(ctx context.Context) (map[string]uint32, error) {
	rows, err := t.conn.Query(ctx, "SELECT address, argMax(cluster, seq) FROM trace_btc_address_cluster GROUP BY address")
	if err != nil {
		return nil, fmt.Errorf("trace: reading clusters: %w", err)
	}
	defer rows.Close()
	out := map[string]uint32{}
	for rows.Next() {
		var a string
		var c uint32
		if err := rows.Scan(&a, &c); err != nil {
			return nil, fmt.Errorf("trace: reading clusters: %w", err)
		}
		if c != 0 {
			out[a] = c
		}
	}
	return out, rows.Err()
}

// spillRows bounds the index rows a build holds in memory before storing
// them (a few hundred bytes each). A variable for the tests.
var spillRows = 2_000_000

// scanIndex computes the index's rows for the categories' sources by
// scanning the chain forward (received exposure) and backward (sent),
// storing them with spill as they accumulate; it returns the tainted
// outputs reached.
func (t *Tracer) scanIndex(ctx context.Context, ic IndexConfig, cats []string, src map[string][]string, spill func(context.Context, map[flowKey]*flowSum) error) (uint64, error) {
	s := &scanner{t: t, ic: ic, cats: cats, catOf: map[string][]int{}, acc: map[flowKey]*flowSum{}, nodes: map[op][]scanTaint{},
		spill: spill, spillAt: spillRows}
	for i, c := range cats {
		for _, a := range src[c] {
			if !slices.Contains(s.catOf[a], i) {
				s.catOf[a] = append(s.catOf[a], i)
			}
		}
	}
	// Labels as a trace reads them (every labelled address and cluster ends
	// a path).
	r := &run{cfg: Config{Chain: chain.BTC}, t: t, labels: map[string][]Label{}}
	if err := r.loadLabels(ctx, true); err != nil {
		return 0, err
	}
	var err error
	if s.cluster, err = t.allClusters(ctx); err != nil {
		return 0, err
	}
	s.labelled = func(a string) bool {
		if len(r.labels[a]) > 0 {
			return true
		}
		c := s.cluster[a]
		return c != 0 && len(r.clLabels[c]) > 0
	}
	// A range costs a read of the whole tables (their rows are in txid
	// order, a range's rows in every granule): few large ranges.
	ranges, err := t.scanRanges(ctx, 2_000_000)
	if err != nil {
		return 0, err
	}
	for _, rg := range ranges {
		txs, err := t.readRange(ctx, rg[0], rg[1])
		if err != nil {
			return 0, err
		}
		for _, x := range txs {
			s.down(x)
			if err := s.maybeSpill(ctx); err != nil {
				return 0, err
			}
		}
	}
	clear(s.nodes)
	for i := len(ranges) - 1; i >= 0; i-- {
		txs, err := t.readRange(ctx, ranges[i][0], ranges[i][1])
		if err != nil {
			return 0, err
		}
		for j := len(txs) - 1; j >= 0; j-- {
			s.up(txs[j])
			if err := s.maybeSpill(ctx); err != nil {
				return 0, err
			}
		}
	}
	s.finish()
	if err := s.spill(ctx, s.acc); err != nil {
		return 0, err
	}
	return s.reached, nil
}
