package simulate

import "github.com/btcsuite/btcd/chaincfg/chainhash"

// The planted scenario: buyers pay precursor brokers fixed amounts; brokers
// send their takings through intermediaries to their exchange deposit
// addresses and to cartel wallets; cartels top up the buyers.

// plan adds the scenario's transactions for this block to due.
func (g *Generator) plan(due []task) []task {
	for i := range g.buyers {
		b := &g.buyers[i]
		if g.rng.IntN(8) == 0 {
			due = append(due, task{kind: taskPurchase, who: i})
		}
		if !b.funding && g.ents[b.ent].w.balance < 3*b.amount {
			b.funding = true
			due = append(due, task{kind: taskFunding, who: i})
		}
	}
	for i := range g.brokers {
		if len(g.ents[g.brokers[i].ent].w.coins) >= 3 && g.rng.IntN(4) == 0 {
			due = append(due, task{kind: taskForward, who: i})
		}
	}
	return due
}

// gather spends coins of w, at random, until they cover amount, the fee and
// change; false (and nothing spent) when w cannot.
func (g *Generator) gather(w *wallet, amount int64) bool {
	tb := &g.tb
	enough := func() bool { return tb.sumIn >= amount+g.feeFor(tb.weight+2*maxOutWeight)+dust }
	for len(w.coins) > 0 && !enough() {
		g.spend(w, g.rng.IntN(len(w.coins)))
	}
	if !enough() {
		g.refund()
		return false
	}
	return true
}

// tagged is the index of the output tagged tag.
func (g *Generator) tagged(tag uint8) int {
	for i, o := range g.tb.outs {
		if o.tag == tag {
			return i
		}
	}
	return -1
}

// purchase is buyer i paying its broker for an order: its usual amount,
// sometimes a double order, mostly to the same broker address.
func (g *Generator) purchase(i int) bool {
	b := &g.buyers[i]
	br := &g.brokers[b.broker]
	w := &g.ents[b.ent].w
	amt := b.amount
	if g.rng.IntN(100) < 15 {
		amt *= 2
	}
	g.reset()
	if !g.gather(w, amt) {
		return false
	}
	tb := &g.tb
	to := b.addr
	if g.rng.IntN(100) < 20 {
		to = br.addrs[g.rng.IntN(len(br.addrs))]
	}
	pay := g.out(amt, to, &g.ents[br.ent].w)
	tb.outs[pay].tag = 1
	chg := g.out(0, g.changeAddr(b.ent, tb.ins[0].addr), w)
	tb.outs[chg].value = tb.sumIn - amt - g.fee()
	g.shuffleOuts()
	txid := g.emit()
	b.purchases++
	g.flow(FlowPurchase, b.ent, br.ent, g.tagged(1), txid, []chainhash.Hash{txid}, 0)
	return true
}

// forward is broker i sending what it has taken in to one of its
// intermediaries, now and then keeping a float on a fresh address.
func (g *Generator) forward(i int) bool {
	br := &g.brokers[i]
	w := &g.ents[br.ent].w
	g.reset()
	for k := min(len(w.coins), 100); k > 0; k-- {
		g.spend(w, len(w.coins)-1)
	}
	tb := &g.tb
	if tb.sumIn-g.feeFor(tb.weight+2*maxOutWeight) < 100*dust {
		g.refund()
		return false
	}
	inter := br.inters[g.rng.IntN(len(br.inters))]
	h := g.out(0, g.newAddr(inter, g.ents[inter].typ), nil)
	tb.outs[h].tag = 1
	keep := -1
	if g.rng.IntN(100) < 30 {
		keep = g.out(0, g.newAddr(br.ent, g.ents[br.ent].typ), w)
	}
	avail := tb.sumIn - g.fee()
	if keep >= 0 {
		kv := avail * int64(10+g.rng.IntN(21)) / 100
		tb.outs[keep].value = kv
		avail -= kv
	}
	tb.outs[h].value = avail
	g.shuffleOuts()
	txid := g.emit()
	o := tb.outs[g.tagged(1)]
	ch := &fwdChain{broker: i, hops: 1 + g.rng.IntN(3), path: []chainhash.Hash{txid}}
	g.schedule(1+g.rng.IntN(2), task{kind: taskHop, who: inter, steps: 1, chain: ch,
		c: coin{op: outPoint(txid, g.tagged(1)), value: o.value, addr: o.addr}})
	return true
}

// hop moves broker money one step on from the intermediary holding it: to
// the next intermediary, peeling off a part to a destination on the way or
// not, or, at the end of the chain, all of it to a destination.
func (g *Generator) hop(t task) bool {
	ch := t.chain
	br := &g.brokers[ch.broker]
	w := &g.ents[t.who].w
	g.reset()
	g.spendCoin(t.c, w)
	tb := &g.tb
	if t.c.value-g.feeFor(tb.weight+2*maxOutWeight) < 20*dust {
		g.refund() // too little to move on: it stays with the intermediary
		return false
	}
	final := t.steps >= ch.hops
	peel := !final && g.rng.IntN(2) == 0
	var kind FlowKind
	dest, toEnt := -1, -1
	if final || peel {
		if g.rng.IntN(100) < 40 {
			c := g.cartels[br.cartel]
			kind, toEnt = FlowCartel, c
			dest = g.out(0, g.recvAddr(c), &g.ents[c].w)
		} else {
			x := br.exs[g.rng.IntN(len(br.exs))]
			kind, toEnt = FlowCashOut, g.exchanges[x].ent
			dest = g.out(0, g.depositAddr(br.ent, x), &g.exchanges[x].deposits)
		}
		tb.outs[dest].tag = 1
	}
	next, nextInter := -1, -1
	if !final {
		nextInter = br.inters[g.rng.IntN(len(br.inters))]
		next = g.out(0, g.newAddr(nextInter, g.ents[nextInter].typ), nil)
		tb.outs[next].tag = 2
	}
	avail := tb.sumIn - g.fee()
	switch {
	case final:
		tb.outs[dest].value = avail
	case peel:
		pv := avail * int64(20+g.rng.IntN(26)) / 100
		tb.outs[dest].value, tb.outs[next].value = pv, avail-pv
	default:
		tb.outs[next].value = avail
	}
	g.shuffleOuts()
	txid := g.emit()
	ch.path = append(ch.path, txid)
	if dest >= 0 {
		g.flow(kind, br.ent, toEnt, g.tagged(1), txid, ch.path, t.steps)
	}
	if !final {
		i := g.tagged(2)
		o := tb.outs[i]
		g.schedule(1+g.rng.IntN(3), task{kind: taskHop, who: nextInter, steps: t.steps + 1, chain: ch,
			c: coin{op: outPoint(txid, i), value: o.value, addr: o.addr}})
	}
	return true
}

// fund is buyer i's cartel topping it up for several more orders.
func (g *Generator) fund(i int) bool {
	b := &g.buyers[i]
	b.funding = false
	c := g.cartels[b.cartel]
	w := &g.ents[c].w
	amt := b.amount * int64(4+g.rng.IntN(5))
	g.reset()
	if !g.gather(w, amt) {
		return false
	}
	tb := &g.tb
	pay := g.out(amt, g.recvAddr(b.ent), &g.ents[b.ent].w)
	tb.outs[pay].tag = 1
	chg := g.out(0, g.recvAddr(c), w)
	tb.outs[chg].value = tb.sumIn - amt - g.fee()
	g.shuffleOuts()
	txid := g.emit()
	g.flow(FlowFunding, c, b.ent, g.tagged(1), txid, []chainhash.Hash{txid}, 0)
	return true
}

// flow records a planted flow paid by output vout of the transaction just
// made.
func (g *Generator) flow(kind FlowKind, from, to, vout int, txid chainhash.Hash, path []chainhash.Hash, hops int) {
	o := g.tb.outs[vout]
	g.flows = append(g.flows, flowRec{
		kind: kind, from: from, to: to, addr: o.addr, amount: o.value,
		txid: txid, vout: uint32(vout), height: g.height, hops: hops,
		path: append([]chainhash.Hash(nil), path...),
	})
}
