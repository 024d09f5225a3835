package trace

import (
	"math/big"
	"sort"
)

// endpoints fills res with the endpoints, their paths and the taint
// graph's steps.
func (r *arun) endpoints(res *Result) {
	type ep struct {
		n      *anode // where the path to it ends
		addr   string
		amount *big.Int
		value  *big.Int
		reason string
	}
	var eps []ep
	byHolder := map[string][]*anode{}
	for _, n := range r.nodes {
		if n.seed {
			continue
		}
		byHolder[n.holder] = append(byHolder[n.holder], n)
		stop := r.stopAt(n.holder)
		value := n.taint
		if n.x != nil {
			value = n.x.value
		}
		switch {
		case stop != "":
			eps = append(eps, ep{n, n.holder, n.taint, value, "stop:" + stop})
		case r.cfg.Direction == Up && n.reason != "":
			eps = append(eps, ep{n, n.holder, n.taint, value, n.reason})
		case r.cfg.Direction == Up && !n.spent:
			eps = append(eps, ep{n, n.holder, n.taint, value, "truncated"})
		case len(r.labelsOf(n.holder)) > 0:
			eps = append(eps, ep{n, n.holder, n.taint, value, "labelled"})
		}
	}
	if r.cfg.Direction == Down {
		for a, ns := range byHolder {
			if r.stopAt(a) != "" {
				continue
			}
			// The path to a leftover is the path of the address's
			// closest tainted arrival.
			best := ns[0]
			for _, n := range ns[1:] {
				if n.hop < best.hop || (n.hop == best.hop && (n.taint.Cmp(best.taint) > 0 || (n.taint.Cmp(best.taint) == 0 && n.id < best.id))) {
					best = n
				}
			}
			lo := r.held[a]
			if lo == nil { // a cap stopped the trace before a was replayed
				sum := new(big.Int)
				for _, n := range ns {
					sum.Add(sum, n.taint)
				}
				eps = append(eps, ep{best, a, sum, sum, "truncated"})
				continue
			}
			end := new(big.Int)
			if h := r.g.hist[a]; h != nil {
				end = h.end
			}
			for _, k := range []struct {
				v      *big.Int
				reason string
			}{{lo.held, "unspent"}, {lo.hopLimit, "hop-limit"}, {lo.window, "time-window"}, {lo.truncated, "truncated"}} {
				if k.v.Sign() > 0 {
					eps = append(eps, ep{best, a, k.v, end, k.reason})
				}
			}
		}
	}
	sort.Slice(eps, func(i, j int) bool {
		a, b := eps[i], eps[j]
		if a.n.hop != b.n.hop {
			return a.n.hop < b.n.hop
		}
		if a.addr != b.addr {
			return a.addr < b.addr
		}
		if a.n.id != b.n.id {
			return a.n.id < b.n.id
		}
		return a.reason < b.reason
	})
	for _, e := range eps {
		out := Endpoint{Address: e.addr, Cluster: r.g.cluster[e.addr], Labels: r.labelsOf(e.addr), AmountUnits: e.amount.String(),
			ValueUnits: e.value.String(), Hops: e.n.hop, Reason: e.reason, Kind: e.n.kind}
		if x := e.n.x; x != nil {
			out.Txid, out.N, out.Height = x.txid, x.idx, uint32(x.height)
		}
		for p, k := e.n, 0; p != nil && !p.seed && p.parent != nil && k <= len(r.nodes); p, k = p.parent, k+1 {
			out.Path = append(out.Path, r.step(p, p.parent))
		}
		for i, j := 0, len(out.Path)-1; i < j; i, j = i+1, j-1 {
			out.Path[i], out.Path[j] = out.Path[j], out.Path[i]
		}
		res.Endpoints = append(res.Endpoints, out)
	}
	for _, n := range r.nodes {
		for _, p := range n.parents {
			res.Steps = append(res.Steps, r.step(n, p))
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
}

// step is the move of taint into n from its parent par: downstream along
// n's transfer, upstream along par's (n's holder paid par's holder).
func (r *arun) step(n, par *anode) Hop {
	via := n.x
	h := Hop{Output: n.id, Input: par.id, AmountUnits: n.taint.String(), From: par.holder, To: n.holder}
	if r.cfg.Direction == Up {
		via = par.x
		h.From, h.To = n.holder, par.holder
	}
	if via != nil {
		h.Txid, h.Height, h.Time = via.txid, uint32(via.height), via.time
		h.From, h.To = via.from, via.to
	}
	if SameOwner(h.From, h.To, r.clusterOf) {
		h.ClusterStep, h.Cluster = true, r.g.cluster[h.To]
		if h.From == h.To {
			h.Evidence = "same address"
		}
	}
	return h
}
