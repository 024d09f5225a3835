package trace

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/store"
)

// Models and directions.
const (
	Poison  = "poison"
	Haircut = "haircut"
	FIFO    = "fifo"

	Down = "down"
	Up   = "up"
	Both = "both"
)

// Limits of Config values.
const (
	MaxHops         = 50
	DefaultHops     = 6
	DefaultMaxNodes = 100_000
	DefaultTimeout  = 60 * time.Second
)

// Sentinel errors.
var (
	ErrConfig        = errors.New("trace: invalid trace")
	ErrModel         = errors.New("trace: model not available in this direction")
	ErrUnknown       = errors.New("trace: unknown address")
	ErrNoStartOutput = errors.New("trace: start set received nothing in the time window")
)

// Config shapes a trace. Copy DefaultConfig and change it.
type Config struct {
	// Chain: btc (the UTXO graph; the default when empty) or eth (account
	// transfers per asset; see the package documentation).
	Chain string
	// Asset (eth): trace only this asset, "ETH" or a token contract in
	// canonical form; empty: every asset the start set moved.
	Asset     string
	Model     string
	Direction string
	Hops      int
	// MinValue: a tainted output with less taint (satoshi) is neither
	// reported nor followed.
	MinValue int64
	// MinUnits (eth): a tainted transfer with less taint, in base units of
	// its asset (wei, token units), is neither reported nor followed.
	MinUnits *big.Int
	// Since, Until bound the transactions followed (and, upstream, the
	// seeds: what the start set received); zero: unbounded.
	Since, Until time.Time
	// StopAt: label categories whose addresses (or clusters) end a path.
	StopAt []string
	// StopAtAnyLabel: every labelled address ends a path (exposure).
	StopAtAnyLabel bool
	MaxNodes       int
	Timeout        time.Duration
	// LabelsAsOf: labels in force at this time (zero: now).
	LabelsAsOf time.Time
}

// DefaultConfig is a 6-hop downstream haircut trace.
func DefaultConfig() Config {
	return Config{Model: Haircut, Direction: Down, Hops: DefaultHops, MaxNodes: DefaultMaxNodes, Timeout: DefaultTimeout}
}

func (c *Config) validate() error {
	switch c.Chain {
	case "", chain.BTC:
		if c.Asset != "" || c.MinUnits != nil {
			return fmt.Errorf("%w: asset and min-units are for account chains (chain %q)", ErrConfig, c.Chain)
		}
	case chain.ETH:
		if c.MinValue != 0 {
			return fmt.Errorf("%w: chain eth takes its minimum in base units of the asset (MinUnits), not satoshi", ErrConfig)
		}
		if c.MinUnits != nil && c.MinUnits.Sign() < 0 {
			return fmt.Errorf("%w: min-value %s is negative", ErrConfig, c.MinUnits)
		}
	default:
		return fmt.Errorf("%w: chain %q (want btc or eth)", ErrConfig, c.Chain)
	}
	switch c.Model {
	case Poison, Haircut, FIFO:
	default:
		return fmt.Errorf("%w: model %q (want haircut, poison or fifo)", ErrConfig, c.Model)
	}
	switch c.Direction {
	case Down, Up, Both:
	default:
		return fmt.Errorf("%w: direction %q (want down, up or both)", ErrConfig, c.Direction)
	}
	if c.Model == FIFO && c.Direction != Down {
		return fmt.Errorf("%w: fifo traces downstream only (direction %q)", ErrModel, c.Direction)
	}
	if c.Hops < 1 || c.Hops > MaxHops {
		return fmt.Errorf("%w: hops %d out of range 1..%d", ErrConfig, c.Hops, MaxHops)
	}
	if c.MinValue < 0 {
		return fmt.Errorf("%w: min-value %d is negative", ErrConfig, c.MinValue)
	}
	if c.MaxNodes < 1 {
		return fmt.Errorf("%w: max-nodes %d must be at least 1", ErrConfig, c.MaxNodes)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("%w: timeout %s must be positive", ErrConfig, c.Timeout)
	}
	if !c.Since.IsZero() && !c.Until.IsZero() && c.Until.Before(c.Since) {
		return fmt.Errorf("%w: until %s is before since %s", ErrConfig, c.Until.Format(time.RFC3339), c.Since.Format(time.RFC3339))
	}
	return nil
}

// Params is the model and its parameters as a reproducible flag string.
func (c *Config) Params() string {
	if c.Chain == chain.ETH {
		return c.accountParams()
	}
	s := fmt.Sprintf("model=%s direction=%s hops=%d min-value=%d max-nodes=%d timeout=%s", c.Model, c.Direction, c.Hops, c.MinValue, c.MaxNodes, c.Timeout)
	if !c.Since.IsZero() {
		s += " since=" + c.Since.UTC().Format(time.RFC3339)
	}
	if !c.Until.IsZero() {
		s += " until=" + c.Until.UTC().Format(time.RFC3339)
	}
	if len(c.StopAt) > 0 {
		s += " stop-at=" + strings.Join(c.StopAt, ",")
	}
	if c.Model == Haircut {
		s += " rounding=floor-per-output"
	}
	return s
}

// Label is a label of an endpoint, short.
type Label struct {
	Category string `json:"category"`
	Entity   string `json:"entity"`
	Source   string `json:"source"`
}

// Endpoint is an output where a path ends, or a labelled output passed.
type Endpoint struct {
	Address string  `json:"address"`
	Cluster uint32  `json:"cluster,omitempty"`
	Labels  []Label `json:"labels,omitempty"`
	// Amount is the taint (satoshi) that reached it, Value the output's
	// value. Account chains leave them 0 and fill AmountUnits and
	// ValueUnits instead.
	Amount int64 `json:"amount,omitempty"`
	Value  int64 `json:"value,omitempty"`
	// AmountUnits, ValueUnits (account chains): exact decimal integers of
	// base units of the result's asset (wei, token units). ValueUnits is
	// the transfer's value (stop, labelled) or, for a leftover endpoint,
	// the address's balance when the trace ends.
	AmountUnits string `json:"amount_units,omitempty"`
	ValueUnits  string `json:"value_units,omitempty"`
	Hops        int    `json:"hops"`
	// Reason: stop:<category>, unspent, hop-limit, time-window,
	// not-stored (upstream: created by a transaction the store lacks),
	// coinbase (upstream: newly mined), labelled (passed through) or
	// truncated (a cap stopped the trace here).
	Reason string `json:"reason"`
	Txid   string `json:"txid"`
	// N is the output index; on account chains the transfer's index
	// within its kind (log index, call position, 0 for native).
	N uint32 `json:"n"`
	// Kind (account chains): native, token, internal; opening for money
	// an address held before the store's first row of it.
	Kind   string `json:"kind,omitempty"`
	Height uint32 `json:"block_height"`
	Path   []Hop  `json:"path"`
}

// Hop is one step of a path.
type Hop struct {
	Txid   string    `json:"txid"`
	Height uint32    `json:"block_height"`
	Time   time.Time `json:"time"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	// Output is the output the step reached (downstream: created; upstream:
	// spent by Txid).
	Output string `json:"output"`
	// Input is the tainted output the step spent (downstream) or the
	// output it created (upstream).
	Input  string `json:"input"`
	Amount int64  `json:"amount,omitempty"`
	// AmountUnits (account chains): exact base units of the asset.
	AmountUnits string `json:"amount_units,omitempty"`
	// ClusterStep: From and To are in the same cluster; not counted as a
	// hop. Evidence is the clusterer's record for Txid, if any.
	ClusterStep bool   `json:"cluster_step,omitempty"`
	Cluster     uint32 `json:"cluster,omitempty"`
	Evidence    string `json:"evidence,omitempty"`
}

// Result is one direction of a trace.
type Result struct {
	Start     string `json:"start"`
	Direction string `json:"direction"`
	Model     string `json:"model"`
	Params    string `json:"params"`
	// Chain, Asset, Symbol and Decimals are set for account chains: one
	// result per asset. Decimals is -1 for a token whose decimals the
	// tracer does not know (amounts in base units).
	Chain     string `json:"chain,omitempty"`
	Asset     string `json:"asset,omitempty"`
	Symbol    string `json:"symbol,omitempty"`
	Decimals  int    `json:"decimals,omitempty"`
	Seeds     int    `json:"seeds"`
	SeedValue int64  `json:"seed_value,omitempty"`
	// SeedUnits (account chains): what the start set sent (downstream) or
	// received (upstream) of the asset in the time window, base units.
	SeedUnits string `json:"seed_units,omitempty"`
	// Nodes: tainted outputs reached, seeds aside (what MaxNodes caps).
	Nodes     int        `json:"nodes"`
	Endpoints []Endpoint `json:"endpoints"`
	// Steps is the whole taint graph: one step per tainted output and
	// output that fed it, in chain order; every path is a walk through it.
	Steps []Hop `json:"steps"`
	// Capped names the cap that stopped the trace ("" when none did).
	Capped  string `json:"capped,omitempty"`
	Queries int    `json:"queries"`
	// spentValue: the seeds' value spent (downstream).
	spentValue int64
	Elapsed    time.Duration `json:"elapsed_ns"`
}

// Start is the start set.
type Start struct {
	Desc      string
	Addresses []string
}

// Tracer traces over a store.
type Tracer struct {
	conn   store.Conn
	labels *labels.Store
	// acl finds the clusters of account-chain addresses; nil: none.
	acl AccountClusters
	// lmu guards btcLabels, the Bitcoin labels of the last trace, reused
	// while the same label imports are in force.
	lmu       sync.Mutex
	btcLabels *labelSet
	// cache, when set, is shared with the other traces of a batch.
	cache *Cache
}

// labelSet is the Bitcoin labels in force for a set of label imports,
// by address and by cluster. Read only once built.
type labelSet struct {
	key       string
	byAddr    map[string][]Label
	byCluster map[uint32][]Label
}

// New traces over conn; ls may be nil (no labels: no stops).
func New(conn store.Conn, ls *labels.Store) *Tracer { return &Tracer{conn: conn, labels: ls} }

// seg is a run of satoshi of an output under fifo: tainted or clean; a
// tainted run remembers the output it sits in (its src).
type seg struct {
	n       int64
	tainted bool
	src     op
}

// node is a tainted output.
type node struct {
	op      op
	address string
	value   int64
	taint   int64
	segs    []seg
	hop     int
	seed    bool
	parent  op     // the tainted output that fed it (hop order); zero for seeds
	parents []op   // every tainted output that fed it
	via     string // the transaction of the step
	spent   bool
	reason  string
	cluster uint32
}

type run struct {
	cfg       Config
	g         *graph
	t         *Tracer
	nodes     map[op]*node
	labels    map[string][]Label
	clLabels  map[uint32][]Label
	stop      map[string]bool
	capped    string
	deadline  time.Time
	start     map[string]bool
	fifoIn    map[op][]seg // fifo: segments taken by input txid:n
	fifoDirty map[string]bool
	reached   int // nodes other than seeds
	// versions and labelRead (nil when the trace holds every label): the
	// label imports in force, and the addresses whose labels are read.
	versions  []labels.Version
	labelRead map[string]bool
}

// Trace runs cfg from start. With Direction Both it returns the downstream
// and the upstream result, else one.
func (t *Tracer) Trace(ctx context.Context, start Start, cfg Config) ([]*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Chain == chain.ETH {
		return t.traceAccount(ctx, start, cfg)
	}
	if len(start.Addresses) == 0 {
		return nil, fmt.Errorf("%w: empty start set %s", ErrConfig, start.Desc)
	}
	dirs := []string{cfg.Direction}
	if cfg.Direction == Both {
		dirs = []string{Down, Up}
	}
	var out []*Result
	for _, d := range dirs {
		c := cfg
		c.Direction = d
		r, err := t.trace(ctx, start, c)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (t *Tracer) trace(ctx context.Context, start Start, cfg Config) (*Result, error) {
	began := time.Now()
	r, res, err := t.walk(ctx, start, cfg)
	if err != nil {
		return nil, err
	}
	if err := r.endpoints(ctx, res); err != nil {
		return nil, err
	}
	for _, n := range r.nodes {
		if n.seed && n.spent {
			res.spentValue += n.value
		}
	}
	res.Capped = r.capped
	res.Nodes = r.reached
	res.Queries = r.g.queries
	res.Elapsed = time.Since(began)
	return res, nil
}

// walk seeds the trace and runs its rounds: r.nodes is the taint graph
// when it returns (endpoint reasons of caps and stops aside).
func (t *Tracer) walk(ctx context.Context, start Start, cfg Config) (*run, *Result, error) {
	began := time.Now()
	g := newGraph(t.conn)
	g.shared = t.cache
	g.needIdx = cfg.Model == FIFO
	r := &run{cfg: cfg, g: g, t: t, nodes: map[op]*node{}, labels: map[string][]Label{},
		stop: map[string]bool{}, start: map[string]bool{}, fifoIn: map[op][]seg{}, fifoDirty: map[string]bool{},
		deadline: began.Add(cfg.Timeout)}
	for _, s := range cfg.StopAt {
		r.stop[s] = true
	}
	for _, a := range start.Addresses {
		r.start[a] = true
	}
	if err := r.loadLabels(ctx, false); err != nil {
		return nil, nil, err
	}
	res := &Result{Start: start.Desc, Direction: cfg.Direction, Model: cfg.Model, Params: cfg.Params()}
	frontier, err := r.seed(ctx, start.Addresses, res)
	if err != nil {
		return nil, nil, err
	}
	// Rounds run under the time limit, so that a query through a huge
	// cluster is cut short too; what was reached is still reported.
	rctx, cancel := context.WithDeadline(ctx, r.deadline)
	defer cancel()
	for len(frontier) > 0 && r.capped == "" {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		if rctx.Err() != nil {
			r.capped = fmt.Sprintf("timeout %s", cfg.Timeout)
			break
		}
		var next []op
		if cfg.Direction == Down {
			next, err = r.down(rctx, frontier)
		} else {
			next, err = r.up(rctx, frontier)
		}
		// The connection's read deadline (the round's) can fire before
		// rctx says it is done: the clock decides.
		if err != nil && ctx.Err() == nil && (rctx.Err() != nil || !time.Now().Before(r.deadline)) {
			r.capped = fmt.Sprintf("timeout %s", cfg.Timeout)
			break
		}
		if err != nil {
			return nil, nil, err
		}
		frontier = next
	}
	for _, o := range frontier { // left by a cap
		if n := r.nodes[o]; n != nil && n.reason == "" {
			n.reason = "truncated"
		}
	}
	return r, res, nil
}

func (r *run) inWindow(t time.Time) bool {
	if !r.cfg.Since.IsZero() && t.Before(r.cfg.Since) {
		return false
	}
	if !r.cfg.Until.IsZero() && t.After(r.cfg.Until) {
		return false
	}
	return true
}

// loadLabels prepares the Bitcoin labels in force for the trace. A store
// may hold a million labels (every deposit address of the exchanges), and
// reading them all takes seconds: a trace reads the cluster labels (few)
// and then the labels of the addresses it reaches, with their clusters
// (loadOwners). A tracer that holds the whole set for the label imports in
// force (LoadLabels; one small query checks) answers from it instead; all
// reads and keeps the whole set.
func (r *run) loadLabels(ctx context.Context, all bool) error {
	r.labels, r.clLabels = map[string][]Label{}, map[uint32][]Label{}
	if r.t.labels == nil {
		return nil
	}
	vs, err := r.t.labels.InForce(ctx, r.cfg.LabelsAsOf)
	if err != nil {
		return fmt.Errorf("trace: reading label imports: %w", err)
	}
	ids := make([]string, 0, len(vs))
	for _, v := range vs {
		ids = append(ids, v.ImportID)
	}
	slices.Sort(ids)
	key := strings.Join(ids, ",")
	r.t.lmu.Lock()
	cached := r.t.btcLabels
	r.t.lmu.Unlock()
	if cached != nil && cached.key == key {
		r.labels, r.clLabels = cached.byAddr, cached.byCluster
		return nil
	}
	if !all {
		cl, err := r.t.labels.ClusterLabelsIn(ctx, vs, chain.BTC)
		if err != nil {
			return fmt.Errorf("trace: reading cluster labels: %w", err)
		}
		for _, l := range cl {
			if id, err := strconv.ParseUint(l.Cluster, 10, 32); err == nil {
				r.clLabels[uint32(id)] = append(r.clLabels[uint32(id)], shortLabel(l))
			}
		}
		r.versions, r.labelRead = vs, map[string]bool{}
		return nil
	}
	ls, err := r.t.labels.BriefIn(ctx, vs, chain.BTC, nil)
	if err != nil {
		return fmt.Errorf("trace: reading labels: %w", err)
	}
	set := &labelSet{key: key, byAddr: map[string][]Label{}, byCluster: map[uint32][]Label{}}
	for _, l := range ls {
		if l.Address != "" {
			set.byAddr[l.Address] = append(set.byAddr[l.Address], shortLabel(l))
			continue
		}
		id, err := strconv.ParseUint(l.Cluster, 10, 32)
		if err != nil {
			continue
		}
		set.byCluster[uint32(id)] = append(set.byCluster[uint32(id)], shortLabel(l))
	}
	r.labels, r.clLabels = set.byAddr, set.byCluster
	r.t.lmu.Lock()
	r.t.btcLabels = set
	r.t.lmu.Unlock()
	return nil
}

func shortLabel(l labels.Label) Label {
	return Label{Category: l.Category, Entity: l.Entity, Source: l.Source}
}

// LoadLabels reads every Bitcoin label in force at asOf (zero: now) and
// keeps them for the traces that follow, as long as the label imports in
// force stay the same: for traces that reach much of the chain, such as a
// report's over every cluster, one read of every label costs less than
// reading the labels of what they reach.
func (t *Tracer) LoadLabels(ctx context.Context, asOf time.Time) error {
	r := &run{cfg: Config{LabelsAsOf: asOf}, t: t}
	return r.loadLabels(ctx, true)
}

// loadOwners reads the clusters of addrs and, unless the trace holds every
// label, their labels.
func (r *run) loadOwners(ctx context.Context, addrs []string) error {
	if err := r.g.loadClusters(ctx, addrs); err != nil {
		return err
	}
	if r.labelRead == nil {
		return nil
	}
	var need []string
	for _, a := range addrs {
		if a != "" && !r.labelRead[a] {
			r.labelRead[a] = true
			need = append(need, a)
		}
	}
	if len(need) == 0 {
		return nil
	}
	r.g.queries++
	ls, err := r.t.labels.BriefIn(ctx, r.versions, chain.BTC, need)
	if err != nil {
		return fmt.Errorf("trace: reading labels: %w", err)
	}
	for _, l := range ls {
		r.labels[l.Address] = append(r.labels[l.Address], shortLabel(l))
	}
	return nil
}

// labelsOf is the address's labels and its cluster's.
func (r *run) labelsOf(a string) []Label {
	ls := slices.Clone(r.labels[a])
	if c := r.g.cluster[a]; c != 0 {
		ls = append(ls, r.clLabels[c]...)
	}
	return ls
}

// stopAt is the stop category of address a, or "".
func (r *run) stopAt(a string) string {
	for _, l := range r.labelsOf(a) {
		if r.stop[l.Category] || r.cfg.StopAtAnyLabel {
			return l.Category
		}
	}
	return ""
}

// passes: taint goes on through n. An output at a stop address ends its
// path, even when the transaction it meets carries on other taint (a
// deposit swept together with tainted coins, a broker's change spent with
// the coins an upstream trace follows): counting it there would count it
// twice.
func (r *run) passes(n *node) bool { return n.seed || r.stopAt(n.address) == "" }

// seed makes the outputs the start set received into fully tainted nodes.
func (r *run) seed(ctx context.Context, addrs []string, res *Result) ([]op, error) {
	if err := r.g.loadIO(ctx, addrs); err != nil {
		return nil, err
	}
	var unknown []string
	for _, a := range addrs {
		if len(r.g.io[a]) == 0 {
			unknown = append(unknown, a)
		}
	}
	if len(unknown) == len(addrs) {
		return nil, fmt.Errorf("%w: %s (never seen on chain)", ErrUnknown, strings.Join(unknown[:min(5, len(unknown))], ", "))
	}
	if err := r.loadOwners(ctx, addrs); err != nil {
		return nil, err
	}
	var frontier []op
	for _, a := range addrs {
		for _, row := range r.g.io[a] {
			// Downstream, money received before Since may still leave in
			// the window: only the spends followed are bounded. Upstream,
			// what the start set received in the window is traced back.
			if row.input || (r.cfg.Direction == Up && !r.inWindow(row.time)) {
				continue
			}
			o := op{row.txid, row.n}
			if r.nodes[o] != nil {
				continue
			}
			n := &node{op: o, address: a, value: row.value, taint: row.value, seed: true, cluster: r.g.cluster[a]}
			n.segs = []seg{{n: row.value, tainted: true, src: o}}
			r.nodes[o] = n
			res.Seeds++
			res.SeedValue += row.value
			frontier = append(frontier, o)
		}
	}
	if len(frontier) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoStartOutput, res.Start)
	}
	sortOps(frontier)
	return frontier, nil
}

func sortOps(ops []op) {
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].txid != ops[j].txid {
			return ops[i].txid < ops[j].txid
		}
		return ops[i].n < ops[j].n
	})
}

// feed is one tainted input of a step: the node it came from.
type feed struct {
	from  *node
	taint int64
}

// update sets the taint of the output o (at address, of value) created by
// (downstream) or feeding (upstream) tx via to taint, fed by feeds; it
// returns whether o joins the next frontier.
func (r *run) update(o op, address string, value, taint int64, segs []seg, via string, feeds []feed) bool {
	if taint <= 0 || len(feeds) == 0 {
		return false
	}
	hop, best, _ := LeastHop(len(feeds), func(i int) Feed {
		f := feeds[i].from
		return Feed{Address: f.address, Hop: f.hop, Taint: f.taint}
	}, address, r.g.clusterOf)
	parent := feeds[best].from
	if hop > r.cfg.Hops {
		for _, f := range feeds {
			if f.from.reason == "" {
				f.from.reason = "hop-limit"
			}
		}
		return false
	}
	if !Followed(taint, r.cfg.MinValue) {
		return false
	}
	n := r.nodes[o]
	if n == nil {
		if r.reached >= r.cfg.MaxNodes {
			r.capped = fmt.Sprintf("max-nodes %d", r.cfg.MaxNodes)
			parent.reason = "truncated"
			return false
		}
		n = &node{op: o, address: address, value: value, hop: hop, parent: parent.op, via: via, cluster: r.g.cluster[address]}
		r.nodes[o] = n
		r.reached++
	} else if n.seed {
		return false
	}
	for _, f := range feeds {
		if !slices.Contains(n.parents, f.from.op) {
			n.parents = append(n.parents, f.from.op)
		}
	}
	if n.taint == taint && n.hop <= hop && n.via != "" {
		return false
	}
	n.taint = taint
	n.segs = segs
	if hop < n.hop || n.via == "" {
		n.hop, n.parent, n.via = hop, parent.op, via
	}
	return true
}

// down advances the downstream trace by one round.
func (r *run) down(ctx context.Context, frontier []op) ([]op, error) {
	var addrs []string
	var follow []*node
	for _, o := range frontier {
		n := r.nodes[o]
		if !n.seed {
			if c := r.stopAt(n.address); c != "" {
				n.reason = "stop:" + c
				continue
			}
		}
		follow = append(follow, n)
		addrs = append(addrs, n.address)
	}
	// Candidate spenders. Fifo orders every row of the addresses, so it
	// reads each transaction of the address index; haircut and poison
	// need only the transactions that spend the frontier, from the spend
	// index.
	var cand []string
	seen := map[string]bool{}
	if r.cfg.Model == FIFO {
		if err := r.g.loadIO(ctx, addrs); err != nil {
			return nil, err
		}
		for _, n := range follow {
			for _, row := range r.g.io[n.address] {
				if !seen[row.txid] {
					seen[row.txid] = true
					cand = append(cand, row.txid)
				}
			}
		}
	} else {
		prev := make([]string, len(follow))
		for i, n := range follow {
			prev[i] = n.op.txid
		}
		if err := r.g.loadSpends(ctx, prev); err != nil {
			return nil, err
		}
		for _, n := range follow {
			for _, id := range r.g.spenders(n.op) {
				if !seen[id] {
					seen[id] = true
					cand = append(cand, id)
				}
			}
		}
	}
	if err := r.g.loadTxs(ctx, cand); err != nil {
		return nil, err
	}
	inFrontier := map[op]bool{}
	for _, n := range follow {
		inFrontier[n.op] = true
	}
	// Affected transactions and, for fifo, the inputs' segments.
	affected := map[string]bool{}
	if r.cfg.Model == FIFO {
		done := map[string]bool{}
		for _, n := range follow {
			if done[n.address] {
				continue
			}
			done[n.address] = true
			for _, id := range r.fifoAddress(n.address) {
				affected[id] = true
			}
		}
	}
	for _, id := range cand {
		t := r.g.txs[id]
		if t == nil {
			continue
		}
		for _, in := range t.ins {
			if inFrontier[in.prev] {
				r.nodes[in.prev].spent = true
				if r.cfg.Model != FIFO {
					affected[id] = true
				}
			}
		}
	}
	ids := make([]string, 0, len(affected))
	var addrsOut []string
	for id := range affected {
		t := r.g.txs[id]
		if t == nil {
			continue
		}
		if !r.inWindow(t.time) {
			for _, in := range t.ins {
				if n := r.nodes[in.prev]; n != nil && n.reason == "" {
					n.reason = "time-window"
				}
			}
			continue
		}
		ids = append(ids, id)
		for _, in := range t.ins {
			addrsOut = append(addrsOut, in.address)
		}
		for _, o := range t.outs {
			addrsOut = append(addrsOut, o.address)
		}
	}
	sort.Strings(ids)
	if err := r.loadOwners(ctx, addrsOut); err != nil {
		return nil, err
	}
	var next []op
	for _, id := range ids {
		t := r.g.txs[id]
		for _, o := range r.spread(t) {
			next = append(next, o)
		}
		if r.capped != "" {
			break
		}
	}
	return next, nil
}

// spread passes the taint of t's inputs to its outputs; it returns the
// outputs whose taint or hop changed.
func (r *run) spread(t *tx) []op {
	var feeds []feed
	var T int64
	var segs []seg
	for _, in := range t.ins {
		if r.cfg.Model == FIFO {
			s, ok := r.fifoIn[op{t.txid, in.n}]
			if !ok {
				s = []seg{{n: in.value}}
			}
			for _, sg := range s {
				if sg.tainted {
					if n := r.nodes[sg.src]; n != nil {
						feeds = append(feeds, feed{from: n, taint: sg.n})
					}
					T += sg.n
				}
			}
			segs = append(segs, s...)
			continue
		}
		n := r.nodes[in.prev]
		if n == nil || n.taint == 0 || !r.passes(n) {
			continue
		}
		feeds = append(feeds, feed{from: n, taint: n.taint})
		T += n.taint
	}
	if T == 0 || t.inVal <= 0 {
		return nil
	}
	var changed []op
	pos := 0 // fifo: cursor in segs
	var used int64
	for _, o := range t.outs {
		id := op{t.txid, o.n}
		var taint int64
		var osegs []seg
		ofeeds := feeds
		switch r.cfg.Model {
		case Poison, Haircut:
			taint = StepTaint(r.cfg.Model, o.value, T, t.inVal)
		case FIFO:
			// Fed only by the tainted runs that land in this output.
			ofeeds = nil
			need := o.value
			for need > 0 && pos < len(segs) {
				s := segs[pos]
				take := min(need, s.n-used)
				ns := seg{n: take, tainted: s.tainted}
				if s.tainted {
					ns.src = id
					taint += take
					if n := r.nodes[s.src]; n != nil {
						ofeeds = append(ofeeds, feed{from: n, taint: take})
					}
				}
				osegs = appendSeg(osegs, ns)
				need -= take
				used += take
				if used == s.n {
					pos++
					used = 0
				}
			}
		}
		if taint == 0 {
			continue
		}
		if r.cfg.Model != FIFO {
			osegs = []seg{{n: o.value, tainted: true, src: id}}
		}
		if r.update(id, o.address, o.value, taint, osegs, t.txid, ofeeds) {
			changed = append(changed, id)
		}
	}
	return changed
}

func appendSeg(s []seg, x seg) []seg {
	if x.n == 0 {
		return s
	}
	if k := len(s) - 1; k >= 0 && s[k].tainted == x.tainted && s[k].src == x.src {
		s[k].n += x.n
		return s
	}
	return append(s, x)
}

// fifoAddress replays address a as a first-in-first-out queue over its
// received and spent outputs in chain order, sets the segments of each of
// its inputs, and returns the transactions whose inputs changed.
func (r *run) fifoAddress(a string) []string {
	type ev struct {
		height, idx uint32
		out         bool
		txid        string
		n           uint32
		value       int64
	}
	var evs []ev
	for _, row := range r.g.io[a] {
		t := r.g.txs[row.txid]
		if t == nil {
			continue
		}
		evs = append(evs, ev{height: t.height, idx: t.idx, out: !row.input, txid: row.txid, n: row.n, value: row.value})
	}
	sort.Slice(evs, func(i, j int) bool {
		x, y := evs[i], evs[j]
		if x.height != y.height {
			return x.height < y.height
		}
		if x.idx != y.idx {
			return x.idx < y.idx
		}
		if x.out != y.out {
			return !x.out // a transaction's inputs spend before its outputs pay
		}
		return x.n < y.n
	})
	var queue []seg
	var changed []string
	for _, e := range evs {
		if e.out {
			if n := r.nodes[op{e.txid, e.n}]; n != nil {
				for _, s := range n.segs {
					queue = appendSeg(queue, s)
				}
			} else {
				queue = appendSeg(queue, seg{n: e.value})
			}
			continue
		}
		var took []seg
		need := e.value
		for need > 0 && len(queue) > 0 {
			take := min(need, queue[0].n)
			s := queue[0]
			s.n = take
			took = appendSeg(took, s)
			queue[0].n -= take
			if queue[0].n == 0 {
				queue = queue[1:]
			}
			need -= take
		}
		if need > 0 { // the store lacks a receipt; the rest is unknown money
			took = appendSeg(took, seg{n: need})
		}
		k := op{e.txid, e.n}
		if old, ok := r.fifoIn[k]; !ok || !slices.Equal(old, took) {
			r.fifoIn[k] = took
			if ok || hasTaint(took) {
				changed = append(changed, e.txid)
			}
		}
	}
	return changed
}

func hasTaint(s []seg) bool {
	for _, x := range s {
		if x.tainted {
			return true
		}
	}
	return false
}

// up advances the upstream trace by one round: from tainted outputs to the
// inputs of the transactions that created them.
func (r *run) up(ctx context.Context, frontier []op) ([]op, error) {
	var ids []string
	seen := map[string]bool{}
	for _, o := range frontier {
		n := r.nodes[o]
		if !n.seed {
			if c := r.stopAt(n.address); c != "" {
				n.reason = "stop:" + c
				continue
			}
		}
		if !seen[o.txid] {
			seen[o.txid] = true
			ids = append(ids, o.txid)
		}
	}
	sort.Strings(ids)
	if err := r.g.loadTxs(ctx, ids); err != nil {
		return nil, err
	}
	var addrs []string
	var todo []*tx
	for _, id := range ids {
		t := r.g.txs[id]
		if t == nil {
			for _, o := range frontier {
				if o.txid == id && r.nodes[o].reason == "" {
					r.nodes[o].reason = "not-stored"
				}
			}
			continue
		}
		if !r.inWindow(t.time) {
			for _, o := range t.outs {
				if n := r.nodes[op{id, o.n}]; n != nil && n.reason == "" {
					n.reason = "time-window"
				}
			}
			continue
		}
		todo = append(todo, t)
		for _, in := range t.ins {
			addrs = append(addrs, in.address)
		}
		for _, o := range t.outs {
			addrs = append(addrs, o.address)
		}
	}
	if err := r.loadOwners(ctx, addrs); err != nil {
		return nil, err
	}
	var next []op
	for _, t := range todo {
		var feeds []feed
		var T int64
		for _, o := range t.outs {
			if n := r.nodes[op{t.txid, o.n}]; n != nil && n.taint > 0 && r.passes(n) {
				feeds = append(feeds, feed{from: n, taint: n.taint})
				T += n.taint
				n.spent = true // "spent" upstream: its sources were followed
			}
		}
		if T == 0 {
			continue
		}
		for _, in := range t.ins {
			if in.coinbase {
				for _, f := range feeds {
					if f.from.reason == "" {
						f.from.reason = "coinbase"
					}
				}
				continue
			}
			taint := StepTaint(r.cfg.Model, in.value, T, t.inVal)
			if r.update(in.prev, in.address, in.value, taint, nil, t.txid, feeds) {
				next = append(next, in.prev)
			}
		}
		if r.capped != "" {
			break
		}
	}
	return next, nil
}

// endpoints fills res with the endpoints and their paths.
func (r *run) endpoints(ctx context.Context, res *Result) error {
	var addrs []string
	for _, n := range r.nodes {
		addrs = append(addrs, n.address)
	}
	if err := r.loadOwners(ctx, addrs); err != nil {
		return err
	}
	var eps []*node
	var evTx []string
	for _, n := range r.nodes {
		if n.seed {
			continue
		}
		if n.reason == "" {
			if c := r.stopAt(n.address); c != "" {
				n.reason = "stop:" + c
			} else if !n.spent {
				if r.cfg.Direction == Down {
					n.reason = "unspent"
				} else {
					n.reason = "not-stored"
				}
			} else if len(r.labelsOf(n.address)) > 0 {
				n.reason = "labelled"
			}
		}
		if n.reason == "" {
			continue
		}
		eps = append(eps, n)
	}
	// Evidence for every step inside a cluster.
	for _, n := range r.nodes {
		for _, p := range n.parents {
			if SameOwner(r.nodes[p].address, n.address, r.g.clusterOf) {
				evTx = append(evTx, n.via)
				break
			}
		}
	}
	slices.Sort(evTx)
	evTx = slices.Compact(evTx)
	ev, err := r.g.evidence(ctx, evTx)
	if err != nil {
		return err
	}
	sort.Slice(eps, func(i, j int) bool {
		if eps[i].hop != eps[j].hop {
			return eps[i].hop < eps[j].hop
		}
		if eps[i].op.txid != eps[j].op.txid {
			return eps[i].op.txid < eps[j].op.txid
		}
		return eps[i].op.n < eps[j].op.n
	})
	for _, n := range eps {
		e := Endpoint{Address: n.address, Cluster: r.g.cluster[n.address], Labels: r.labelsOf(n.address), Amount: n.taint,
			Value: n.value, Hops: n.hop, Reason: n.reason, Txid: n.op.txid, N: n.op.n}
		for p := n; p != nil && !p.seed; p = r.nodes[p.parent] {
			e.Path = append(e.Path, r.step(p, r.nodes[p.parent], ev))
		}
		slices.Reverse(e.Path)
		if t := r.g.txs[n.op.txid]; t != nil {
			e.Height = t.height
		}
		res.Endpoints = append(res.Endpoints, e)
	}
	for _, n := range r.nodes {
		for _, p := range n.parents {
			res.Steps = append(res.Steps, r.step(n, r.nodes[p], ev))
		}
	}
	sort.Slice(res.Steps, func(i, j int) bool {
		a, b := res.Steps[i], res.Steps[j]
		if a.Height != b.Height {
			return a.Height < b.Height
		}
		if a.Txid != b.Txid {
			return a.Txid < b.Txid
		}
		if a.Output != b.Output {
			return a.Output < b.Output
		}
		return a.Input < b.Input
	})
	return nil
}

// step is the move of taint from par to n.
func (r *run) step(n, par *node, ev map[string]string) Hop {
	h := Hop{Txid: n.via, Output: n.op.String(), Input: par.op.String(), Amount: n.taint, From: par.address, To: n.address}
	if r.cfg.Direction == Up {
		h.From, h.To = n.address, par.address
	}
	if t := r.g.txs[n.via]; t != nil {
		h.Height, h.Time = t.height, t.time.UTC()
	}
	if SameOwner(par.address, n.address, r.g.clusterOf) {
		h.ClusterStep, h.Cluster, h.Evidence = true, r.g.cluster[n.address], ev[n.via]
		if par.address == n.address {
			h.Evidence = "same address"
		}
	}
	return h
}
