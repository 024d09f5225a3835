package trace

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/labels"
)

// AccountClusters is what an account-chain trace needs of a clusterer:
// the cluster of each address it asks about (absent or 0: none). A move
// between two addresses of one cluster is no hop.
type AccountClusters interface {
	ClustersOf(ctx context.Context, chain string, addrs []string) (map[string]uint32, error)
}

// SetAccountClusters plugs in the clusters of account-chain addresses;
// without them every address is its own owner.
func (t *Tracer) SetAccountClusters(c AccountClusters) { t.acl = c }

// anode is tainted value on an account chain: a transfer that moved it
// (holder: its recipient), the opening balance of an address (money it
// held before the store's first row of it), or the start set's holdings
// (seed, downstream).
type anode struct {
	id      string
	x       *xfer // nil for opening and start nodes
	holder  string
	kind    string // the transfer's kind, "opening" or "start"
	taint   *big.Int
	hop     int
	seed    bool
	parent  *anode
	parents []*anode
	spent   bool // downstream: taint left it; upstream: its sources were followed
	reason  string
	segs    []aseg // fifo: which runs of the transfer are tainted
}

// aseg is a run of base units under fifo, tainted or clean; a tainted run
// remembers the node it came through.
type aseg struct {
	n   *big.Int
	src *anode // nil: clean
}

// leftover is taint an address did not pass on along a followed
// transfer: still held, or gone along transfers the trace did not follow.
type leftover struct {
	held, hopLimit, window, truncated *big.Int
}

type arun struct {
	cfg      Config
	t        *Tracer
	g        *agraph
	nodes    map[string]*anode
	start    map[string]bool
	labels   map[string][]Label
	clLabels map[uint32][]Label
	stop     map[string]bool
	held     map[string]*leftover // downstream, by holder
	capped   string
	reached  int
	minUnits *big.Int
}

// assetMeta is the symbol and decimals of an asset (-1: unknown).
func assetMeta(asset string) (string, int) {
	sym, dec, ok := chain.AssetUnits(asset)
	if !ok {
		return sym, -1
	}
	return sym, dec
}

func (c *Config) accountParams() string {
	s := "chain=eth"
	if c.Asset != "" {
		sym, _ := assetMeta(c.Asset)
		s += " asset=" + c.Asset
		if sym != c.Asset {
			s += "(" + sym + ")"
		}
	}
	min := "0"
	if c.MinUnits != nil {
		min = c.MinUnits.String()
	}
	s += fmt.Sprintf(" model=%s direction=%s hops=%d min-value=%s max-nodes=%d timeout=%s", c.Model, c.Direction, c.Hops, min, c.MaxNodes, c.Timeout)
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
		s += " rounding=floor-per-transfer opening=clean"
	} else {
		s += " opening=clean"
	}
	return s
}

// traceAccount traces an account chain: one result per direction and
// asset.
func (t *Tracer) traceAccount(ctx context.Context, start Start, cfg Config) ([]*Result, error) {
	if len(start.Addresses) == 0 {
		return nil, fmt.Errorf("%w: empty start set %s", ErrConfig, start.Desc)
	}
	assets, known, err := startAssets(ctx, t.conn, start.Addresses)
	if err != nil {
		return nil, err
	}
	if len(known) == 0 {
		var unknown []string
		for _, a := range start.Addresses[:min(5, len(start.Addresses))] {
			unknown = append(unknown, a)
		}
		return nil, fmt.Errorf("%w: %s (never seen on chain eth)", ErrUnknown, strings.Join(unknown, ", "))
	}
	if cfg.Asset != "" {
		if !slices.Contains(assets, cfg.Asset) {
			sym, _ := assetMeta(cfg.Asset)
			return nil, fmt.Errorf("%w: %s never moved %s", ErrNoStartOutput, start.Desc, sym)
		}
		assets = []string{cfg.Asset}
	}
	dirs := []string{cfg.Direction}
	if cfg.Direction == Both {
		dirs = []string{Down, Up}
	}
	lb, clb, err := t.accountLabels(ctx, cfg.LabelsAsOf)
	if err != nil {
		return nil, err
	}
	var out []*Result
	for _, d := range dirs {
		for _, asset := range assets {
			c := cfg
			c.Direction, c.Asset = d, asset
			r, err := t.traceAsset(ctx, start, c, lb, clb)
			if err == ErrNoStartOutput {
				continue // the start set moved other assets, not this one, this way
			}
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoStartOutput, start.Desc)
	}
	return out, nil
}

// accountLabels reads the Ethereum labels in force once per trace.
func (t *Tracer) accountLabels(ctx context.Context, asOf time.Time) (map[string][]Label, map[uint32][]Label, error) {
	lb, clb := map[string][]Label{}, map[uint32][]Label{}
	if t.labels == nil {
		return lb, clb, nil
	}
	ls, err := t.labels.List(ctx, labels.Filter{Chain: chain.ETH, AsOf: asOf})
	if err != nil {
		return nil, nil, fmt.Errorf("trace: reading labels: %w", err)
	}
	for _, l := range ls {
		short := Label{Category: l.Category, Entity: l.Entity, Source: l.Source}
		if l.Address != "" {
			lb[l.Address] = append(lb[l.Address], short)
			continue
		}
		if id, err := strconv.ParseUint(l.Cluster, 10, 32); err == nil {
			clb[uint32(id)] = append(clb[uint32(id)], short)
		}
	}
	return lb, clb, nil
}

func (t *Tracer) traceAsset(ctx context.Context, start Start, cfg Config, lb map[string][]Label, clb map[uint32][]Label) (*Result, error) {
	began := time.Now()
	r := &arun{cfg: cfg, t: t, g: newAGraph(t.conn, cfg.Asset), nodes: map[string]*anode{}, start: map[string]bool{},
		labels: lb, clLabels: clb, stop: map[string]bool{}, held: map[string]*leftover{}, minUnits: cfg.MinUnits}
	if r.minUnits == nil {
		r.minUnits = new(big.Int)
	}
	for _, s := range cfg.StopAt {
		r.stop[s] = true
	}
	for _, a := range start.Addresses {
		r.start[a] = true
	}
	sym, dec := assetMeta(cfg.Asset)
	res := &Result{Start: start.Desc, Direction: cfg.Direction, Model: cfg.Model, Params: cfg.Params(),
		Chain: chain.ETH, Asset: cfg.Asset, Symbol: sym, Decimals: dec}
	if err := r.g.load(ctx, start.Addresses); err != nil {
		return nil, err
	}
	if err := r.g.loadClusters(ctx, t.acl, start.Addresses); err != nil {
		return nil, err
	}
	dirty, seedUnits, seeds := r.seed(start.Addresses)
	if seeds == 0 {
		return nil, ErrNoStartOutput
	}
	res.Seeds, res.SeedUnits = seeds, seedUnits.String()
	rctx, cancel := context.WithDeadline(ctx, began.Add(cfg.Timeout))
	defer cancel()
	for len(dirty) > 0 && r.capped == "" {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if rctx.Err() != nil {
			r.capped = fmt.Sprintf("timeout %s", cfg.Timeout)
			break
		}
		next, err := r.round(rctx, dirty)
		if err != nil && rctx.Err() != nil && ctx.Err() == nil {
			r.capped = fmt.Sprintf("timeout %s", cfg.Timeout)
			break
		}
		if err != nil {
			return nil, err
		}
		dirty = next
	}
	if err := r.g.loadClusters(ctx, t.acl, r.holders()); err != nil {
		return nil, err
	}
	r.endpoints(res)
	res.Capped = r.capped
	res.Nodes = r.reached
	res.Queries = r.g.queries
	res.Elapsed = time.Since(began)
	return res, nil
}

func (r *arun) holders() []string {
	var out []string
	for _, n := range r.nodes {
		out = append(out, n.holder)
	}
	return out
}

func (r *arun) inWindow(t time.Time) bool {
	if !r.cfg.Since.IsZero() && t.Before(r.cfg.Since) {
		return false
	}
	if !r.cfg.Until.IsZero() && t.After(r.cfg.Until) {
		return false
	}
	return true
}

func (r *arun) labelsOf(a string) []Label {
	ls := r.labels[a]
	if c := r.g.cluster[a]; c != 0 {
		ls = append(slices.Clone(ls), r.clLabels[c]...)
	}
	return ls
}

// stopAt returns the stop category of address a, if any.
func (r *arun) stopAt(a string) string {
	for _, l := range r.labelsOf(a) {
		if r.cfg.StopAtAnyLabel || r.stop[l.Category] {
			return l.Category
		}
	}
	return ""
}

// clusterOf is the cluster of an address read so far, 0 for none.
func (r *arun) clusterOf(a string) uint32 { return r.g.cluster[a] }

// stepHop is StepHop for a feed of the account model, whose taint is a
// big integer (it breaks ties apart from the rule).
func (r *arun) stepHop(from *anode, to string) int {
	h, _ := StepHop(Feed{Address: from.holder, Hop: from.hop}, to, r.clusterOf)
	return h
}

// seed makes the start set's nodes: downstream one fully tainted node per
// start address that sent the asset in the window (its outgoing transfers
// are then tainted for their whole value); upstream every transfer the
// start set received in the window, from outside it. It returns the
// addresses to replay, the seeds' value and their number.
func (r *arun) seed(addrs []string) (map[string]bool, *big.Int, int) {
	dirty := map[string]bool{}
	total := new(big.Int)
	seeds := 0
	for _, a := range addrs {
		h := r.g.hist[a]
		if h == nil {
			continue
		}
		for _, e := range h.events {
			if e.kind == evFee || !r.inWindow(e.x.time) {
				continue
			}
			if r.cfg.Direction == Down && e.kind == evOut && !r.start[e.x.to] {
				if r.nodes["start:"+a] == nil {
					r.nodes["start:"+a] = &anode{id: "start:" + a, holder: a, kind: "start", taint: new(big.Int), seed: true}
					dirty[a] = true
				}
				n := r.nodes["start:"+a]
				n.taint.Add(n.taint, e.amount)
				total.Add(total, e.amount)
				seeds++
			}
			if r.cfg.Direction == Up && e.kind == evIn && !r.start[e.x.from] {
				id := e.x.tkey.String()
				if r.nodes[id] != nil {
					continue
				}
				n := &anode{id: id, x: e.x, holder: a, kind: e.x.kind, taint: new(big.Int).Set(e.amount), seed: true}
				r.nodes[id] = n
				dirty[e.x.from] = true
				total.Add(total, e.amount)
				seeds++
			}
		}
	}
	return dirty, total, seeds
}

// round replays every dirty address and returns the addresses whose
// tainted nodes changed.
func (r *arun) round(ctx context.Context, dirty map[string]bool) (map[string]bool, error) {
	addrs := make([]string, 0, len(dirty))
	for a := range dirty {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	if err := r.g.load(ctx, addrs); err != nil {
		return nil, err
	}
	// The clusters of the counterparties decide what is a hop.
	var peers []string
	for _, a := range addrs {
		if h := r.g.hist[a]; h != nil {
			for _, e := range h.events {
				if e.kind != evFee {
					peers = append(peers, e.x.from, e.x.to)
				}
			}
		}
	}
	if err := r.g.loadClusters(ctx, r.t.acl, peers); err != nil {
		return nil, err
	}
	next := map[string]bool{}
	for _, a := range addrs {
		var changed []*anode
		if r.cfg.Direction == Down {
			changed = r.replayDown(a)
		} else {
			changed = r.replayUp(a)
		}
		for _, n := range changed {
			if r.cfg.Direction == Down {
				if r.stopAt(n.holder) == "" {
					next[n.holder] = true
				}
			} else if n.x != nil && r.stopAt(n.holder) == "" && !r.start[n.x.from] {
				next[n.x.from] = true
			}
		}
		if r.capped != "" {
			break
		}
	}
	return next, nil
}

// take removes n base units from the front of a fifo queue and returns
// them as runs.
func take(q *[]aseg, n *big.Int) []aseg {
	need := new(big.Int).Set(n)
	var out []aseg
	for need.Sign() > 0 && len(*q) > 0 {
		s := &(*q)[0]
		if s.n.Cmp(need) <= 0 {
			out = appendASeg(out, aseg{n: new(big.Int).Set(s.n), src: s.src})
			need.Sub(need, s.n)
			*q = (*q)[1:]
			continue
		}
		out = appendASeg(out, aseg{n: new(big.Int).Set(need), src: s.src})
		s.n = new(big.Int).Sub(s.n, need)
		need.SetInt64(0)
	}
	if need.Sign() > 0 { // cannot happen with the opening balance in front; clean if it did
		out = appendASeg(out, aseg{n: need})
	}
	return out
}

func appendASeg(s []aseg, x aseg) []aseg {
	if x.n.Sign() == 0 {
		return s
	}
	if k := len(s) - 1; k >= 0 && s[k].src == x.src {
		s[k].n = new(big.Int).Add(s[k].n, x.n)
		return s
	}
	return append(s, x)
}

// replayDown walks holder a's history in chain order with its tainted
// arrivals and sets the taint of every transfer leaving it after them.
func (r *arun) replayDown(a string) []*anode {
	h := r.g.hist[a]
	if h == nil {
		return nil
	}
	lo := &leftover{held: new(big.Int), hopLimit: new(big.Int), window: new(big.Int), truncated: new(big.Int)}
	r.held[a] = lo
	seed := r.nodes["start:"+a]
	bal := new(big.Int).Set(h.opening)
	T := new(big.Int)
	var feeds []*anode // tainted arrivals so far (haircut, poison)
	var queue []aseg   // fifo
	if h.opening.Sign() > 0 {
		queue = append(queue, aseg{n: new(big.Int).Set(h.opening)})
	}
	var changed []*anode
	for _, e := range h.events {
		switch e.kind {
		case evIn:
			bal.Add(bal, e.amount)
			n := r.nodes[e.x.tkey.String()]
			tainted := n != nil && n.holder == a && n.taint.Sign() > 0
			if r.cfg.Model == FIFO {
				if tainted {
					for _, s := range n.segs {
						queue = appendASeg(queue, aseg{n: s.n, src: srcIf(s.src, n)})
					}
				} else {
					queue = appendASeg(queue, aseg{n: e.amount})
				}
			}
			if tainted {
				T.Add(T, n.taint)
				feeds = append(feeds, n)
			}
			continue
		case evFee:
			switch r.cfg.Model {
			case Haircut:
				T.Sub(T, ShareBig(e.amount, T, bal))
			case FIFO:
				take(&queue, e.amount)
			}
			bal.Sub(bal, e.amount)
			continue
		}
		// An outgoing transfer.
		s := new(big.Int)
		var from []*anode
		var segs []aseg
		switch {
		case seed != nil:
			if r.inWindow(e.x.time) {
				s.Set(e.amount)
				from = []*anode{seed}
				segs = []aseg{{n: new(big.Int).Set(e.amount), src: seed}}
			}
		case r.cfg.Model == Haircut:
			s = ShareBig(e.amount, T, bal)
			T.Sub(T, s)
			from = feeds
		case r.cfg.Model == Poison:
			if len(feeds) > 0 {
				s.Set(e.amount)
				from = feeds
			}
		case r.cfg.Model == FIFO:
			segs = take(&queue, e.amount)
			seen := map[*anode]bool{}
			for _, sg := range segs {
				if sg.src != nil {
					s.Add(s, sg.n)
					if !seen[sg.src] {
						seen[sg.src] = true
						from = append(from, sg.src)
					}
				}
			}
		}
		bal.Sub(bal, e.amount)
		if s.Sign() == 0 || r.start[e.x.to] {
			continue // clean, or back into the start set
		}
		if !r.inWindow(e.x.time) {
			lo.window.Add(lo.window, s)
			continue
		}
		hop, parent := -1, (*anode)(nil)
		for _, f := range from {
			hh := r.stepHop(f, e.x.to)
			if hop < 0 || hh < hop || (hh == hop && f.taint.Cmp(parent.taint) > 0) {
				hop, parent = hh, f
			}
		}
		if hop > r.cfg.Hops {
			lo.hopLimit.Add(lo.hopLimit, s)
			continue
		}
		if s.Cmp(r.minUnits) < 0 {
			continue
		}
		for _, f := range from {
			f.spent = true
		}
		id := e.x.tkey.String()
		n := r.nodes[id]
		if n == nil {
			if r.reached >= r.cfg.MaxNodes {
				r.capped = fmt.Sprintf("max-nodes %d", r.cfg.MaxNodes)
				lo.truncated.Add(lo.truncated, s)
				continue
			}
			n = &anode{id: id, x: e.x, holder: e.x.to, kind: e.x.kind, taint: new(big.Int), hop: hop}
			r.nodes[id] = n
			r.reached++
			changed = append(changed, n)
		} else if n.taint.Cmp(s) != 0 || hop < n.hop {
			changed = append(changed, n)
		}
		n.taint.Set(s)
		n.hop, n.parent, n.parents = hop, parent, slices.Clone(from)
		if r.cfg.Model == FIFO {
			n.segs = segs
		} else {
			n.segs = []aseg{{n: new(big.Int).Set(s), src: n}}
		}
	}
	switch {
	case seed != nil:
	case r.cfg.Model == Haircut:
		lo.held.Set(T)
	case r.cfg.Model == Poison:
		if len(feeds) > 0 {
			lo.held.Set(bal)
		}
	case r.cfg.Model == FIFO:
		for _, s := range queue {
			if s.src != nil {
				lo.held.Add(lo.held, s.n)
			}
		}
	}
	return changed
}

// srcIf: a tainted run of an arrival enters its holder's queue as coming
// through the arrival.
func srcIf(src, n *anode) *anode {
	if src == nil {
		return nil
	}
	return n
}

// replayUp walks address a's history in chain order and shares the taint
// of each tainted transfer that left it among what a held at that moment:
// the transfers it had received and its opening balance.
func (r *arun) replayUp(a string) []*anode {
	h := r.g.hist[a]
	if h == nil {
		return nil
	}
	type src struct {
		x     *xfer // nil: opening balance
		rem   *big.Int
		share *big.Int
		feeds []*anode
	}
	open := &src{rem: new(big.Int).Set(h.opening), share: new(big.Int)}
	live := []*src{}
	all := []*src{}
	if h.opening.Sign() > 0 {
		live = append(live, open)
		all = append(all, open)
	}
	bal := new(big.Int).Set(h.opening)
	outflow := func(v *big.Int) {
		if r.cfg.Model == Haircut {
			k := 0
			for _, s := range live {
				s.rem.Sub(s.rem, ShareBig(s.rem, v, bal))
				if s.rem.Sign() > 0 {
					live[k] = s
					k++
				}
			}
			live = live[:k]
		}
		bal.Sub(bal, v)
	}
	for _, e := range h.events {
		switch e.kind {
		case evIn:
			s := &src{x: e.x, rem: new(big.Int).Set(e.amount), share: new(big.Int)}
			live, all = append(live, s), append(all, s)
			bal.Add(bal, e.amount)
			continue
		case evFee:
			outflow(e.amount)
			continue
		}
		n := r.nodes[e.x.tkey.String()]
		if n != nil && n.taint.Sign() > 0 && r.stopAt(n.holder) == "" {
			if !r.inWindow(e.x.time) {
				if n.reason == "" {
					n.reason = "time-window"
				}
			} else {
				n.spent = true
				switch r.cfg.Model {
				case Haircut:
					sum := new(big.Int)
					for _, s := range live {
						sum.Add(sum, s.rem)
					}
					for _, s := range live {
						if sh := ShareBig(n.taint, s.rem, sum); sh.Sign() > 0 {
							s.share.Add(s.share, sh)
							s.feeds = append(s.feeds, n)
						}
					}
				case Poison:
					for _, s := range all {
						if s.x == nil {
							s.share.Set(h.opening)
						} else {
							s.share.Set(s.x.value)
						}
						s.feeds = append(s.feeds, n)
					}
				}
			}
		}
		outflow(e.amount)
	}
	var changed []*anode
	for _, s := range all {
		if s.share.Sign() == 0 {
			continue
		}
		hop, parent := -1, (*anode)(nil)
		for _, f := range s.feeds {
			hh := r.stepHop(f, a)
			if hop < 0 || hh < hop || (hh == hop && f.taint.Cmp(parent.taint) > 0) {
				hop, parent = hh, f
			}
		}
		if hop > r.cfg.Hops {
			for _, f := range s.feeds {
				if f.reason == "" {
					f.reason = "hop-limit"
				}
			}
			continue
		}
		if s.share.Cmp(r.minUnits) < 0 {
			continue
		}
		id, kind := "opening:"+a, "opening"
		if s.x != nil {
			if r.start[s.x.from] {
				continue // from the start set itself
			}
			id, kind = s.x.tkey.String(), s.x.kind
		}
		n := r.nodes[id]
		if n == nil {
			if r.reached >= r.cfg.MaxNodes {
				r.capped = fmt.Sprintf("max-nodes %d", r.cfg.MaxNodes)
				parent.reason = "truncated"
				continue
			}
			n = &anode{id: id, x: s.x, holder: a, kind: kind, taint: new(big.Int), hop: hop}
			if s.x == nil {
				n.reason = "not-stored"
			}
			r.nodes[id] = n
			r.reached++
			changed = append(changed, n)
		} else if n.seed {
			continue
		} else if n.taint.Cmp(s.share) != 0 || hop < n.hop {
			changed = append(changed, n)
		}
		n.taint.Set(s.share)
		n.hop, n.parent, n.parents = hop, parent, slices.Clone(s.feeds)
	}
	return changed
}
