// Package ethsim generates a synthetic Ethereum chain for demos and
// benchmarks, the way package simulate does for Bitcoin: mainnet-like
// blocks (native payments and USDT/USDC transfers, some batched) with
// planted precursor-broker flows and their ground truth.
//
// Blocks are real in every way a reader checks: signed transactions
// (chain id 1), receipts and logs, headers whose transactions and receipts
// roots and hashes are computed by go-ethereum. They were never executed
// by an EVM: balances are not tracked, so the chain is for the tracer, not
// for a node. Each block is written as DIR/blocks/<height>.json holding
// {"block": eth_getBlockByNumber result, "receipts": eth_getBlockReceipts
// result}, the form `tracer inspect eth-block` and `tracer ingest eth
// --blocks-dir` read.
package ethsim

import (
	"crypto/ecdsa"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand"
	"os"
	"path/filepath"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/trie"
)

// Config sizes the world.
type Config struct {
	Blocks int
	// TxsPerBlock and TokenTransfersPerBlock: mainnet carries about 200
	// transactions and 300 token transfers a block.
	TxsPerBlock            int
	TokenTransfersPerBlock int
	Seed                   int64
	StartTime              int64 // unix seconds of block 0
	Brokers, Buyers        int
	// Customers of the exchanges: each owns one to three wallets and a
	// deposit address at one exchange; its wallets pay ETH, USDT or USDC
	// into the deposit address, which sweeps to the exchange's hot wallet
	// one to four blocks later (tokens exactly, ETH less the sweep's fee,
	// now and then a little less). Exchanges top up deposit addresses with
	// gas, and now and then pay a withdrawal into another exchange's
	// deposit address. Traders collect from unrelated users and forward to
	// two exchanges in one block. 0 plants none of it (and leaves the rest
	// of the world as it was). Truth.Customers holds the owners.
	Customers int
	Traders   int
}

// DefaultConfig is the configuration callers copy and change.
func DefaultConfig() Config {
	return Config{Blocks: 40, TxsPerBlock: 200, TokenTransfersPerBlock: 300, Seed: 1, StartTime: 1704067200, Brokers: 3, Buyers: 12}
}

// Mainnet contracts the world uses, so the tracer's known-token list
// applies.
var (
	USDT = common.HexToAddress("0xdAC17F958D2ee523a2206206994597C13D831ec7")
	USDC = common.HexToAddress("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48")
	// disperse pays many recipients in one transaction (a batch payout).
	disperse = common.HexToAddress("0xD152f549545093347A162Dce210e7293f1452150")
)

var transferTopic = common.BytesToHash(crypto.Keccak256([]byte("Transfer(address,address,uint256)")))

// Actor is a planted participant.
type Actor struct {
	Name    string `json:"name"`
	Role    string `json:"role"` // precursor-broker, buyer, cartel, exchange, poisoner
	Address string `json:"address"`
}

// Flow is a planted payment.
type Flow struct {
	Kind   string `json:"kind"` // purchase, cash-out, cartel-payment, poisoning
	Height int64  `json:"height"`
	Txid   string `json:"txid"`
	Index  int    `json:"index"` // log index (token) or 0 (native)
	Asset  string `json:"asset"` // ETH or the token contract
	From   string `json:"from"`
	To     string `json:"to"`
	Value  string `json:"value"`
}

// Truth is what was planted, written as truth.json.
type Truth struct {
	Chain     string     `json:"chain"`
	ChainID   int64      `json:"chain_id"`
	Blocks    int        `json:"blocks"`
	Tip       string     `json:"tip"`
	Txs       int64      `json:"txs"`
	Transfers int64      `json:"token_transfers"`
	Actors    []Actor    `json:"actors"`
	Flows     []Flow     `json:"flows"`
	Customers []Customer `json:"customers,omitempty"`
}

// Customer is an exchange customer: the owner of its wallets and of its
// deposit address at Exchange (an actor's name).
type Customer struct {
	Name     string   `json:"name"`
	Exchange string   `json:"exchange"`
	Deposit  string   `json:"deposit"`
	Wallets  []string `json:"wallets"`
}

// Owners maps every customer's wallet and deposit address to the
// customer's name.
func (t *Truth) Owners() map[string]string {
	m := map[string]string{}
	for _, c := range t.Customers {
		m[c.Deposit] = c.Name
		for _, w := range c.Wallets {
			m[w] = c.Name
		}
	}
	return m
}

type account struct {
	key   *ecdsa.PrivateKey
	addr  common.Address
	nonce uint64
}

type world struct {
	cfg      Config
	rng      *rand.Rand
	signer   types.Signer
	users    []*account
	brokers  []*account
	buyers   []*account
	cartels  []*account
	exchange []*account
	poisoner *account
	truth    *Truth
	// Exchange customers and traders (Config.Customers, Traders), drawn
	// from their own random source so a world without them is unchanged.
	drng      *rand.Rand
	customers []*customer
	traders   []*account
	collected [][]*big.Int // per trader: payments to forward
}

type customer struct {
	name    string
	wallets []*account
	deposit *account
	ex      int // index in world.exchange
	// Per asset: received and not swept yet, the height of the sweep, and
	// whether an exchange withdrawal is in it (then no customer payment is
	// added).
	pending map[string]*sweep
}

type sweep struct {
	amount   *big.Int
	due      int64
	exchange bool
}

func (w *world) newAccount(i int) *account {
	var seed [16]byte
	binary.BigEndian.PutUint64(seed[:8], uint64(w.cfg.Seed))
	binary.BigEndian.PutUint64(seed[8:], uint64(i))
	k, err := crypto.ToECDSA(crypto.Keccak256(seed[:]))
	if err != nil {
		panic(err) // a keccak output is a valid key but with negligible odds
	}
	return &account{key: k, addr: crypto.PubkeyToAddress(k.PublicKey)}
}

func lower(a common.Address) string { return strings.ToLower(a.Hex()) }

// Generate writes the world into dir and returns its truth.
func Generate(cfg Config, dir string) (*Truth, error) {
	if cfg.Blocks < 1 || cfg.TxsPerBlock < 10 || cfg.TokenTransfersPerBlock < 0 {
		return nil, fmt.Errorf("ethsim: want at least 1 block and 10 transactions a block, got %d and %d", cfg.Blocks, cfg.TxsPerBlock)
	}
	if cfg.Brokers < 1 {
		cfg.Brokers = 1
	}
	if cfg.Buyers < 1 {
		cfg.Buyers = 1
	}
	if err := os.MkdirAll(filepath.Join(dir, "blocks"), 0o755); err != nil {
		return nil, err
	}
	w := &world{cfg: cfg, rng: rand.New(rand.NewSource(cfg.Seed)), signer: types.LatestSignerForChainID(big.NewInt(1)),
		truth: &Truth{Chain: "eth", ChainID: 1, Blocks: cfg.Blocks}}
	n := 0
	next := func(role, name string) *account {
		a := w.newAccount(n)
		n++
		if role != "" {
			w.truth.Actors = append(w.truth.Actors, Actor{Name: name, Role: role, Address: lower(a.addr)})
		}
		return a
	}
	for i := 0; i < cfg.Brokers; i++ {
		w.brokers = append(w.brokers, next("precursor-broker", fmt.Sprintf("precursor-broker-%d", i+1)))
	}
	for i := 0; i < cfg.Buyers; i++ {
		w.buyers = append(w.buyers, next("buyer", fmt.Sprintf("buyer-%d", i+1)))
	}
	for i := 0; i < 2; i++ {
		w.cartels = append(w.cartels, next("cartel", fmt.Sprintf("cartel-%d", i+1)))
	}
	for i := 0; i < 3; i++ {
		w.exchange = append(w.exchange, next("exchange", fmt.Sprintf("exchange-%d", i+1)))
	}
	w.poisoner = next("poisoner", "address-poisoner")
	for i := 0; i < 400; i++ {
		w.users = append(w.users, next("", ""))
	}
	if cfg.Customers > 0 || cfg.Traders > 0 {
		w.drng = rand.New(rand.NewSource(cfg.Seed*7919 + 17))
	}
	for i := 0; i < cfg.Customers; i++ {
		c := &customer{name: fmt.Sprintf("customer-%d", i+1), ex: w.drng.Intn(len(w.exchange)), pending: map[string]*sweep{}}
		for j := 0; j < 1+w.drng.Intn(3); j++ {
			c.wallets = append(c.wallets, next("", ""))
		}
		c.deposit = next("", "")
		tc := Customer{Name: c.name, Exchange: fmt.Sprintf("exchange-%d", c.ex+1), Deposit: lower(c.deposit.addr)}
		for _, a := range c.wallets {
			tc.Wallets = append(tc.Wallets, lower(a.addr))
		}
		w.customers = append(w.customers, c)
		w.truth.Customers = append(w.truth.Customers, tc)
	}
	for i := 0; i < cfg.Traders; i++ {
		w.traders = append(w.traders, next("trader", fmt.Sprintf("trader-%d", i+1)))
		w.collected = append(w.collected, nil)
	}
	parent := common.Hash{}
	for h := 0; h < cfg.Blocks; h++ {
		hash, err := w.block(dir, int64(h), parent)
		if err != nil {
			return nil, err
		}
		parent = hash
	}
	w.truth.Tip = strings.ToLower(parent.Hex())
	raw, err := json.MarshalIndent(w.truth, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "truth.json"), raw, 0o644); err != nil {
		return nil, err
	}
	return w.truth, os.WriteFile(filepath.Join(dir, "chainid"), []byte("1\n"), 0o644)
}

// pending is a transaction with the logs it emits.
type pending struct {
	tx   *types.Transaction
	logs []*types.Log
	gas  uint64
	ok   bool
}

var (
	baseFee = big.NewInt(10_000_000_000) // 10 gwei
	tip     = big.NewInt(1_000_000_000)
	feeCap  = big.NewInt(100_000_000_000)
)

func (w *world) sign(from *account, to common.Address, value *big.Int, data []byte, gas uint64) *types.Transaction {
	tx, err := types.SignNewTx(from.key, w.signer, &types.DynamicFeeTx{
		ChainID: big.NewInt(1), Nonce: from.nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: gas, To: &to, Value: value, Data: data,
	})
	if err != nil {
		panic(err) // signing with a valid key does not fail
	}
	from.nonce++
	return tx
}

func tokenLog(token, from, to common.Address, v *big.Int) *types.Log {
	return &types.Log{Address: token, Topics: []common.Hash{transferTopic, common.BytesToHash(from.Bytes()), common.BytesToHash(to.Bytes())},
		Data: common.LeftPadBytes(v.Bytes(), 32)}
}

func transferData(to common.Address, v *big.Int) []byte {
	d := []byte{0xa9, 0x05, 0x9c, 0xbb}
	d = append(d, common.LeftPadBytes(to.Bytes(), 32)...)
	return append(d, common.LeftPadBytes(v.Bytes(), 32)...)
}

func (w *world) native(from *account, to common.Address, v *big.Int) pending {
	return pending{tx: w.sign(from, to, v, nil, 21000), gas: 21000, ok: true}
}

func (w *world) token(from *account, token, to common.Address, v *big.Int) pending {
	return pending{tx: w.sign(from, token, new(big.Int), transferData(to, v), 65000), logs: []*types.Log{tokenLog(token, from.addr, to, v)}, gas: 52000, ok: true}
}

// usd is an amount of a 6-decimal stablecoin.
func usd(dollars int64) *big.Int { return new(big.Int).Mul(big.NewInt(dollars), big.NewInt(1_000_000)) }

func ether(milli int64) *big.Int {
	return new(big.Int).Mul(big.NewInt(milli), big.NewInt(1_000_000_000_000_000))
}

func (w *world) pick(as []*account) *account { return as[w.rng.Intn(len(as))] }

// block builds, seals and writes one block; it returns its hash.
func (w *world) block(dir string, h int64, parent common.Hash) (common.Hash, error) {
	cfg := w.cfg
	var txs []pending
	type planted struct {
		pos  int // transaction position
		log  int // log within it, -1: native
		kind string
	}
	var plants []planted
	plant := func(kind string, p pending, log int) {
		plants = append(plants, planted{len(txs), log, kind})
		txs = append(txs, p)
	}
	// Planted flows: a purchase or two, now and then a cash-out, a cartel
	// payment and poisoning of a broker's address.
	broker := w.brokers[int(h)%len(w.brokers)]
	for i := 0; i < 1+w.rng.Intn(2); i++ {
		plant("purchase", w.token(w.pick(w.buyers), USDT, broker.addr, usd(int64(5_000+w.rng.Intn(45_000)))), 0)
	}
	if h%4 == 3 {
		plant("cash-out", w.token(broker, USDT, w.pick(w.exchange).addr, usd(int64(20_000+w.rng.Intn(30_000)))), 0)
	}
	if h%5 == 4 {
		plant("cartel-payment", w.native(broker, w.pick(w.cartels).addr, ether(int64(2_000+w.rng.Intn(8_000)))), -1)
	}
	if h%5 == 2 {
		// Zero-value transfers "from" the broker to look-alike addresses:
		// the poisoner's transaction, the broker's name in the log.
		p := pending{tx: w.sign(w.poisoner, USDT, new(big.Int), []byte{0x23, 0xb8, 0x72, 0xdd}, 80000), gas: 60000, ok: true}
		for i := 0; i < 3; i++ {
			p.logs = append(p.logs, tokenLog(USDT, broker.addr, w.pick(w.users).addr, new(big.Int)))
		}
		plant("poisoning", p, 0)
	}
	if w.drng != nil {
		w.deposits(h, plant)
	}
	// Background: the rest of the transactions, 35% native, the others
	// token transfers, some batched so the block carries about
	// TokenTransfersPerBlock transfers.
	logs := 0
	for _, p := range txs {
		logs += len(p.logs)
	}
	rest := cfg.TxsPerBlock - len(txs)
	nativeN := rest * 35 / 100
	tokenN := rest - nativeN
	left := cfg.TokenTransfersPerBlock - logs
	for i := 0; i < rest; i++ {
		from := w.pick(w.users)
		if i < nativeN {
			p := w.native(from, w.pick(w.users).addr, ether(int64(1+w.rng.Intn(5_000))))
			if w.rng.Intn(50) == 0 {
				p.ok = false // out of gas: recorded, moved nothing
			}
			txs = append(txs, p)
			continue
		}
		tok := USDT
		if w.rng.Intn(3) == 0 {
			tok = USDC
		}
		k := tokenN - (i - nativeN) // token transactions still to make, this one included
		nlogs := 1
		if left > k {
			nlogs = min(20, left-(k-1))
		}
		if nlogs == 1 {
			txs = append(txs, w.token(from, tok, w.pick(w.users).addr, usd(int64(1+w.rng.Intn(20_000)))))
		} else {
			ex := w.pick(w.exchange)
			p := pending{tx: w.sign(ex, disperse, new(big.Int), []byte{0xc7, 0x3a, 0x2d, 0x60}, 40000*uint64(nlogs)), gas: 30000 * uint64(nlogs), ok: true}
			for j := 0; j < nlogs; j++ {
				p.logs = append(p.logs, tokenLog(tok, ex.addr, w.pick(w.users).addr, usd(int64(10+w.rng.Intn(2_000)))))
			}
			txs = append(txs, p)
		}
		left -= nlogs
	}

	// Receipts, roots, header.
	list := make(types.Transactions, len(txs))
	receipts := make(types.Receipts, len(txs))
	var cum uint64
	logIndex := uint(0)
	price := new(big.Int).Add(baseFee, tip)
	for i, p := range txs {
		list[i] = p.tx
		cum += p.gas
		r := &types.Receipt{Type: p.tx.Type(), CumulativeGasUsed: cum, TxHash: p.tx.Hash(), GasUsed: p.gas,
			EffectiveGasPrice: price, BlockNumber: big.NewInt(h), TransactionIndex: uint(i), Status: types.ReceiptStatusSuccessful}
		if !p.ok {
			r.Status = types.ReceiptStatusFailed
		} else {
			for _, l := range p.logs {
				l.TxHash, l.TxIndex, l.BlockNumber, l.Index = p.tx.Hash(), uint(i), uint64(h), logIndex
				logIndex++
				r.Logs = append(r.Logs, l)
			}
		}
		if r.Logs == nil {
			r.Logs = []*types.Log{}
		}
		r.Bloom = types.CreateBloom(r)
		receipts[i] = r
	}
	header := &types.Header{
		ParentHash: parent, UncleHash: types.EmptyUncleHash, Coinbase: w.exchange[0].addr,
		Root:   common.BytesToHash(crypto.Keccak256([]byte(fmt.Sprintf("state-%d-%d", w.cfg.Seed, h)))),
		TxHash: types.DeriveSha(list, trie.NewStackTrie(nil)), ReceiptHash: types.DeriveSha(receipts, trie.NewStackTrie(nil)),
		Bloom: types.MergeBloom(receipts), Difficulty: new(big.Int), Number: big.NewInt(h), GasLimit: 30_000_000, GasUsed: cum,
		Time: uint64(cfg.StartTime + h*12), BaseFee: baseFee, Extra: []byte("tracer ethsim"),
	}
	hash := header.Hash()
	for _, r := range receipts {
		r.BlockHash = hash
		for _, l := range r.Logs {
			l.BlockHash = hash
		}
	}
	for _, pl := range plants {
		p := txs[pl.pos]
		from, _ := types.Sender(w.signer, p.tx)
		if pl.log < 0 {
			w.truth.Flows = append(w.truth.Flows, Flow{Kind: pl.kind, Height: h, Txid: strings.ToLower(p.tx.Hash().Hex()), Asset: "ETH",
				From: lower(from), To: lower(*p.tx.To()), Value: p.tx.Value().String()})
			continue
		}
		for _, l := range receipts[pl.pos].Logs {
			w.truth.Flows = append(w.truth.Flows, Flow{Kind: pl.kind, Height: h, Txid: strings.ToLower(p.tx.Hash().Hex()), Index: int(l.Index),
				Asset: lower(l.Address), From: lower(common.BytesToAddress(l.Topics[1].Bytes())), To: lower(common.BytesToAddress(l.Topics[2].Bytes())),
				Value: new(big.Int).SetBytes(l.Data).String()})
		}
	}
	w.truth.Txs += int64(len(txs))
	w.truth.Transfers += int64(logIndex)
	return hash, writeBlock(dir, header, list, receipts, w.signer)
}

// nativeFee is what a plain ETH transfer pays: 21000 gas at base fee plus
// tip.
var nativeFee = new(big.Int).Mul(big.NewInt(21000), new(big.Int).Add(baseFee, tip))

// deposits plants the exchange customers' payments into their deposit
// addresses and the sweeps to the exchanges, and the traders' forwards.
func (w *world) deposits(h int64, plant func(kind string, p pending, log int)) {
	r := w.drng
	assets := []string{"ETH", "USDT", "USDC"}
	transfer := func(from *account, to common.Address, asset string, v *big.Int) (pending, int) {
		switch asset {
		case "ETH":
			return w.native(from, to, v), -1
		case "USDC":
			return w.token(from, USDC, to, v), 0
		}
		return w.token(from, USDT, to, v), 0
	}
	// Sweeps due now, in customer order.
	for _, c := range w.customers {
		hot := w.exchange[c.ex]
		for _, asset := range assets {
			sw := c.pending[asset]
			if sw == nil || sw.due > h {
				continue
			}
			delete(c.pending, asset)
			v := new(big.Int).Set(sw.amount)
			if asset == "ETH" {
				v.Sub(v, nativeFee)
				if r.Intn(5) == 0 {
					v.Sub(v, big.NewInt(1_000_000_000_000)) // a sweep that leaves dust
				}
			} else if r.Intn(3) == 0 {
				// Gas for the token sweep, from the exchange.
				plant("gas-topup", w.native(hot, c.deposit.addr, ether(2)), -1)
			}
			p, log := transfer(c.deposit, hot.addr, asset, v)
			plant("sweep", p, log)
		}
	}
	// New payments into deposit addresses.
	for i := 0; i < 1+r.Intn(3) && len(w.customers) > 0; i++ {
		c := w.customers[r.Intn(len(w.customers))]
		asset := assets[r.Intn(len(assets))]
		sw := c.pending[asset]
		if sw != nil && sw.exchange {
			continue
		}
		var v *big.Int
		if asset == "ETH" {
			v = ether(int64(50 + r.Intn(20_000)))
		} else {
			v = usd(int64(100 + r.Intn(30_000)))
		}
		wallet := c.wallets[r.Intn(len(c.wallets))]
		p, log := transfer(wallet, c.deposit.addr, asset, v)
		plant("deposit", p, log)
		if sw == nil {
			sw = &sweep{amount: new(big.Int), due: h + 1 + int64(r.Intn(4))}
			c.pending[asset] = sw
		}
		sw.amount.Add(sw.amount, v)
	}
	// Now and then a withdrawal from another exchange straight into a
	// deposit address with nothing pending.
	if len(w.customers) > 0 && r.Intn(4) == 0 {
		c := w.customers[r.Intn(len(w.customers))]
		if c.pending["USDT"] == nil {
			other := w.exchange[(c.ex+1+r.Intn(len(w.exchange)-1))%len(w.exchange)]
			v := usd(int64(500 + r.Intn(5_000)))
			plant("withdrawal-to-deposit", w.token(other, USDT, c.deposit.addr, v), 0)
			c.pending["USDT"] = &sweep{amount: v, due: h + 1, exchange: true}
		}
	}
	// Traders: collect from two unrelated users, and in the next block
	// forward each payment whole, the newest to one exchange and the other
	// to a second: each forward alone looks like a deposit sweep.
	for i, tr := range w.traders {
		switch h % 3 {
		case 0:
			w.collected[i] = w.collected[i][:0]
			for j := 0; j < 2; j++ {
				v := usd(int64(1_000 + r.Intn(9_000)))
				plant("trader-collect", w.token(w.pick(w.users), USDT, tr.addr, v), 0)
				w.collected[i] = append(w.collected[i], v)
			}
		case 1:
			if len(w.collected[i]) == 2 {
				a := r.Intn(len(w.exchange))
				plant("trader-forward", w.token(tr, USDT, w.exchange[a].addr, w.collected[i][1]), 0)
				plant("trader-forward", w.token(tr, USDT, w.exchange[(a+1)%len(w.exchange)].addr, w.collected[i][0]), 0)
				w.collected[i] = w.collected[i][:0]
			}
		}
	}
}

// writeBlock writes the block as a node's JSON-RPC replies would hold it.
func writeBlock(dir string, header *types.Header, txs types.Transactions, receipts types.Receipts, signer types.Signer) error {
	hj, err := json.Marshal(header)
	if err != nil {
		return err
	}
	var block map[string]json.RawMessage
	if err := json.Unmarshal(hj, &block); err != nil {
		return err
	}
	jtxs := make([]json.RawMessage, len(txs))
	size := 540
	for i, tx := range txs {
		raw, err := tx.MarshalJSON()
		if err != nil {
			return err
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		from, _ := types.Sender(signer, tx)
		m["from"], _ = json.Marshal(from)
		m["blockHash"], _ = json.Marshal(header.Hash())
		m["blockNumber"], _ = json.Marshal((*hexutil.Big)(header.Number))
		m["transactionIndex"], _ = json.Marshal(hexutil.Uint64(i))
		if jtxs[i], err = json.Marshal(m); err != nil {
			return err
		}
		size += int(tx.Size())
	}
	block["transactions"], _ = json.Marshal(jtxs)
	block["uncles"] = json.RawMessage("[]")
	block["size"], _ = json.Marshal(hexutil.Uint64(size))
	rj, err := json.Marshal(receipts)
	if err != nil {
		return err
	}
	out, err := json.Marshal(map[string]json.RawMessage{"block": mustJSON(block), "receipts": rj})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "blocks", fmt.Sprintf("%09d.json", header.Number.Int64())), out, 0o644)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
