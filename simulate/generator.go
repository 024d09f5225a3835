package simulate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// ErrInternal is wrapped when the generator breaks one of its own invariants
// (a transaction that would create money, say); it is a bug.
var ErrInternal = errors.New("simulate: internal error")

// Generator makes the chain block by block. It is not safe for concurrent use.
type Generator struct {
	cfg     Config
	params  *chaincfg.Params
	rng     *rand.Rand
	addrKey uint64
	noise   []byte
	powMax  *big.Int // target to meet, nil when meeting it is out of reach

	next int64 // height of the next block
	prev chainhash.Hash
	time int64 // timestamp of the previous block
	txs  int64 // transactions so far

	// Every address: its owner (index into ents) and script type.
	addrOwner []uint32
	addrType  []uint8

	ents      []entity
	firstUser int
	miners    []int
	exchanges []exchange
	coord     int
	brokers   []broker
	buyers    []buyer
	cartels   []int
	inters    []int
	deposits  []uint32 // deposit address+1 of entity e at exchange x, at e*len(exchanges)+x

	premine       []txOut // starting coins not handed out yet
	premineBlocks int64   // blocks 1 to premineBlocks hand them out
	immature      []coin  // coinbase outputs, oldest first, waiting to mature
	imHeight      []int64
	imMiner       []int
	tasks         [taskRing][]task
	cjRound       uint64

	// The block being built.
	ar      *arena
	height  int64
	blkTxs  []*wire.MsgTx
	txids   []chainhash.Hash
	wtxids  []chainhash.Hash
	fees    int64
	feeRate int64
	tb      txBuilder
	buf     []byte
	scratch []chainhash.Hash

	// Ground truth beyond ownership.
	flows     []flowRec
	coinjoins []txRef
	payouts   []txRef

	err error
}

// New validates cfg and sets up the entities.
func New(cfg Config) (*Generator, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	g := &Generator{
		cfg:    cfg,
		params: cfg.Params,
		rng:    rand.New(rand.NewPCG(uint64(cfg.Seed), 0x7472616365722d73)),
	}
	g.addrKey = g.rng.Uint64()
	g.noise = make([]byte, 1<<14)
	for i := 0; i < len(g.noise); i += 8 {
		binary.LittleEndian.PutUint64(g.noise[i:], g.rng.Uint64())
	}
	// Regtest's pow limit is met by every other hash, so its headers get a
	// real proof of work for free; mainnet's is out of reach and skipped.
	if t := blockchain.CompactToBig(g.params.PowLimitBits); t.BitLen() >= 250 {
		g.powMax = t
	}
	g.setup()
	g.setupPremine()
	return g, nil
}

func (g *Generator) addEntity(kind Kind, ord int, max int) int {
	g.ents = append(g.ents, entity{kind: kind, ord: int32(ord), typ: g.walletType(), w: newWallet(max)})
	return len(g.ents) - 1
}

// newAddr creates an address of type typ owned by entity e.
func (g *Generator) newAddr(e int, typ uint8) uint32 {
	a := uint32(len(g.addrOwner))
	g.addrOwner = append(g.addrOwner, uint32(e))
	g.addrType = append(g.addrType, typ)
	return a
}

func (g *Generator) setup() {
	c := &g.cfg
	for i := 1; i <= c.Miners; i++ {
		e := g.addEntity(KindMiner, i, 512)
		g.ents[e].reuse = true
		g.ents[e].recv[0], g.ents[e].nrecv = g.newAddr(e, g.ents[e].typ), 1
		g.miners = append(g.miners, e)
	}
	for i := 1; i <= c.Exchanges; i++ {
		e := g.addEntity(KindExchange, i, 512)
		x := exchange{ent: e, deposits: newWallet(8192), depType: tP2WPKH}
		if i%3 == 2 {
			x.depType = tP2SH
		}
		x.hot = g.newAddr(e, g.ents[e].typ)
		g.exchanges = append(g.exchanges, x)
	}
	g.coord = g.addEntity(KindCoordinator, 1, 64)
	g.ents[g.coord].reuse, g.ents[g.coord].typ = true, tP2WPKH
	for i := 1; i <= c.Cartels; i++ {
		e := g.addEntity(KindCartel, i, 1<<16)
		g.ents[e].reuse = true
		g.cartels = append(g.cartels, e)
	}
	for i := 1; i <= c.Intermediaries; i++ {
		g.inters = append(g.inters, g.addEntity(KindIntermediary, i, 16))
	}
	for i := 1; i <= c.Brokers; i++ {
		e := g.addEntity(KindBroker, i, 1<<16)
		b := broker{ent: e, cartel: g.rng.IntN(len(g.cartels))}
		for n := 3 + g.rng.IntN(3); n > 0; n-- {
			b.addrs = append(b.addrs, g.newAddr(e, g.ents[e].typ))
		}
		// Two intermediaries each, shared between brokers when there are
		// fewer than twice as many (mules work for more than one).
		for j := 0; j < min(2, len(g.inters)); j++ {
			b.inters = append(b.inters, g.inters[(2*(i-1)+j)%len(g.inters)])
		}
		b.exs = append(b.exs, g.rng.IntN(len(g.exchanges)))
		if len(g.exchanges) > 1 && g.rng.IntN(2) == 0 {
			b.exs = append(b.exs, (b.exs[0]+1)%len(g.exchanges))
		}
		g.brokers = append(g.brokers, b)
	}
	for i := 1; i <= c.Buyers; i++ {
		e := g.addEntity(KindBuyer, i, 1024)
		g.ents[e].reuse = true
		br := (i - 1) % len(g.brokers) // every broker has buyers
		b := buyer{
			ent:    e,
			broker: br,
			addr:   g.brokers[br].addrs[g.rng.IntN(len(g.brokers[br].addrs))],
			amount: int64(5+g.rng.IntN(96)) * 500_000, // 0.025 to 0.5 BTC an order
			cartel: g.rng.IntN(len(g.cartels)),
		}
		g.buyers = append(g.buyers, b)
	}
	g.firstUser = len(g.ents)
	for i := 1; i <= c.Users; i++ {
		e := g.addEntity(KindUser, i, 16)
		g.ents[e].reuse = g.rng.IntN(100) < 35
	}
	g.deposits = make([]uint32, len(g.ents)*len(g.exchanges))
}

// Params is the network the chain is made for.
func (g *Generator) Params() *chaincfg.Params { return g.params }

// Height is the height of the next block Next returns; the number of blocks
// made so far.
func (g *Generator) Height() int64 { return g.next }

// Next makes the next block, height 0 first. After Config.Blocks blocks it
// returns io.EOF. The caller owns the block.
func (g *Generator) Next() (*wire.MsgBlock, error) {
	if g.err != nil {
		return nil, g.err
	}
	if g.cfg.Blocks > 0 && g.next >= int64(g.cfg.Blocks) {
		return nil, io.EOF
	}
	if g.next == 0 {
		return g.genesis(), nil
	}
	g.begin()
	if g.height <= g.premineBlocks {
		g.premineBlock()
	} else {
		g.mature()
		g.fill()
	}
	blk := g.finish()
	if g.err != nil {
		return nil, g.err
	}
	return blk, nil
}

func (g *Generator) begin() {
	g.height = g.next
	g.ar = &arena{}
	n := g.cfg.TxsPerBlock + 16
	g.blkTxs = make([]*wire.MsgTx, 1, n) // the coinbase goes first, made last
	g.txids = append(g.txids[:0], chainhash.Hash{})
	g.wtxids = append(g.wtxids[:0], chainhash.Hash{})
	g.fees = 0
	// Fee rates idle at a few sat/vB and now and then spike.
	if g.rng.IntN(5) == 0 {
		g.feeRate = 5 + int64(g.rng.IntN(40))
	} else {
		g.feeRate = 1 + int64(g.rng.IntN(4))
	}
}

// fill makes the block's transactions: the tasks due, spread at random among
// the background traffic.
func (g *Generator) fill() {
	slot := int(g.height % taskRing)
	due := g.tasks[slot]
	g.tasks[slot] = nil
	due = g.plan(due)
	g.rng.Shuffle(len(due), func(i, j int) { due[i], due[j] = due[j], due[i] })
	slots := max(g.cfg.TxsPerBlock-1, len(due))
	next := 0
	for i := 0; i < slots; i++ {
		if left := len(due) - next; left > 0 && g.rng.IntN(slots-i) < left {
			t := due[next]
			next++
			if g.run(t) {
				continue
			}
		}
		g.background()
	}
}

func (g *Generator) schedule(delay int, t task) {
	delay = min(max(delay, 1), taskRing-1)
	slot := int((g.height + int64(delay)) % taskRing)
	g.tasks[slot] = append(g.tasks[slot], t)
}

// genesis is block 0: the network's own genesis block, so that the chain
// is one that readers of the network accept (they look for it, as Core
// does). Its coinbase output is unspendable, as on every chain.
func (g *Generator) genesis() *wire.MsgBlock {
	gen := g.params.GenesisBlock
	blk := &wire.MsgBlock{Header: gen.Header, Transactions: make([]*wire.MsgTx, len(gen.Transactions))}
	for i, tx := range gen.Transactions {
		blk.Transactions[i] = tx.Copy()
	}
	g.prev, g.time = *g.params.GenesisHash, gen.Header.Timestamp.Unix()
	g.next++
	g.txs += int64(len(blk.Transactions))
	return blk
}

// premineChunk is the most outputs a premine coinbase has, which keeps its
// weight under the 4,000,000 limit.
const premineChunk = 20000

// setupPremine makes the starting coins that blocks 1 to premineBlocks hand
// out: every user a few, buyers a few orders' worth, cartels and exchanges
// their reserves.
func (g *Generator) setupPremine() {
	add := func(value int64, addr uint32, w *wallet) {
		g.premine = append(g.premine, txOut{value: value, addr: addr, to: w})
	}
	for i := range g.exchanges {
		x := &g.exchanges[i]
		for n := 0; n < 60; n++ {
			add(int64(1+g.rng.IntN(20))*100_000_000+g.odd(8), x.hot, &g.ents[x.ent].w)
		}
	}
	for _, e := range g.cartels {
		for n := 0; n < 20; n++ {
			add(int64(1+g.rng.IntN(10))*100_000_000, g.recvAddr(e), &g.ents[e].w)
		}
	}
	for i := range g.buyers {
		b := &g.buyers[i]
		for n := 0; n < 2; n++ {
			add(b.amount*int64(2+g.rng.IntN(3))+g.odd(6), g.recvAddr(b.ent), &g.ents[b.ent].w)
		}
	}
	for u := g.firstUser; u < len(g.ents); u++ {
		for n := 3 + g.rng.IntN(6); n > 0; n-- {
			add(g.amountIn(5, 8), g.recvAddr(u), &g.ents[u].w)
		}
	}
	g.premineBlocks = int64((len(g.premine) + premineChunk - 1) / premineChunk)
}

// premineBlock makes a block whose coinbase hands out the next starting coins.
func (g *Generator) premineBlock() {
	chunk := g.premine[:min(len(g.premine), premineChunk)]
	g.premine = g.premine[len(chunk):]
	var total int64
	for _, o := range chunk {
		total += o.value
	}
	g.coinbase(total, chunk)
	if len(g.premine) == 0 {
		g.premine = nil
	}
}

// mature moves coinbase outputs that have reached maturity to their pools.
func (g *Generator) mature() {
	n := 0
	for n < len(g.immature) && g.imHeight[n]+int64(g.params.CoinbaseMaturity) <= g.height {
		g.ents[g.imMiner[n]].w.add(g.immature[n])
		n++
	}
	g.immature = g.immature[n:]
	g.imHeight = g.imHeight[n:]
	g.imMiner = g.imMiner[n:]
}

// finish puts the coinbase in front and makes the header.
func (g *Generator) finish() *wire.MsgBlock {
	if g.height > g.premineBlocks {
		subsidy := blockchain.CalcBlockSubsidy(int32(g.height), g.params)
		m := g.pickMiner()
		g.tb.reset()
		g.tb.add(subsidy+g.fees, g.ents[m].recv[0], nil)
		cb := g.coinbase(subsidy+g.fees, g.tb.outs)
		g.immature = append(g.immature, coin{op: wire.OutPoint{Hash: cb, Index: 0}, value: subsidy + g.fees, addr: g.ents[m].recv[0]})
		g.imHeight = append(g.imHeight, g.height)
		g.imMiner = append(g.imMiner, m)
	}
	g.scratch = append(g.scratch[:0], g.txids...)
	root := merkleRoot(g.scratch)

	t := g.cfg.StartTime.Unix()
	if g.height > 1 {
		t = g.time + 600 + int64(g.rng.IntN(481)) - 240
	}
	blk := &wire.MsgBlock{
		Header: wire.BlockHeader{
			Version:    0x20000000,
			PrevBlock:  g.prev,
			MerkleRoot: root,
			Timestamp:  time.Unix(t, 0),
			Bits:       g.params.PowLimitBits,
			Nonce:      g.rng.Uint32(),
		},
		Transactions: g.blkTxs,
	}
	hash := g.solve(&blk.Header)
	g.prev, g.time = hash, t
	g.next++
	g.txs += int64(len(g.blkTxs))
	g.blkTxs, g.ar = nil, nil
	return blk
}

// solve looks for a nonce that meets the target, when that is cheap, and
// returns the header's hash.
func (g *Generator) solve(h *wire.BlockHeader) chainhash.Hash {
	var b [80]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(h.Version))
	copy(b[4:], h.PrevBlock[:])
	copy(b[36:], h.MerkleRoot[:])
	binary.LittleEndian.PutUint32(b[68:], uint32(h.Timestamp.Unix()))
	binary.LittleEndian.PutUint32(b[72:], h.Bits)
	for try := 0; ; try++ {
		binary.LittleEndian.PutUint32(b[76:], h.Nonce)
		hash := doubleSHA256(b[:])
		if g.powMax == nil || try == 64 || blockchain.HashToBig(&hash).Cmp(g.powMax) <= 0 {
			return hash
		}
		h.Nonce++
	}
}

func (g *Generator) pickMiner() int {
	// Pools have unequal hash rate: pool i has weight n-i.
	n := len(g.miners)
	r := g.rng.IntN(n * (n + 1) / 2)
	for i := 0; i < n; i++ {
		if r < n-i {
			return g.miners[i]
		}
		r -= n - i
	}
	return g.miners[0]
}

// coinbase makes the coinbase paying outs (worth value) and puts it at the
// front of the block. Blocks with witness transactions get the BIP141
// witness commitment.
func (g *Generator) coinbase(value int64, outs []txOut) chainhash.Hash {
	var tag [8]byte
	binary.LittleEndian.PutUint64(tag[:], g.rng.Uint64())
	sigScript, err := txscript.NewScriptBuilder().
		AddInt64(g.height). // BIP34
		AddData(tag[:]).    // extra nonce
		AddData([]byte("/tracer-sim/")).
		Script()
	if err != nil {
		g.fail(fmt.Errorf("coinbase script: %w", err))
	}
	tx := g.ar.tx()
	tx.Version = 2
	tx.TxIn = g.ar.txIns(1)
	in := tx.TxIn[0]
	in.PreviousOutPoint = wire.OutPoint{Index: wire.MaxPrevOutIndex}
	in.SignatureScript = sigScript
	in.Sequence = wire.MaxTxInSequenceNum
	witness := len(g.blkTxs) > 1
	nOut := len(outs)
	if witness {
		nOut++
	}
	tx.TxOut = g.ar.txOuts(nOut)
	var sum int64
	for i, o := range outs {
		tx.TxOut[i].Value = o.value
		tx.TxOut[i].PkScript = g.pkScript(o.addr)
		sum += o.value
	}
	if sum != value {
		g.fail(fmt.Errorf("%w: coinbase pays %d, want %d", ErrInternal, sum, value))
	}
	if witness {
		// Core's commitment: OP_RETURN aa21a9ed SHA256d(witness root || reserved value),
		// the coinbase's own wtxid counting as zero.
		in.Witness = wire.TxWitness{make([]byte, 32)}
		g.scratch = append(g.scratch[:0], g.wtxids...)
		root := merkleRoot(g.scratch)
		var pre [64]byte
		copy(pre[:], root[:])
		c := doubleSHA256(pre[:])
		s := append(g.ar.bytes(38)[:0], 0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed)
		tx.TxOut[nOut-1].PkScript = append(s, c[:]...)
	}
	g.buf = appendTx(g.buf[:0], tx, false)
	txid := doubleSHA256(g.buf)
	g.blkTxs[0] = tx
	g.txids[0] = txid
	for i, o := range outs {
		if o.to != nil {
			o.to.add(coin{op: wire.OutPoint{Hash: txid, Index: uint32(i)}, value: o.value, addr: o.addr})
		}
	}
	return txid
}

func (g *Generator) fail(err error) {
	if g.err == nil {
		g.err = err
	}
}
