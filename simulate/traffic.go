package simulate

// The background: ordinary users paying each other and their exchanges,
// exchanges sweeping deposits and paying out in batches, pools paying miners,
// consolidations, peel chains and CoinJoins.

// The background mix: cumulative chances in 10,000 that a background
// transaction is of a kind; the rest are payments, and so is any that cannot
// be made.
const (
	mixConsolidate = 750
	mixSweep       = mixConsolidate + 200
	mixPayout      = mixSweep + 110
	mixPool        = mixPayout + 20
	mixCoinJoin    = mixPool + 10
	mixPeel        = mixCoinJoin + 50
)

// background makes one transaction of ordinary traffic. The mix is tuned so
// that at mainnet density a transaction has about 2.3 inputs and 2.6
// outputs, as mainnet's have.
func (g *Generator) background() {
	r := g.rng.IntN(10000)
	ok := false
	switch {
	case r < mixConsolidate:
		ok = g.consolidate()
	case r < mixSweep:
		ok = g.sweep(&g.exchanges[g.rng.IntN(len(g.exchanges))])
	case r < mixPayout:
		x := &g.exchanges[g.rng.IntN(len(g.exchanges))]
		ok = g.batchPayout(x.ent, x.hot)
	case r < mixPool:
		ok = g.minerPayout()
	case r < mixCoinJoin:
		ok = g.coinjoin()
	case r < mixPeel:
		ok = g.startPeel()
	}
	for try := 0; !ok && try < 4; try++ {
		ok = g.payment()
	}
}

// pickUser is a user with at least n coins, -1 when a few tries find none.
func (g *Generator) pickUser(n int) int {
	users := len(g.ents) - g.firstUser
	for try := 0; try < 16; try++ {
		u := g.firstUser + g.rng.IntN(users)
		if len(g.ents[u].w.coins) >= n {
			return u
		}
	}
	return -1
}

// randomUser is any user but not.
func (g *Generator) randomUser(not int) int {
	users := len(g.ents) - g.firstUser
	for {
		u := g.firstUser + g.rng.IntN(users)
		if u != not {
			return u
		}
	}
}

// recvAddr is an address entity e hands out to be paid: a fresh one, or for
// reusing entities mostly one of a few it hands out again and again.
func (g *Generator) recvAddr(e int) uint32 {
	en := &g.ents[e]
	if en.reuse && en.nrecv > 0 && (int(en.nrecv) == len(en.recv) || g.rng.IntN(100) < 85) {
		return en.recv[g.rng.IntN(int(en.nrecv))]
	}
	a := g.newAddr(e, en.typ)
	if en.reuse && int(en.nrecv) < len(en.recv) {
		en.recv[en.nrecv] = a
		en.nrecv++
	}
	return a
}

// payAddr is recvAddr for user-to-user payments, with the odd P2PK and bare
// multisig output that mainnet still sees.
func (g *Generator) payAddr(e int) uint32 {
	switch r := g.rng.IntN(1000); {
	case r < 4:
		return g.newAddr(e, tP2PK)
	case r < 6:
		return g.newAddr(e, tMultisig)
	}
	return g.recvAddr(e)
}

// keeps is the wallet user u receives a payment into, or nil when u puts
// it away: in cold storage, lost, held for years. The coin stays unspent on
// the chain, which is how mainnet's UTXO set grows by about 0.3 outputs a
// transaction.
func (g *Generator) keeps(u int) *wallet {
	if g.rng.IntN(100) < holdPercent {
		return nil
	}
	return &g.ents[u].w
}

// holdPercent of the payments users receive are put away for good.
const holdPercent = 20

// changeAddr is where e's change goes: back to the spent address in, as
// reusing wallets do, or to a fresh one.
func (g *Generator) changeAddr(e int, in uint32) uint32 {
	en := &g.ents[e]
	if t := g.addrType[in]; t != tP2PK && t != tMultisig && int(g.addrOwner[in]) == e {
		if (en.reuse && g.rng.IntN(100) < 60) || g.rng.IntN(100) < 4 {
			return in
		}
	}
	return g.newAddr(e, en.typ)
}

// depositAddr is customer e's deposit address at exchange x, made on first use
// and reused after, as exchanges do.
func (g *Generator) depositAddr(e, x int) uint32 {
	i := e*len(g.exchanges) + x
	if g.deposits[i] == 0 {
		g.deposits[i] = g.newAddr(g.exchanges[x].ent, g.exchanges[x].depType) + 1
	}
	return g.deposits[i] - 1
}

// inputCount is how many coins a payment spends.
func (g *Generator) inputCount() int {
	switch r := g.rng.IntN(100); {
	case r < 55:
		return 1
	case r < 80:
		return 2
	case r < 90:
		return 3
	case r < 95:
		return 4
	}
	return 5 + g.rng.IntN(6)
}

// payment is a user paying another user or one of their exchanges, with
// change, now and then with an OP_RETURN.
func (g *Generator) payment() bool {
	u := g.pickUser(1)
	if u < 0 {
		return false
	}
	w := &g.ents[u].w
	g.reset()
	for k := g.inputCount(); k > 0 && len(w.coins) > 0; k-- {
		g.spend(w, g.rng.IntN(len(w.coins)))
	}
	tb := &g.tb
	withData := g.rng.IntN(100) < 2
	if tb.sumIn-g.feeFor(tb.weight+3*maxOutWeight) < 2*dust {
		g.refund()
		return false
	}
	// Deposits to exchanges are mostly most of what the coins hold (cashing
	// out); other payments are an amount of their own, capped by the coins.
	var pay int
	deposit := g.rng.IntN(100) < 14
	if deposit {
		x := g.rng.IntN(len(g.exchanges))
		pay = g.out(0, g.depositAddr(u, x), &g.exchanges[x].deposits)
	} else {
		v := g.randomUser(u)
		pay = g.out(0, g.payAddr(v), g.keeps(v))
	}
	if withData {
		g.opReturn()
	}
	all := g.rng.IntN(100) < 6 || (deposit && g.rng.IntN(2) == 0)
	chg := -1
	if !all {
		chg = g.out(0, g.changeAddr(u, tb.ins[0].addr), w)
	}
	avail := tb.sumIn - g.fee()
	amt := avail
	switch {
	case all:
	case deposit:
		amt = max(avail*int64(30+g.rng.IntN(70))/100, dust)
	default:
		amt = max(min(g.amountIn(4, 8), avail*int64(10+g.rng.IntN(81))/100), dust)
	}
	if chg >= 0 && avail-amt < dust {
		g.dropOut(chg) // change below dust is not worth an output: the miner gets it
		chg = -1
	}
	tb.outs[pay].value = amt
	if chg >= 0 {
		tb.outs[chg].value = avail - amt
	}
	g.shuffleOuts()
	g.emit()
	return true
}

// consolidate is a user merging many small coins into one.
func (g *Generator) consolidate() bool {
	u, most := -1, 0
	for try := 0; try < 8; try++ {
		v := g.pickUser(6)
		if v >= 0 && len(g.ents[v].w.coins) > most {
			u, most = v, len(g.ents[v].w.coins)
		}
	}
	if u < 0 {
		return false
	}
	w := &g.ents[u].w
	g.reset()
	for k := 6 + g.rng.IntN(most-5); k > 0; k-- {
		g.spend(w, g.rng.IntN(len(w.coins)))
	}
	tb := &g.tb
	if tb.sumIn-g.feeFor(tb.weight+maxOutWeight) < dust {
		g.refund()
		return false
	}
	to := g.changeAddr(u, tb.ins[0].addr)
	o := g.out(0, to, w)
	tb.outs[o].value = tb.sumIn - g.fee()
	g.emit()
	return true
}

// sweep is exchange x moving the coins on its deposit addresses to its hot
// wallet, once enough have come in.
func (g *Generator) sweep(x *exchange) bool {
	if len(x.deposits.coins) < 20 {
		return false
	}
	g.reset()
	for k := min(len(x.deposits.coins), 20+g.rng.IntN(80)); k > 0; k-- {
		g.spend(&x.deposits, len(x.deposits.coins)-1)
	}
	tb := &g.tb
	if tb.sumIn-g.feeFor(tb.weight+maxOutWeight) < dust {
		g.refund()
		return false
	}
	o := g.out(0, x.hot, &g.ents[x.ent].w)
	tb.outs[o].value = tb.sumIn - g.fee()
	g.emit()
	return true
}

// minerPayout is a mining pool paying its miners from matured coinbases.
func (g *Generator) minerPayout() bool {
	m := g.miners[g.rng.IntN(len(g.miners))]
	if g.ents[m].w.balance < 100_000_000 {
		return false
	}
	return g.batchPayout(m, g.ents[m].recv[0])
}

// batchPayout is entity e paying 20 to 200 users from its largest coins, the
// change back to its address change. The amounts follow the balance, so
// that what exchanges and pools pay out keeps up with what comes in.
func (g *Generator) batchPayout(e int, change uint32) bool {
	w := &g.ents[e].w
	hi := 7
	switch {
	case w.balance > 1000*1e8:
		hi = 8
	case w.balance < 50*1e8:
		hi = 6
	}
	if len(w.coins) == 0 {
		return false
	}
	g.reset()
	g.spend(w, w.largest())
	if len(w.coins) > 0 && g.rng.IntN(3) == 0 {
		g.spend(w, w.largest())
	}
	tb := &g.tb
	chg := g.out(0, change, w)
	n := 20 + g.rng.IntN(g.rng.IntN(181)+1)
	var sum int64
	for i := 0; i < n; i++ {
		v := g.amountIn(hi-3, hi)
		if sum+v+dust+g.feeFor(tb.weight+maxOutWeight) > tb.sumIn {
			break
		}
		u := g.randomUser(-1)
		g.out(v, g.payAddr(u), g.keeps(u))
		sum += v
	}
	if len(tb.outs) == 1 {
		g.refund()
		return false
	}
	// Too little money for 20 payees still pays those it has addresses for,
	// but it is no batch.
	batch := len(tb.outs) > 20
	tb.outs[chg].value = tb.sumIn - sum - g.fee()
	g.shuffleOuts()
	txid := g.emit()
	if batch {
		g.payouts = append(g.payouts, txRef{txid: txid, height: g.height, entity: e})
	}
	return true
}

// denominations of CoinJoin rounds, in satoshi.
var denominations = [...]int64{100_000, 1_000_000, 5_000_000, 10_000_000, 50_000_000}

// coinjoin is a CoinJoin round: 5 to 50 users, each spending 1 to 3 of their
// own coins, get an output of the round's denomination each and their change;
// the coordinator takes a fee.
func (g *Generator) coinjoin() bool {
	d := denominations[g.rng.IntN(len(denominations))]
	want := 5 + g.rng.IntN(46)
	coordFee := d * 3 / 1000
	g.cjRound++
	g.reset()
	tb := &g.tb
	type part struct {
		u       int
		typ     uint8
		in, fee int64 // what it puts in, what it pays in fees
	}
	parts := make([]part, 0, want)
	for try := 0; try < 6*want && len(parts) < want; try++ {
		u := g.pickUser(1)
		if u < 0 {
			continue
		}
		en := &g.ents[u]
		if en.mark == g.cjRound || en.w.balance < d+d/10 {
			continue
		}
		typ := uint8(tP2WPKH)
		if en.typ == tP2TR {
			typ = tP2TR
		}
		first, w0, s0 := len(tb.ins), tb.weight, tb.sumIn
		// Each pays the mining fee of its inputs and two outputs, and the
		// coordinator's fee.
		need := func() int64 { return d + coordFee + g.feeFor(tb.weight-w0+2*outWeight[typ]+4) }
		for k := 0; k < 3 && len(en.w.coins) > 0 && tb.sumIn-s0 < need()+d/20; k++ {
			g.spend(&en.w, g.rng.IntN(len(en.w.coins)))
		}
		if tb.sumIn-s0 < need()+d/20 {
			for i := len(tb.ins) - 1; i >= first; i-- {
				en.w.add(tb.ins[i])
			}
			tb.ins, tb.from, tb.sumIn, tb.weight = tb.ins[:first], tb.from[:first], s0, w0
			continue
		}
		en.mark = g.cjRound
		parts = append(parts, part{u: u, typ: typ, in: tb.sumIn - s0, fee: need() - d})
	}
	if len(parts) < 5 {
		g.refund()
		return false
	}
	var coord int64
	for _, p := range parts {
		g.out(d, g.newAddr(p.u, p.typ), &g.ents[p.u].w)
		if chg := p.in - d - p.fee; chg >= dust { // smaller change goes to the miners
			g.out(chg, g.newAddr(p.u, p.typ), &g.ents[p.u].w)
		}
		coord += coordFee
	}
	g.out(coord, g.recvAddr(g.coord), &g.ents[g.coord].w)
	g.shuffleIns()
	g.shuffleOuts()
	txid := g.emit()
	g.coinjoins = append(g.coinjoins, txRef{txid: txid, height: g.height, entity: g.coord})
	return true
}

// startPeel starts a peel chain: a user with a large coin pays small amounts
// from it step after step, block after block, the rest moving on to a fresh
// address of its own each time.
func (g *Generator) startPeel() bool {
	u, best, bestV := -1, -1, int64(20_000_000)
	for try := 0; try < 8; try++ {
		v := g.pickUser(1)
		if v < 0 {
			continue
		}
		if i := g.ents[v].w.largest(); g.ents[v].w.coins[i].value > bestV {
			u, best, bestV = v, i, g.ents[v].w.coins[i].value
		}
	}
	if u < 0 {
		return false
	}
	c := g.ents[u].w.remove(best)
	return g.peelStep(task{kind: taskPeel, who: u, steps: 3 + g.rng.IntN(12), c: c})
}

func (g *Generator) peelStep(t task) bool {
	w := &g.ents[t.who].w
	g.reset()
	g.spendCoin(t.c, w)
	tb := &g.tb
	if t.c.value-g.feeFor(tb.weight+2*maxOutWeight) < 10*dust {
		g.refund()
		return false
	}
	v := g.randomUser(t.who)
	pay := g.out(0, g.payAddr(v), g.keeps(v))
	last := t.steps <= 1
	var rest int
	if last {
		rest = g.out(0, g.newAddr(t.who, g.ents[t.who].typ), w)
	} else {
		rest = g.out(0, g.newAddr(t.who, g.ents[t.who].typ), nil)
	}
	tb.outs[rest].tag = 1
	avail := tb.sumIn - g.fee()
	amt := min(g.amountIn(4, 8), avail/4)
	amt = max(amt, dust)
	tb.outs[pay].value, tb.outs[rest].value = amt, avail-amt
	g.shuffleOuts()
	txid := g.emit()
	if !last {
		for i, o := range tb.outs {
			if o.tag == 1 {
				t.c = coin{op: outPoint(txid, i), value: o.value, addr: o.addr}
			}
		}
		t.steps--
		g.schedule(1+g.rng.IntN(2), t)
	}
	return true
}

// run makes the transaction of a task; false when it cannot be made now.
func (g *Generator) run(t task) bool {
	switch t.kind {
	case taskPeel:
		return g.peelStep(t) // a failed step refunds the coin to its owner
	case taskHop:
		return g.hop(t)
	case taskPurchase:
		return g.purchase(t.who)
	case taskForward:
		return g.forward(t.who)
	case taskFunding:
		return g.fund(t.who)
	}
	return false
}
