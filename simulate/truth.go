package simulate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// Truth is what really happened on the generated chain: who owns every
// address, and the planted flows. Amounts are satoshi.
type Truth struct {
	Network string `json:"network"` // chaincfg name: regtest, mainnet, ...
	Seed    int64  `json:"seed"`
	Blocks  int64  `json:"blocks"` // heights 0 to Blocks-1
	Tip     string `json:"tip,omitempty"`
	Txs     int64  `json:"txs"`
	// PremineBlocks: the coinbases of heights 1 to PremineBlocks hand out
	// the starting coins; the traffic starts after them.
	PremineBlocks int64 `json:"premine_blocks"`

	// Entities lists everyone with all of their addresses, so every address
	// on the chain (OP_RETURN and the genesis output aside) has exactly one
	// owner here. Deposit addresses belong to their exchange; Deposits says
	// whose they are.
	Entities []Entity  `json:"entities"`
	Deposits []Deposit `json:"deposits"`

	// Flows are the planted payments, in chain order.
	Flows []Flow `json:"flows"`

	CoinJoins    []TxRef `json:"coinjoins"`     // CoinJoin-like transactions
	BatchPayouts []TxRef `json:"batch_payouts"` // exchange and mining pool batch payouts
}

// Entity is one owner of addresses.
type Entity struct {
	ID        int      `json:"id"`
	Name      string   `json:"name"`
	Kind      Kind     `json:"kind"`
	Note      string   `json:"note,omitempty"`
	Addresses []string `json:"addresses"` // in order of creation
}

// Deposit is a customer's deposit address at an exchange.
type Deposit struct {
	Address  string `json:"address"`
	Exchange int    `json:"exchange"` // entity id
	Customer int    `json:"customer"` // entity id
}

// FlowKind says what a planted flow is.
type FlowKind string

// Kinds of planted flows.
const (
	FlowPurchase FlowKind = "purchase"       // buyer pays broker
	FlowCashOut  FlowKind = "cash-out"       // broker, through intermediaries, to its exchange deposit address
	FlowCartel   FlowKind = "cartel-payment" // broker, through intermediaries, to a cartel wallet
	FlowFunding  FlowKind = "buyer-funding"  // cartel tops up a buyer
)

// Flow is one planted payment: output Vout of Txid pays Amount to Address,
// which To owns, with money of From. Path is the chain of transactions that
// carried it, From's own spend first and Txid last; Hops is the number of
// intermediaries on the way (len(Path)-1).
type Flow struct {
	ID      int      `json:"id"`
	Kind    FlowKind `json:"kind"`
	From    int      `json:"from"`
	To      int      `json:"to"`
	Address string   `json:"address"`
	Amount  int64    `json:"amount"`
	Txid    string   `json:"txid"`
	Vout    uint32   `json:"vout"`
	Height  int64    `json:"height"`
	Hops    int      `json:"hops"`
	Path    []string `json:"path"`
}

// TxRef is a transaction of note and who made it.
type TxRef struct {
	Txid   string `json:"txid"`
	Height int64  `json:"height"`
	Entity int    `json:"entity"`
}

type flowRec struct {
	kind     FlowKind
	from, to int
	addr     uint32
	amount   int64
	txid     chainhash.Hash
	vout     uint32
	height   int64
	hops     int
	path     []chainhash.Hash
}

// scriptIDPrefix starts the name of outputs without an address (bare
// multisig), as in ingest/btc.
const scriptIDPrefix = "s-"

type txRef struct {
	txid   chainhash.Hash
	height int64
	entity int
}

// Owners maps every address to its owner's entity id.
func (t *Truth) Owners() map[string]int {
	n := 0
	for i := range t.Entities {
		n += len(t.Entities[i].Addresses)
	}
	m := make(map[string]int, n)
	for i := range t.Entities {
		for _, a := range t.Entities[i].Addresses {
			m[a] = t.Entities[i].ID
		}
	}
	return m
}

// EntitiesOf lists the entities of a kind.
func (t *Truth) EntitiesOf(kind Kind) []Entity {
	var es []Entity
	for _, e := range t.Entities {
		if e.Kind == kind {
			es = append(es, e)
		}
	}
	return es
}

// WriteFile writes t as JSON to path.
func (t *Truth) WriteFile(path string) error {
	b, err := json.MarshalIndent(t, "", " ")
	if err != nil {
		return fmt.Errorf("simulate: encoding truth: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("simulate: writing truth: %w", err)
	}
	return nil
}

// ReadTruthFile reads a truth.json written by WriteBlocksDir.
func ReadTruthFile(path string) (*Truth, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("simulate: reading truth: %w", err)
	}
	t := new(Truth)
	if err := json.Unmarshal(b, t); err != nil {
		return nil, fmt.Errorf("simulate: decoding truth %s: %w", path, err)
	}
	return t, nil
}

// Truth is the ground truth of the blocks made so far.
func (g *Generator) Truth() *Truth {
	t := &Truth{
		Network:       g.params.Name,
		Seed:          g.cfg.Seed,
		Blocks:        g.next,
		Txs:           g.txs,
		PremineBlocks: g.premineBlocks,
		Entities:      make([]Entity, len(g.ents)),
		Deposits:      []Deposit{},
		Flows:         make([]Flow, 0, len(g.flows)),
		CoinJoins:     refs(g.coinjoins),
		BatchPayouts:  refs(g.payouts),
	}
	if g.next > 0 {
		t.Tip = g.prev.String()
	}
	counts := make([]int, len(g.ents))
	for _, o := range g.addrOwner {
		counts[o]++
	}
	for i := range g.ents {
		e := &g.ents[i]
		t.Entities[i] = Entity{ID: i, Name: fmt.Sprintf("%s-%d", e.kind, e.ord), Kind: e.kind, Addresses: make([]string, 0, counts[i])}
	}
	t.Entities[g.coord].Name = string(KindCoordinator)
	for a, o := range g.addrOwner {
		t.Entities[o].Addresses = append(t.Entities[o].Addresses, g.address(uint32(a)))
	}
	for _, b := range g.buyers {
		br := g.brokers[b.broker]
		t.Entities[b.ent].Note = fmt.Sprintf("orders %d sat (sometimes twice that) from %s; funded by %s",
			b.amount, t.Entities[br.ent].Name, t.Entities[g.cartels[b.cartel]].Name)
	}
	for _, br := range g.brokers {
		note := "routes through"
		for _, in := range br.inters {
			note += " " + t.Entities[in].Name
		}
		note += "; cashes out at"
		for _, x := range br.exs {
			note += " " + t.Entities[g.exchanges[x].ent].Name
		}
		note += "; pays " + t.Entities[g.cartels[br.cartel]].Name
		t.Entities[br.ent].Note = note
	}
	nx := len(g.exchanges)
	for i, d := range g.deposits {
		if d != 0 {
			t.Deposits = append(t.Deposits, Deposit{Address: g.address(d - 1), Exchange: g.exchanges[i%nx].ent, Customer: i / nx})
		}
	}
	for i, f := range g.flows {
		fl := Flow{
			ID: i, Kind: f.kind, From: f.from, To: f.to, Address: g.address(f.addr), Amount: f.amount,
			Txid: f.txid.String(), Vout: f.vout, Height: f.height, Hops: f.hops,
		}
		for _, h := range f.path {
			fl.Path = append(fl.Path, h.String())
		}
		t.Flows = append(t.Flows, fl)
	}
	return t
}

func refs(rs []txRef) []TxRef {
	out := make([]TxRef, len(rs))
	for i, r := range rs {
		out[i] = TxRef{Txid: r.txid.String(), Height: r.height, Entity: r.entity}
	}
	return out
}

// address encodes address a for the network as the ingest normalizer
// (ingest/btc.ScriptAddress) names outputs: P2PK by the P2PKH address of
// the key, bare multisig by "s-" and the hex SHA-256 of the script. It
// encodes directly: btcutil's EncodeAddress decodes each address again to
// check it, which doubles the cost of a truth with millions of addresses.
func (g *Generator) address(a uint32) string {
	h := g.addrHash(a)
	p := g.params
	switch g.addrType[a] {
	case tP2PKH:
		return base58.CheckEncode(h[:20], p.PubKeyHashAddrID)
	case tP2SH:
		return base58.CheckEncode(h[:20], p.ScriptHashAddrID)
	case tP2WPKH:
		return segwitAddress(p.Bech32HRPSegwit, 0, h[:20])
	case tP2WSH:
		return segwitAddress(p.Bech32HRPSegwit, 0, h[:])
	case tP2TR:
		return segwitAddress(p.Bech32HRPSegwit, 1, h[:])
	case tP2PK:
		return base58.CheckEncode(btcutil.Hash160(g.specialAddr(a)[1:34]), p.PubKeyHashAddrID)
	}
	sum := sha256.Sum256(g.specialAddr(a))
	return scriptIDPrefix + hex.EncodeToString(sum[:])
}

// segwitAddress is the BIP173 (version 0) or BIP350 (version 1+) address of
// a witness program.
func segwitAddress(hrp string, version byte, program []byte) string {
	conv, err := bech32.ConvertBits(program, 8, 5, true)
	if err != nil {
		panic(fmt.Sprintf("simulate: witness program %x: %v", program, err)) // cannot fail from 8 to 5 bits
	}
	data := append([]byte{version}, conv...)
	var s string
	if version == 0 {
		s, err = bech32.Encode(hrp, data)
	} else {
		s, err = bech32.EncodeM(hrp, data)
	}
	if err != nil {
		panic(fmt.Sprintf("simulate: encoding witness program %x: %v", program, err)) // only an invalid hrp fails
	}
	return s
}
