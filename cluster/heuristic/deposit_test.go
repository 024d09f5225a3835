package heuristic

import (
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/tracerproject/tracer/chain"
)

// Addresses of the deposit tests: payers u1.., deposit addresses d1..,
// exchange hot wallets e1 (entity binance, two wallets) and e2 (kraken).
func addr(name string) string { return "0x" + strings.Repeat("0", 40-len(name)) + name }

var (
	e1a, e1b, e2  = addr("e1a"), addr("e1b"), addr("e2")
	testExchanges = map[string]string{e1a: "binance", e1b: "binance", e2: "kraken"}
	forwarder     = addr("f0")
)

const (
	gwei  = 1_000_000_000
	ether = 1_000_000_000_000_000_000
	fee   = 21_000 * 11 * gwei
)

// chainTx is one transaction of a test block: its sender and the transfers
// it makes (the first is its native transfer when asset is ETH).
type xfer struct {
	from, to string
	asset    string // "ETH" (native), "ETH-internal", or a token
	value    uint64
	failed   bool
	zero     bool
	sender   string // signer when it is not from (a contract moved it)
}

// block makes a block of one transaction per transfer, the way ingest/eth
// normalizes them: every transaction has a native transfer from its signer
// (with the fee); a token transfer's native transfer goes to the token
// contract with value 0.
func block(h int64, xs ...xfer) *chain.Block {
	b := &chain.Block{Chain: chain.ETH, Height: h, Hash: fmt.Sprintf("h%d", h)}
	for i, x := range xs {
		txid := fmt.Sprintf("tx%d-%d", h, i)
		sender := x.sender
		if sender == "" {
			sender = x.from
		}
		v := chain.AmountFromUint64(x.value)
		switch x.asset {
		case chain.AssetETH:
			if x.sender != "" {
				panic("a native transfer is from its signer")
			}
			b.Transfers = append(b.Transfers, chain.Transfer{Kind: chain.TransferNative, Asset: chain.AssetETH, From: x.from, To: x.to, Value: v,
				Txid: txid, TxIndex: i, Success: !x.failed, Fee: chain.AmountFromUint64(fee), Zero: x.value == 0})
		case "ETH-internal":
			b.Transfers = append(b.Transfers,
				chain.Transfer{Kind: chain.TransferNative, Asset: chain.AssetETH, From: sender, To: x.from, Txid: txid, TxIndex: i, Success: true, Fee: chain.AmountFromUint64(fee), Zero: true},
				chain.Transfer{Kind: chain.TransferInternal, Asset: chain.AssetETH, From: x.from, To: x.to, Value: v, Txid: txid, TxIndex: i, Index: 1, Success: !x.failed, Zero: x.value == 0})
		default:
			b.Transfers = append(b.Transfers,
				chain.Transfer{Kind: chain.TransferNative, Asset: chain.AssetETH, From: sender, To: x.asset, Txid: txid, TxIndex: i, Success: !x.failed, Fee: chain.AmountFromUint64(fee), Zero: true})
			if !x.failed {
				b.Transfers = append(b.Transfers, chain.Transfer{Kind: chain.TransferToken, Asset: x.asset, From: x.from, To: x.to, Value: v,
					Txid: txid, TxIndex: i, Index: i, Success: true, Zero: x.value == 0 || x.zero})
			}
		}
	}
	return b
}

func eth(from, to string, wei uint64) xfer {
	return xfer{from: from, to: to, asset: chain.AssetETH, value: wei}
}
func usdt(from, to string, units uint64) xfer {
	return xfer{from: from, to: to, asset: TokenUSDT, value: units}
}
func usdtBy(sender, from, to string, u uint64) xfer {
	return xfer{from: from, to: to, asset: TokenUSDT, value: u, sender: sender}
}

// run applies blocks in order with the states kept between them, and
// returns every link drawn as "payer>deposit rule conf pay/sweep".
func run(t *testing.T, cfg DepositConfig, blocks ...*chain.Block) ([]string, map[string]DepositState) {
	t.Helper()
	d := &Deposits{Config: cfg, Exchanges: testExchanges}
	states := map[string]DepositState{}
	var out []string
	for _, b := range blocks {
		var expire []string
		for a := range states {
			expire = append(expire, a)
		}
		slices.Sort(expire)
		links, changed, err := d.Block(b, expire, func(a string) (DepositState, error) {
			s := states[a]
			s.Receipts = slices.Clone(s.Receipts)
			return s, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for a, s := range changed {
			if s.Empty() {
				delete(states, a)
			} else {
				states[a] = *s
			}
		}
		for _, l := range links {
			if l.Heuristic != NameDeposit || l.Version != VersionDeposit {
				t.Errorf("link %+v: heuristic %s v%d, want %s v%d", l, l.Heuristic, l.Version, NameDeposit, VersionDeposit)
			}
			if _, ex := testExchanges[l.A]; ex {
				t.Errorf("link %+v joins exchange wallet %s", l, l.A)
			}
			if _, ex := testExchanges[l.B]; ex {
				t.Errorf("link %+v joins exchange wallet %s", l, l.B)
			}
			if _, ex := testExchanges[l.Exchange]; !ex {
				t.Errorf("link %+v: swept to %s, not an exchange wallet", l, l.Exchange)
			}
			out = append(out, fmt.Sprintf("%s>%s %s %d %s/%s", short(l.A), short(l.B), l.Rule, l.Confidence, l.Txid, l.Sweep))
		}
	}
	return out, states
}

func short(a string) string { return strings.TrimLeft(strings.TrimPrefix(a, "0x"), "0") }

func TestDepositRule(t *testing.T) {
	u1, u2, u3, v := addr("a1"), addr("a2"), addr("a3"), addr("bad")
	d1, d2, d3 := addr("d1"), addr("d2"), addr("d3")
	cfg := DefaultDepositConfig()
	cfg.Window = 100
	bps := cfg
	bps.ToleranceBps = 100 // 1%
	tests := []struct {
		name   string
		cfg    DepositConfig
		blocks []*chain.Block
		want   []string
	}{
		{"token sweep of one payment", cfg, []*chain.Block{
			block(10, usdt(u1, d1, 1_000_000_000)),
			block(12, usdt(d1, e1a, 1_000_000_000)),
		}, []string{"a1>d1 sweep-exact 90 tx10-0/tx12-0"}},
		{"ETH sweep of the balance less the fee", cfg, []*chain.Block{
			block(10, eth(u1, d1, ether)),
			block(11, eth(d1, e1a, ether-fee)),
		}, []string{"a1>d1 sweep-exact 90 tx10-0/tx11-0"}},
		{"ETH sweep within 0.01 ETH", cfg, []*chain.Block{
			block(10, eth(u1, d1, ether)),
			block(11, eth(d1, e1a, ether-fee-5_000_000*gwei)),
		}, []string{"a1>d1 sweep-tolerance 70 tx10-0/tx11-0"}},
		{"ETH sweep 0.1 ETH short: no deposit", cfg, []*chain.Block{
			block(10, eth(u1, d1, ether)),
			block(11, eth(d1, e1a, ether-fee-100_000_000*gwei)),
		}, nil},
		{"token sweep 2 USDT short: no deposit", cfg, []*chain.Block{
			block(10, usdt(u1, d1, 500_000_000)),
			block(11, usdt(d1, e1a, 498_000_000)),
		}, nil},
		{"token sweep 2 USDT short, 1% relative tolerance", bps, []*chain.Block{
			block(10, usdt(u1, d1, 500_000_000)),
			block(11, usdt(d1, e1a, 498_000_000)),
		}, []string{"a1>d1 sweep-tolerance 70 tx10-0/tx11-0"}},
		{"sweep at the end of the window", cfg, []*chain.Block{
			block(10, usdt(u1, d1, 7_000_000)),
			block(110, usdt(d1, e1a, 7_000_000)),
		}, []string{"a1>d1 sweep-exact 90 tx10-0/tx110-0"}},
		{"window exceeded", cfg, []*chain.Block{
			block(10, usdt(u1, d1, 7_000_000)),
			block(111, usdt(d1, e1a, 7_000_000)),
		}, nil},
		{"window exceeded, pruned by expiry before the sweep", cfg, []*chain.Block{
			block(10, usdt(u1, d1, 7_000_000)),
			block(200, usdt(u2, d2, 1)),
			block(201, usdt(d1, e1a, 7_000_000)),
		}, nil},
		{"failed payment does not count", cfg, []*chain.Block{
			block(10, xfer{from: u1, to: d1, asset: chain.AssetETH, value: ether, failed: true}),
			block(11, eth(d1, e1a, ether-fee)),
		}, nil},
		{"failed sweep does not count", cfg, []*chain.Block{
			block(10, eth(u1, d1, ether)),
			block(11, xfer{from: d1, to: e1a, asset: chain.AssetETH, value: ether - fee, failed: true}),
		}, nil},
		{"zero-value transfers (poisoning) never link", cfg, []*chain.Block{
			block(10, usdt(u1, d1, 300_000_000), usdt(v, d1, 0), usdtBy(v, u2, d1, 0)),
			block(11, usdt(d1, e1a, 300_000_000), usdt(d1, e1a, 0)),
		}, []string{"a1>d1 sweep-exact 90 tx10-0/tx11-0"}},
		{"payment and sweep in one block, to another wallet of the same exchange", cfg, []*chain.Block{
			block(10, usdt(u1, d1, 5_000_000), usdt(d1, e1b, 5_000_000)),
		}, []string{"a1>d1 sweep-exact 90 tx10-0/tx10-1"}},
		{"two payers, one sweep of both", cfg, []*chain.Block{
			block(10, usdt(u1, d1, 5_000_000)),
			block(11, usdt(u2, d1, 6_000_000)),
			block(12, usdt(d1, e1a, 11_000_000)),
		}, []string{"a1>d1 sweep-exact 90 tx10-0/tx12-0", "a2>d1 sweep-exact 90 tx11-0/tx12-0"}},
		{"a sweep of the newest payment leaves the older one", cfg, []*chain.Block{
			block(10, usdt(u1, d1, 5_000_000)),
			block(11, usdt(u2, d1, 6_000_000)),
			block(12, usdt(d1, e1a, 6_000_000)),
			block(13, usdt(d1, e1a, 5_000_000)),
		}, []string{"a2>d1 sweep-exact 90 tx11-0/tx12-0", "a1>d1 sweep-exact 90 tx10-0/tx13-0"}},
		{"one payer paying twice is linked once per sweep", cfg, []*chain.Block{
			block(10, usdt(u1, d1, 5_000_000), usdt(u1, d1, 5_000_000)),
			block(11, usdt(d1, e1a, 10_000_000)),
		}, []string{"a1>d1 sweep-exact 90 tx10-0/tx11-0"}},
		{"other assets do not count for a sweep", cfg, []*chain.Block{
			block(10, eth(u1, d1, 5_000_000), usdt(u2, d1, 5_000_000)),
			block(11, usdt(d1, e1a, 5_000_000)),
		}, []string{"a2>d1 sweep-exact 90 tx10-1/tx11-0"}},
		{"forwarding to two exchanges in one block: no deposit", cfg, []*chain.Block{
			block(10, usdt(u1, d1, 5_000_000), usdt(u2, d1, 6_000_000)),
			block(11, usdt(d1, e1a, 6_000_000), usdt(d1, e2, 5_000_000)),
		}, nil},
		{"forwarding to a second exchange later: no further links", cfg, []*chain.Block{
			block(10, usdt(u1, d1, 5_000_000)),
			block(11, usdt(d1, e1a, 5_000_000)),
			block(12, usdt(u2, d1, 6_000_000), usdt(u3, d1, 7_000_000)),
			block(13, usdt(d1, e2, 6_000_000)),
			block(14, usdt(d1, e1a, 7_000_000)),
		}, []string{"a1>d1 sweep-exact 90 tx10-0/tx11-0"}},
		{"exchange hot wallet fed by many deposits joins none of them", cfg, []*chain.Block{
			block(10, usdt(u1, d1, 1_000_000), usdt(u2, d2, 2_000_000), eth(u3, d3, ether)),
			block(11, usdt(d1, e1a, 1_000_000), usdt(d2, e1a, 2_000_000), eth(d3, e1a, ether-fee)),
			block(12, usdt(e1a, e1b, 3_000_000), eth(e1a, d1, 5_000_000*gwei)),
		}, []string{"a1>d1 sweep-exact 90 tx10-0/tx11-0", "a2>d2 sweep-exact 90 tx10-1/tx11-1", "a3>d3 sweep-exact 90 tx10-2/tx11-2"}},
		{"a withdrawal from another exchange into a deposit address links no exchange", cfg, []*chain.Block{
			block(10, usdt(e2, d1, 9_000_000)),
			block(11, usdt(d1, e1a, 9_000_000)),
		}, nil},
		{"exchange gas top-up does not count as a payment", cfg, []*chain.Block{
			block(10, usdt(u1, d1, 9_000_000), eth(e1a, d1, 2_000_000*gwei)),
			block(11, usdt(d1, e1a, 9_000_000), eth(d1, e1a, 2_000_000*gwei-fee)),
		}, []string{"a1>d1 sweep-exact 90 tx10-0/tx11-0"}},
		{"a contract's token sweep (not signed by the address) is no sweep", cfg, []*chain.Block{
			block(10, usdt(u1, d1, 9_000_000)),
			block(11, usdtBy(forwarder, d1, e1a, 9_000_000)),
		}, nil},
		{"a contract's internal ETH sweep is no sweep", cfg, []*chain.Block{
			block(10, eth(u1, d1, ether)),
			block(11, xfer{from: d1, to: e1a, asset: "ETH-internal", value: ether, sender: forwarder}),
		}, nil},
		{"a contract paying out (a DEX pool) is no payer", cfg, []*chain.Block{
			block(10, usdtBy(u2, forwarder, d1, 9_000_000)),
			block(11, usdt(d1, e1a, 9_000_000)),
		}, nil},
		{"off", DepositConfig{}, []*chain.Block{
			block(10, usdt(u1, d1, 1_000_000_000)),
			block(12, usdt(d1, e1a, 1_000_000_000)),
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := run(t, tc.cfg, tc.blocks...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: got links %q, want %q", tc.name, got, tc.want)
			}
		})
	}
}

// TestDepositStateForgotten: once every payment left the window, the
// address's state is empty (forgotten); a deposit address keeps its
// exchange, and one that sent to two exchanges stays rejected.
func TestDepositStateForgotten(t *testing.T) {
	u1, d1, d2, d3 := addr("a1"), addr("d1"), addr("d2"), addr("d3")
	cfg := DefaultDepositConfig()
	cfg.Window = 10
	_, states := run(t, cfg,
		block(1, usdt(u1, d1, 5), usdt(u1, d2, 5), usdt(u1, d3, 5)),
		block(2, usdt(d2, e1a, 5), usdt(d3, e1a, 1), usdt(d3, e2, 1)),
		block(30, eth(u1, u1, 1)),
	)
	if _, ok := states[d1]; ok || len(states) != 2 {
		t.Errorf("states after the window: got %v, want d2 and d3 only", states)
	}
	if s := states[d2]; s.Exchange != "binance" || s.Rejected || len(s.Receipts) != 0 {
		t.Errorf("d2: got %+v, want exchange binance, no receipts", s)
	}
	if s := states[d3]; !s.Rejected {
		t.Errorf("d3: got %+v, want rejected", s)
	}
}

func TestDepositMatch(t *testing.T) {
	cfg := DefaultDepositConfig()
	rs := func(vals ...int64) []Receipt {
		var out []Receipt
		for i, v := range vals {
			out = append(out, Receipt{Payer: fmt.Sprint(i), Asset: TokenUSDT, Value: chain.AmountFromUint64(uint64(v))})
		}
		return out
	}
	tests := []struct {
		name     string
		receipts []Receipt
		value    int64
		n        int
		rule     string
	}{
		{"none", nil, 5, 0, ""},
		{"exact newest", rs(3, 5), 5, 1, RuleSweepExact},
		{"exact both", rs(3_000_000, 5_000_000), 8_000_000, 2, RuleSweepExact},
		{"within 1 USDT", rs(3_000_000, 5_000_000), 8_999_999, 2, RuleSweepTolerance},
		{"short by 1 USDT", rs(3_000_000, 5_000_000), 7_000_000, 2, RuleSweepTolerance},
		{"short by 1.5 USDT", rs(3_000_000, 5_000_000), 6_500_000, 0, ""},
		{"newest alone exceeds the sweep", rs(3_000_000, 50_000_000), 3_000_000, 0, ""},
		{"more than all received", rs(3_000_000, 5_000_000), 20_000_000, 0, ""},
	}
	for _, tc := range tests {
		n, rule, _, ok := cfg.Match(tc.receipts, TokenUSDT, big.NewInt(tc.value), new(big.Int))
		if n != tc.n || rule != tc.rule || ok != (tc.n > 0) {
			t.Errorf("%s: got %d %q %v, want %d %q", tc.name, n, rule, ok, tc.n, tc.rule)
		}
	}
}

func TestDepositConfigValidate(t *testing.T) {
	bad := []struct {
		name string
		edit func(*DepositConfig)
		want string
	}{
		{"window 0", func(c *DepositConfig) { c.Window = 0 }, "window 0"},
		{"negative bps", func(c *DepositConfig) { c.ToleranceBps = -1 }, "tolerance -1 bps"},
		{"bad asset", func(c *DepositConfig) { c.Tolerance["USDT"] = chain.Amount{} }, `"USDT"`},
		{"bad exchange", func(c *DepositConfig) { c.Exchanges = map[string]string{"0xABC": "x"} }, `"0xABC"`},
	}
	for _, tc := range bad {
		c := DefaultDepositConfig()
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error naming %s", tc.name, err, tc.want)
		}
	}
	if err := DefaultDepositConfig().Validate(); err != nil {
		t.Errorf("default: %v", err)
	}
	for _, tc := range []struct{ in, addr, entity string }{
		{"binance:0x28C6c06298d514Db089934071355E5743bf21d60", "0x28c6c06298d514db089934071355e5743bf21d60", "binance"},
		{"0x28c6c06298d514db089934071355e5743bf21d60", "0x28c6c06298d514db089934071355e5743bf21d60", "0x28c6c06298d514db089934071355e5743bf21d60"},
	} {
		a, e, err := ParseExchange(tc.in)
		if err != nil || a != tc.addr || e != tc.entity {
			t.Errorf("ParseExchange(%q): got %q %q %v, want %q %q", tc.in, a, e, err, tc.addr, tc.entity)
		}
	}
	if _, _, err := ParseExchange("binance:0x12"); err == nil {
		t.Error("ParseExchange of a short address: no error")
	}
}
