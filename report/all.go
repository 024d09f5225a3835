package report

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/trace"
)

// Every cluster at once.
//
// Build traces from each subject, a few traces per subject: right for a
// watch list of tens, hours for a hundred thousand clusters. BuildAll turns
// the question around: it traces from each label category instead, one
// trace downstream (where the category's money went: the received
// exposure of everyone it reached) and one upstream (where it came from:
// the sent exposure of everyone who paid into it), and sums what each
// cluster's addresses hold of it. The cost is that of the traces, whatever
// the number of clusters.
//
// Under haircut the two agree: the share of a subject's output that a
// category's output holds is the product of value/input-value along the
// path, read from either end (up to the rounding of each step, which is
// down in both). Every labelled address ends a path as in Build. Poison
// does not agree (it gives whole values at the far end), so BuildAll is
// haircut only.

// Source is a labelled address, a seed of BuildAll.
type Source struct {
	Address, Entity string
}

// Sources are the labelled addresses by category.
type Sources map[string][]Source

// ClusterLookup returns the cluster of each address that has one.
type ClusterLookup func(ctx context.Context, addrs []string) (map[string]uint32, error)

// AllConfig says what BuildAll reports.
type AllConfig struct {
	Config
	// MinExposure: subjects whose exposure (all categories, both ways) is
	// below it are left out; 0 keeps every subject reached.
	MinExposure int64
	// Only, when set, restricts the subjects to these keys (cluster:ID or
	// an unclustered address): a watch list too large for Build.
	Only map[string]bool
}

// reached is a tainted output of a trace, read back from its steps.
type reached struct {
	op, addr, parent, txid string
	from                   string // the address of the parent output
	time                   time.Time
	taint                  int64
	hop                    int
	clusterStep            bool
	// parents: every tainted output that fed it.
	parents []feed
}

type feed struct {
	op          string
	clusterStep bool
}

// reachedOf rebuilds the tainted outputs of a trace and their hop counts
// from its steps, and the seeds (outputs of the start set) they came from.
func reachedOf(res *trace.Result) (map[string]*reached, map[string]string) {
	nodes := map[string]*reached{}
	var steps []*reached
	for _, h := range res.Steps {
		addr, from := h.To, h.From
		if res.Direction == trace.Up {
			addr, from = h.From, h.To
		}
		s := &reached{op: h.Output, addr: addr, from: from, parent: h.Input, txid: h.Txid, taint: h.Amount, hop: -1, clusterStep: h.ClusterStep}
		steps = append(steps, s)
		n := nodes[h.Output]
		if n == nil {
			n = &reached{op: h.Output, addr: addr, taint: h.Amount, hop: -1, time: h.Time}
			nodes[h.Output] = n
		}
		n.parents = append(n.parents, feed{h.Input, h.ClusterStep})
	}
	seeds := map[string]string{}
	for _, h := range res.Steps {
		if _, ok := nodes[h.Input]; !ok {
			a := h.From
			if res.Direction == trace.Up {
				a = h.To
			}
			seeds[h.Input] = a
		}
	}
	hopOf := func(op string) int {
		if _, ok := seeds[op]; ok {
			return 0
		}
		if n := nodes[op]; n != nil {
			return n.hop
		}
		return -1
	}
	// Relax until stable: hops are few, so are the passes.
	for changed := true; changed; {
		changed = false
		for _, s := range steps {
			ph := hopOf(s.parent)
			if ph < 0 {
				continue
			}
			h := trace.NextHop(ph, s.clusterStep)
			n := nodes[s.op]
			if n.hop < 0 || h < n.hop {
				n.hop, n.parent, n.txid, n.clusterStep, n.from = h, s.parent, s.txid, s.clusterStep, s.from
				changed = true
			}
		}
	}
	return nodes, seeds
}

// BuildAll computes the exposure of every cluster (and unclustered
// address) that a labelled category's money reached, or that paid into
// one, within the hops and period of cfg.
func BuildAll(ctx context.Context, conn store.Conn, tr *trace.Tracer, src Sources, clusters ClusterLookup, cfg AllConfig, prev *Report, now time.Time) (*Report, error) {
	cfg.Watch = []string{"all"}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Model != trace.Haircut {
		return nil, fmt.Errorf("%w: a report over every cluster traces from the categories, which only haircut allows (model %q)", ErrConfig, cfg.Model)
	}
	tc := cfg.taint(cfg.Since, cfg.Until)
	tc.Direction = trace.Both
	rep := &Report{Format: Format, Name: cfg.Name, Generated: now.UTC(), Since: cfg.Since.UTC(), Until: cfg.Until.UTC(),
		Params: tc.Params() + " subjects=every-cluster", Subjects: []Subject{}}
	if prev != nil {
		g := prev.Generated
		rep.Previous = &g
	}
	cats := make([]string, 0, len(src))
	for c := range src {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	// The traces share what they read: they cross the same transactions
	// and clusters, and the subjects' clusters are those the traces read.
	cache := trace.NewCache()
	tr = tr.WithCache(cache)
	// They reach much of the chain: one read of every label costs less
	// than reading the labels of what they reach.
	if err := tr.LoadLabels(ctx, tc.LabelsAsOf); err != nil {
		return nil, err
	}
	a := &allRun{cache: cache, conn: conn, tr: tr, src: src, clusters: clusters, cfg: cfg, subjects: map[string]*Subject{}, members: map[string]map[string]bool{},
		clusterOf: map[string]string{}, candidates: map[string][]candidate{}}
	// One trace per category and direction over the whole period; the chart
	// puts each share in the period of the transaction that moved it into
	// (or, upstream, out of) the subject, so the chart adds up to the totals.
	// The traces run side by side (a trace waits on its queries most of the
	// time); their results are added in a fixed order.
	type job struct {
		category, dir string
		res           *trace.Result
	}
	var jobs []*job
	for _, c := range cats {
		for _, dir := range []string{trace.Down, trace.Up} {
			jobs = append(jobs, &job{category: c, dir: dir})
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(traceWorkers)
	for _, j := range jobs {
		g.Go(func() (err error) {
			j.res, err = a.run(gctx, j.category, j.dir)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, j := range jobs {
		if j.res == nil {
			continue
		}
		if err := a.add(ctx, j.category, j.dir, j.res); err != nil {
			return nil, err
		}
		j.res = nil
	}
	for key, s := range a.subjects {
		if len(a.cfg.Only) > 0 && !a.cfg.Only[key] {
			continue
		}
		var sum int64
		for _, v := range byCategory(s) {
			sum += v
		}
		if sum < cfg.MinExposure {
			continue
		}
		s.Addresses = len(a.members[key])
		sort.Slice(s.From, func(i, j int) bool { return s.From[i].Category < s.From[j].Category })
		sort.Slice(s.To, func(i, j int) bool { return s.To[i].Category < s.To[j].Category })
		s.TopFlows = a.topFlows(key)
		if prev != nil {
			s.Change = change(prevSubject(prev, key), s)
		}
		rep.Subjects = append(rep.Subjects, *s)
	}
	// Watched subjects that nothing reached are reported as such.
	for key := range a.cfg.Only {
		if _, ok := a.subjects[key]; !ok && cfg.MinExposure == 0 {
			rep.Subjects = append(rep.Subjects, a.empty(key))
		}
	}
	sort.SliceStable(rep.Subjects, func(i, j int) bool {
		ti, tj := subjectTotal(&rep.Subjects[i]), subjectTotal(&rep.Subjects[j])
		if ti != tj {
			return ti > tj
		}
		return rep.Subjects[i].Watch < rep.Subjects[j].Watch
	})
	if total(rep) == 0 {
		rep.Empty = fmt.Sprintf("no exposure to any labelled category between %s and %s", rep.Since.Format(time.RFC3339), rep.Until.Format(time.RFC3339))
	}
	return rep, nil
}

func subjectTotal(s *Subject) int64 {
	var t int64
	for _, v := range byCategory(s) {
		t += v
	}
	return t
}

type allRun struct {
	cache    *trace.Cache
	conn     store.Conn
	tr       *trace.Tracer
	src      Sources
	clusters ClusterLookup
	cfg      AllConfig
	subjects map[string]*Subject
	members  map[string]map[string]bool
	// clusterOf: address → subject key, for the addresses looked up.
	clusterOf  map[string]string
	candidates map[string][]candidate
	entity     map[string]string // category NUL address → entity, for top flows
}

// candidate is a flow a subject may list among its top flows.
type candidate struct {
	dir, category, seed string
	amount              int64
	hop                 int
	op                  string
	nodes               map[string]*reached
}

func (a *allRun) empty(key string) Subject {
	return Subject{Watch: key, From: []trace.CategoryFlow{}, To: []trace.CategoryFlow{}, Series: a.emptySeries(), TopFlows: []Flow{}}
}

func (a *allRun) emptySeries() []Point {
	span := a.cfg.Until.Sub(a.cfg.Since) / time.Duration(a.cfg.Buckets)
	out := make([]Point, a.cfg.Buckets)
	for i := range out {
		from := a.cfg.Since.Add(time.Duration(i) * span)
		until := from.Add(span)
		if i == a.cfg.Buckets-1 {
			until = a.cfg.Until
		}
		out[i] = Point{From: from.UTC(), Until: until.UTC(), ByCategory: map[string]int64{}}
	}
	return out
}

// keys maps addresses to subject keys, looking up their clusters.
func (a *allRun) keys(ctx context.Context, addrs []string) error {
	var missing []string
	for _, ad := range addrs {
		if _, ok := a.clusterOf[ad]; !ok {
			missing = append(missing, ad)
		}
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	if len(missing) == 0 {
		return nil
	}
	// Most were read by the traces; 0 is no cluster there.
	found, unread := a.cache.Clusters(missing)
	if a.clusters != nil && len(unread) > 0 {
		more, err := a.clusters(ctx, unread)
		if err != nil {
			return fmt.Errorf("report: clusters of %d addresses: %w", len(unread), err)
		}
		for ad, id := range more {
			found[ad] = id
		}
	}
	for _, ad := range missing {
		if id, ok := found[ad]; ok && id != 0 {
			a.clusterOf[ad] = "cluster:" + strconv.FormatUint(uint64(id), 10)
		} else {
			a.clusterOf[ad] = ad
		}
	}
	return nil
}

// bucket is the chart period of t.
func (a *allRun) bucket(t time.Time) int {
	span := a.cfg.Until.Sub(a.cfg.Since) / time.Duration(a.cfg.Buckets)
	if span <= 0 {
		return 0
	}
	return min(max(int(t.Sub(a.cfg.Since)/span), 0), a.cfg.Buckets-1)
}

// traceWorkers bounds the category traces that run at once.
const traceWorkers = 3

// run traces one category in one direction over the period (nil: the
// category received nothing in it).
func (a *allRun) run(ctx context.Context, category, dir string) (*trace.Result, error) {
	var start trace.Start
	for _, s := range a.src[category] {
		start.Addresses = append(start.Addresses, s.Address)
	}
	if len(start.Addresses) == 0 {
		return nil, nil
	}
	start.Desc = "label:" + category
	tc := a.cfg.taint(a.cfg.Since, a.cfg.Until)
	tc.Direction, tc.StopAtAnyLabel = dir, true
	rs, err := a.tr.Trace(ctx, start, tc)
	if errors.Is(err, trace.ErrNoStartOutput) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("report: tracing %s %s: %w", dir, start.Desc, err)
	}
	return rs[0], nil
}

// add adds what one category's trace reached to the subjects.
func (a *allRun) add(ctx context.Context, category, dir string, res *trace.Result) error {
	nodesAndSeeds, seedsOf := reachedOf(res)
	var addrs []string
	for _, n := range nodesAndSeeds {
		if n.hop > 0 {
			addrs = append(addrs, n.addr)
		}
		for _, p := range n.parents {
			if sa, ok := seedsOf[p.op]; ok {
				addrs = append(addrs, sa)
			}
		}
	}
	if err := a.keys(ctx, addrs); err != nil {
		return err
	}
	nodes, seeds := nodesAndSeeds, seedsOf
	// A seed feeds with its whole value: read the values of the seeds
	// that share a transaction with other feeds.
	var mixed []string
	for _, n := range nodes {
		if len(n.parents) < 2 {
			continue
		}
		for _, p := range n.parents {
			if _, ok := seeds[p.op]; ok {
				mixed = append(mixed, p.op)
			}
		}
	}
	seedValue, err := outputValues(ctx, a.conn, mixed)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if n.hop <= 0 || n.taint == 0 {
			continue
		}
		key := a.clusterOf[n.addr]
		// Only what enters the subject counts: taint moving between its
		// own addresses is not received again. Each feed passes on its
		// share of the output's taint, at its own hop count.
		type share struct {
			w   int64
			hop int
		}
		var ext []share
		var all int64
		for _, p := range n.parents {
			w, pk, ph := n.taint, "", 0 // a seed: the category's own output
			if pn := nodes[p.op]; pn != nil {
				w, pk, ph = pn.taint, a.clusterOf[pn.addr], pn.hop
			} else if sa, ok := seeds[p.op]; ok {
				pk = a.clusterOf[sa]
				if v, ok := seedValue[p.op]; ok {
					w = v
				}
			}
			all += w
			if pk != key {
				ext = append(ext, share{w, trace.NextHop(ph, p.clusterStep)})
			}
		}
		if len(ext) == 0 || all == 0 {
			continue
		}
		s := a.subjects[key]
		if s == nil {
			e := a.empty(key)
			s = &e
			a.subjects[key] = s
			a.members[key] = map[string]bool{}
		}
		a.members[key][n.addr] = true
		side := &s.From // received from the category: downstream from it
		d := "from"
		if dir == trace.Up {
			side, d = &s.To, "to"
		}
		i := slices.IndexFunc(*side, func(f trace.CategoryFlow) bool { return f.Category == category })
		if i < 0 {
			*side = append(*side, trace.CategoryFlow{Category: category})
			i = len(*side) - 1
		}
		var sum int64
		for _, e := range ext {
			amt := trace.Share(n.taint, e.w, all)
			sum += amt
			if e.hop <= 1 {
				(*side)[i].Direct += amt
			} else {
				(*side)[i].Indirect += amt
			}
		}
		s.Series[a.bucket(n.time)].ByCategory[category] += sum
		if res.Capped != "" {
			s.Capped = res.Capped
		}
		a.candidates[key] = append(a.candidates[key], candidate{dir: d, category: category, amount: sum, hop: n.hop, op: n.op, nodes: nodes})
	}
	return nil
}

// topFlows are the subject's largest tainted outputs, with the
// transactions from the category's address to them.
func (a *allRun) topFlows(key string) []Flow {
	cs := a.candidates[key]
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].amount > cs[j].amount })
	if len(cs) > a.cfg.TopFlows {
		cs = cs[:a.cfg.TopFlows]
	}
	out := []Flow{}
	if a.entity == nil {
		a.entity = map[string]string{}
		for c, ss := range a.src {
			for _, s := range ss {
				a.entity[c+"\x00"+s.Address] = s.Entity
			}
		}
	}
	entity := a.entity
	for _, c := range cs {
		var txids []string
		op := c.op
		for n := c.nodes[op]; n != nil; n = c.nodes[op] {
			if !slices.Contains(txids, n.txid) {
				txids = append(txids, n.txid)
			}
			op = n.parent
		}
		slices.Reverse(txids)
		seed := seedAddress(c.nodes, c.op)
		out = append(out, Flow{Direction: c.dir, Address: seed, Category: c.category, Entity: entity[c.category+"\x00"+seed],
			Amount: c.amount, Hops: c.hop, Txids: txids})
	}
	return out
}

// seedAddress follows the least-hop parents of op back to the labelled
// address it started from.
func seedAddress(nodes map[string]*reached, op string) string {
	n := nodes[op]
	for n != nil {
		p := nodes[n.parent]
		if p == nil {
			break
		}
		n = p
	}
	if n == nil {
		return ""
	}
	return n.from
}

// LabelSources lists the labelled Bitcoin addresses of every category as
// known at asOf (zero: now); a label that names a cluster stands for its
// members (members lists them).
func LabelSources(ctx context.Context, ls *labels.Store, asOf time.Time, members func(ctx context.Context, cluster string) ([]string, error)) (Sources, error) {
	list, err := ls.List(ctx, labels.Filter{Chain: chain.BTC, AsOf: asOf})
	if err != nil {
		return nil, fmt.Errorf("report: labels: %w", err)
	}
	src := Sources{}
	seen := map[string]bool{}
	add := func(cat, addr, entity string) {
		if k := cat + "\x00" + addr; !seen[k] {
			seen[k] = true
			src[cat] = append(src[cat], Source{Address: addr, Entity: entity})
		}
	}
	for _, l := range list {
		if l.Address != "" {
			add(l.Category, l.Address, l.Entity)
			continue
		}
		if l.Cluster == "" || members == nil {
			continue
		}
		ms, err := members(ctx, l.Cluster)
		if err != nil {
			return nil, fmt.Errorf("report: members of labelled cluster %s (%s): %w", l.Cluster, l.Entity, err)
		}
		for _, m := range ms {
			add(l.Category, m, l.Entity)
		}
	}
	return src, nil
}

// outputValues reads the values of outputs (txid:n) from the store.
func outputValues(ctx context.Context, conn store.Conn, ops []string) (map[string]int64, error) {
	slices.Sort(ops)
	ops = slices.Compact(ops)
	out := make(map[string]int64, len(ops))
	want := map[string]bool{}
	var txids []string
	for _, op := range ops {
		want[op] = true
		txid, _, _ := strings.Cut(op, ":")
		txids = append(txids, txid)
	}
	slices.Sort(txids)
	txids = slices.Compact(txids)
	for start := 0; start < len(txids); start += store.KeysLimit {
		part := txids[start:min(start+store.KeysLimit, len(txids))]
		rows, err := conn.Query(ctx, "SELECT txid, n, value FROM btc_outputs WHERE txid IN ?", store.Keys(part))
		if err != nil {
			return nil, fmt.Errorf("report: output values: %w", err)
		}
		for rows.Next() {
			var txid string
			var n uint32
			var v int64
			if err := rows.Scan(&txid, &n, &v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("report: output values: %w", err)
			}
			if op := txid + ":" + strconv.FormatUint(uint64(n), 10); want[op] {
				out[op] = v
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("report: output values: %w", err)
		}
	}
	return out, nil
}
