package alert_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tracerproject/tracer/alert"
	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/store/clickhouse"
	"github.com/tracerproject/tracer/stream"
)

func TestMain(m *testing.M) { chserver.Main(m) }

// anyAddress accepts every address as it is: the rules' own checks are not
// under test here.
func anyAddress(_, a string) (string, error) {
	if strings.ContainsAny(a, " \t") || a == "" {
		return "", fmt.Errorf("address %q: bad", a)
	}
	return a, nil
}

func TestRuleConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "watch.txt")
	if err := os.WriteFile(bad, []byte("# brokers\nbc1qgood\n\nbad address\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := alert.RuleConfig{Name: "brokers", Watch: alert.WatchList{Addresses: []string{"bc1qbroker"}}}
	for _, tc := range []struct {
		name string
		cfg  alert.RuleConfig
		want string
	}{
		{"bad name", alert.RuleConfig{Name: "Brokers In", Watch: good.Watch}, `name "Brokers In"`},
		{"unknown severity", alert.RuleConfig{Name: "x", Severity: "urgent", Watch: good.Watch}, `severity "urgent"`},
		{"unknown direction", alert.RuleConfig{Name: "x", Direction: "sideways", Watch: good.Watch}, `direction "sideways"`},
		{"unknown kind", alert.RuleConfig{Name: "x", Kind: "velocity", Watch: good.Watch}, `kind "velocity"`},
		{"negative amount", alert.RuleConfig{Name: "x", MinAmount: "-5", Watch: good.Watch}, `min_amount "-5"`},
		{"fractional amount", alert.RuleConfig{Name: "x", MinAmount: "0.5", Watch: good.Watch}, `min_amount "0.5"`},
		{"no address", alert.RuleConfig{Name: "x"}, "watches no address"},
		{"bad inline address", alert.RuleConfig{Name: "x", Watch: alert.WatchList{Addresses: []string{"a b"}}}, `"a b"`},
		{"bad address in a file", alert.RuleConfig{Name: "x", Watch: alert.WatchList{Files: []string{bad}}}, bad + ":4"},
		{"unreadable file", alert.RuleConfig{Name: "x", Watch: alert.WatchList{Files: []string{filepath.Join(dir, "missing.txt")}}}, "missing.txt"},
		{"repeated outgoing", alert.RuleConfig{Name: "x", Kind: alert.KindRepeated, Direction: "outgoing", Watch: good.Watch}, "incoming payments"},
		{"repeated tolerance", alert.RuleConfig{Name: "x", Kind: alert.KindRepeated, TolerancePct: 150, Watch: good.Watch}, "tolerance_pct 150"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := alert.NewRule(tc.cfg, anyAddress)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := alert.Rules([]alert.RuleConfig{good, good}, anyAddress); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Errorf("duplicate names: got %v", err)
	}
	r, err := alert.NewRule(alert.RuleConfig{Name: "file", Watch: alert.WatchList{Files: []string{writeFile(t, "bc1qa # first\n\nbc1qb\n")}}}, anyAddress)
	if err != nil || r.Size() != 2 {
		t.Fatalf("watch file: %v, %d addresses", err, r.Size())
	}
	if m, ok := r.Watched("bc1qa"); !ok || m.Entry != "bc1qa" {
		t.Errorf("bc1qa: %+v %v", m, ok)
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "list.txt")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// world builds blocks by hand: each tx names its inputs' addresses and
// values and its outputs.
type world struct {
	height int64
	parent string
	n      int
}

type io struct {
	addr  string
	value int64
}

func (w *world) tx(ins []io, outs []io) chain.Tx {
	w.n++
	tx := chain.Tx{Txid: hash(fmt.Sprintf("tx%d", w.n))}
	for i, in := range ins {
		tx.Inputs = append(tx.Inputs, chain.Input{Index: uint32(i), PrevTxid: hash(fmt.Sprintf("prev%d-%d", w.n, i)), Address: in.addr, ScriptType: chain.ScriptP2WPKH, Value: in.value})
	}
	for i, o := range outs {
		tx.Outputs = append(tx.Outputs, chain.Output{Index: uint32(i), Address: o.addr, ScriptType: chain.ScriptP2WPKH, Value: o.value})
	}
	return tx
}

// block makes the next block; fork names a branch so that blocks at the
// same height differ.
func (w *world) block(fork string, txs ...chain.Tx) *chain.Block {
	cb := chain.Tx{Txid: hash(fmt.Sprintf("cb%d%s", w.height, fork)), Coinbase: true,
		Inputs: []chain.Input{{Coinbase: true}}, Outputs: []chain.Output{{Address: "miner", ScriptType: chain.ScriptP2WPKH, Value: 5e9}}}
	b := &chain.Block{Chain: chain.BTC, Height: w.height, Parent: w.parent, Hash: hash(fmt.Sprintf("block%d%s", w.height, fork)),
		Time: 1_700_000_000 + w.height*600, Txs: append([]chain.Tx{cb}, txs...)}
	for i := range b.Txs {
		b.Txs[i].Index = i
	}
	w.height++
	w.parent = b.Hash
	return b
}

func hash(s string) string { return chainhash.HashH([]byte(s)).String() }

func TestEvaluate(t *testing.T) {
	rules, err := alert.Rules([]alert.RuleConfig{
		{Name: "broker-in", Direction: "incoming", MinAmount: "1000", Watch: alert.WatchList{Addresses: []string{"broker"}}},
		{Name: "broker-out", Direction: "outgoing", Severity: "critical", Watch: alert.WatchList{Addresses: []string{"broker"}}},
	}, anyAddress)
	if err != nil {
		t.Fatal(err)
	}
	var w world
	b := w.block("",
		w.tx([]io{{"buyer", 5000}}, []io{{"broker", 3000}, {"buyer", 1900}}),                    // 0: incoming 3000
		w.tx([]io{{"buyer2", 999}}, []io{{"broker", 999}}),                                      // 1: below the minimum
		w.tx([]io{{"broker", 2000}, {"broker", 1000}}, []io{{"cartel", 2500}, {"broker", 400}}), // 2: out 3000, in 400 (change, below min)
		w.tx([]io{{"someone", 10}}, []io{{"else", 9}}),                                          // 3: nothing
		w.tx([]io{{"broker", 8000}}, []io{{"broker", 7900}}),                                    // 4: internal: no alert either way
	)
	alerts, cands := alert.Evaluate(b, rules)
	if len(cands) != 0 {
		t.Errorf("candidates without repeated-payments rules: %d", len(cands))
	}
	var got []string
	for _, a := range alerts {
		got = append(got, fmt.Sprintf("%s %s %s %s %v %s", a.Rule, a.Severity, a.Direction, a.Amount, a.Counterparties, a.Status))
		if a.Txid == "" || a.BlockHash != b.Hash || a.Format != alert.Format || a.Subject() != "alerts.btc."+a.Severity+"."+a.Rule {
			t.Errorf("alert %+v: missing block, tx or subject", a)
		}
	}
	want := []string{
		"broker-in high incoming 3000 [buyer] provisional",
		"broker-out critical outgoing 3000 [cartel] provisional",
	}
	if !slices.Equal(got, want) {
		t.Errorf("alerts:\n got %q\nwant %q", got, want)
	}
}

// env is a real embedded NATS server and a ClickHouse 18.16 database.
type env struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	conn store.Conn
	pub  *stream.Publisher
	seq  uint64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv, err := stream.StartServer(stream.ServerConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := stream.EnsureStream(ctx, js, chain.BTC, 1); err != nil {
		t.Fatal(err)
	}
	conn, err := clickhouse.Open(ctx, chserver.TempDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := store.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	pub, err := stream.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &env{nc: nc, js: js, conn: conn, pub: pub}
}

func (e *env) publish(t *testing.T, evs ...*chain.Event) {
	t.Helper()
	for _, ev := range evs {
		e.seq++
		ev.Seq = e.seq
	}
	if _, err := e.pub.Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
}

func blockEv(b *chain.Block) *chain.Event {
	return &chain.Event{Kind: chain.KindBlock, Chain: b.Chain, Height: b.Height, Hash: b.Hash, Block: b}
}

func undoEv(b *chain.Block) *chain.Event {
	return &chain.Event{Kind: chain.KindUndo, Chain: b.Chain, Height: b.Height, Hash: b.Hash}
}

// inbox collects what a core NATS subscriber on alerts.> receives.
type inbox struct {
	mu   sync.Mutex
	msgs []*alert.Alert
	subj []string
}

func subscribe(t *testing.T, nc *nats.Conn) *inbox {
	t.Helper()
	in := &inbox{}
	sub, err := nc.Subscribe("alerts.>", func(m *nats.Msg) {
		var a alert.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Errorf("alert on %s is not JSON: %v", m.Subject, err)
			return
		}
		in.mu.Lock()
		in.msgs = append(in.msgs, &a)
		in.subj = append(in.subj, m.Subject)
		in.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	return in
}

// first waits for the first alert to arrive.
func (in *inbox) first(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		in.mu.Lock()
		n := len(in.msgs)
		in.mu.Unlock()
		if n > 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("no alert within 15s")
}

// wait returns the states received once there are n of them, failing after
// a deadline; then it checks that no more arrive for a moment.
func (in *inbox) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		in.mu.Lock()
		got := len(in.msgs)
		in.mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []string
	for _, a := range in.msgs {
		s := fmt.Sprintf("%s %s h%d %s %s", a.Rule, a.Status, a.Height, a.Direction, a.Amount)
		if a.Retracts != "" {
			s += " retracts"
		}
		out = append(out, s)
	}
	slices.Sort(out)
	in.msgs, in.subj = nil, nil
	return out
}

func run(t *testing.T, e *env, cfg alert.Config) (stop func()) {
	t.Helper()
	a, err := alert.New(e.conn, e.js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("alerter: %v", err)
		}
	}
}

// TestAlerterEndToEnd: blocks with planted broker payments go through a
// real JetStream stream to the alerter; a subscriber must get exactly the
// expected alerts, confirmations after two blocks, retractions after a
// reorg, and nothing again from a second alerter reading the same stream
// over the same store.
func TestAlerterEndToEnd(t *testing.T) {
	e := newEnv(t)
	in := subscribe(t, e.nc)
	rules, err := alert.Rules([]alert.RuleConfig{
		{Name: "broker", Severity: "high", Watch: alert.WatchList{Addresses: []string{"broker"}}},
		{Name: "purchases", Kind: alert.KindRepeated, Severity: "critical", MinPayments: 3, TolerancePct: 5, WindowBlocks: 10,
			Watch: alert.WatchList{Addresses: []string{"broker"}}},
	}, anyAddress)
	if err != nil {
		t.Fatal(err)
	}
	cfg := alert.DefaultConfig(chain.BTC)
	cfg.Rules, cfg.Confirmations = rules, 2
	stop := run(t, e, cfg)

	var w world
	b0 := w.block("", w.tx([]io{{"buyer", 20000}}, []io{{"broker", 10000}, {"buyer", 9000}}))
	start := time.Now()
	e.publish(t, blockEv(b0))
	got := in.wait(t, 1)
	t.Logf("block to alert: %v", time.Since(start))
	if want := []string{"broker provisional h0 incoming 10000"}; !slices.Equal(got, want) {
		t.Fatalf("block 0:\n got %q\nwant %q", got, want)
	}
	// Block 1: the second purchase of a consistent amount (within 5%), and
	// block 0 gets its second confirmation.
	b1 := w.block("", w.tx([]io{{"buyer", 9000}}, []io{{"broker", 10300}}), w.tx([]io{{"other", 500}}, []io{{"elsewhere", 400}}))
	start = time.Now()
	e.publish(t, blockEv(b1))
	in.first(t)
	t.Logf("block 1 to its first alert: %v", time.Since(start))
	want := []string{"broker confirmed h0 incoming 10000", "broker provisional h1 incoming 10300"}
	if got := in.wait(t, 2); !slices.Equal(got, want) {
		t.Fatalf("block 1:\n got %q\nwant %q", got, want)
	}
	// Block 2: the third purchase (the pattern) and the broker pays a cartel.
	b2 := w.block("", w.tx([]io{{"buyer", 12000}}, []io{{"broker", 9900}}), w.tx([]io{{"broker", 30000}}, []io{{"cartel", 29000}}))
	e.publish(t, blockEv(b2))
	want = []string{"broker confirmed h1 incoming 10300", "broker provisional h2 incoming 9900", "broker provisional h2 outgoing 30000", "purchases provisional h2 incoming 9900"}
	if got := in.wait(t, 4); !slices.Equal(got, want) {
		t.Fatalf("block 2:\n got %q\nwant %q", got, want)
	}
	// A reorg takes block 2 away: its alerts are retracted, and the new
	// block 2 has a payment of another amount (no pattern).
	e.publish(t, undoEv(b2))
	w.height, w.parent = 2, b1.Hash
	b2b := w.block("b", w.tx([]io{{"buyer", 60000}}, []io{{"broker", 50000}}))
	e.publish(t, blockEv(b2b))
	want = []string{"broker provisional h2 incoming 50000", "broker retracted h2 incoming 9900 retracts", "broker retracted h2 outgoing 30000 retracts", "purchases retracted h2 incoming 9900 retracts"}
	if got := in.wait(t, 4); !slices.Equal(got, want) {
		t.Fatalf("after the reorg:\n got %q\nwant %q", got, want)
	}
	// Block 3 confirms the new block 2. A fourth consistent purchase makes
	// the pattern again, now with the payments of blocks 0 and 1 only.
	b3 := w.block("", w.tx([]io{{"buyer", 11000}}, []io{{"broker", 10100}}))
	e.publish(t, blockEv(b3))
	want = []string{"broker confirmed h2 incoming 50000", "broker provisional h3 incoming 10100", "purchases provisional h3 incoming 10100"}
	if got := in.wait(t, 3); !slices.Equal(got, want) {
		t.Fatalf("block 3:\n got %q\nwant %q", got, want)
	}
	stop()

	stored, err := alert.List(context.Background(), e.conn, alert.Filter{Since: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 14 {
		t.Errorf("stored alert states: %d, want 14 (every one published)", len(stored))
	}
	for _, a := range stored {
		if a.Rule == "purchases" && a.Height == 3 && len(a.Payments) != 2 {
			t.Errorf("pattern at height 3: %d earlier payments, want 2 (blocks 0 and 1): %+v", len(a.Payments), a.Payments)
		}
	}
	// Rule and severity select in the query, before the limit.
	byRule := map[string]int{}
	for _, a := range stored {
		byRule[a.Rule+"/"+a.Severity]++
	}
	for _, f := range []alert.Filter{
		{Rule: "purchases"}, {Severity: "high"}, {Rule: "broker", Severity: "high"}, {Rule: "broker", Severity: "critical"}, {Rule: "purchases", Limit: 1},
	} {
		f.Since = time.Now().Add(-time.Hour)
		want := 0
		for k, n := range byRule {
			rule, sev, _ := strings.Cut(k, "/")
			if (f.Rule == "" || f.Rule == rule) && (f.Severity == "" || f.Severity == sev) {
				want += n
			}
		}
		if f.Limit > 0 {
			want = min(want, f.Limit)
		}
		got, err := alert.List(context.Background(), e.conn, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != want || (f.Rule == "purchases" && want == 0) {
			t.Errorf("filter %+v: %d alert states, want %d", f, len(got), want)
		}
		for _, a := range got {
			if (f.Rule != "" && a.Rule != f.Rule) || (f.Severity != "" && a.Severity != f.Severity) {
				t.Errorf("filter %+v: got an alert of rule %s severity %s", f, a.Rule, a.Severity)
			}
		}
	}

	// A second alerter, a consumer of its own, reads the whole stream again
	// over the same store: everything was sent, nothing goes out again.
	cfg.Durable = "alerter-again"
	stop = run(t, e, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	last, err := stream.LastSeq(ctx, e.js, chain.BTC)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.WaitAcked(ctx, e.js, chain.BTC, cfg.Durable, last); err != nil {
		t.Fatal(err)
	}
	if got := in.wait(t, 0); len(got) != 0 {
		t.Errorf("a second pass over the stream sent %q, want nothing", got)
	}
	stop()
}

func TestEvaluateTransfers(t *testing.T) {
	const (
		broker = "0x1111111111111111111111111111111111111111"
		buyer  = "0x2222222222222222222222222222222222222222"
		mule   = "0x3333333333333333333333333333333333333333"
		usdt   = "0xdac17f958d2ee523a2206206994597c13d831ec7"
		usdc   = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
	)
	rules, err := alert.Rules([]alert.RuleConfig{
		{Name: "broker-usdt", Chain: "eth", Assets: []string{"USDT", "ETH"}, MinAmounts: map[string]string{"USDT": "1000000", "eth": "1000000000000000000"},
			Watch: alert.WatchList{Addresses: []string{broker, mule}}},
	}, func(_, a string) (string, error) { return a, nil })
	if err != nil {
		t.Fatal(err)
	}
	tr := func(kind, asset, from, to string, v uint64, ok bool) chain.Transfer {
		return chain.Transfer{Kind: kind, Asset: asset, From: from, To: to, Value: chain.AmountFromUint64(v), Txid: hash(from + to + fmt.Sprint(v)), Success: ok, Zero: v == 0}
	}
	b := &chain.Block{Chain: "eth", Height: 7, Hash: hash("eth7"), Time: 1_700_000_000, Transfers: []chain.Transfer{
		tr(chain.TransferToken, usdt, buyer, broker, 5_000_000, true),                    // alert: 5 USDT in
		tr(chain.TransferToken, usdt, buyer, broker, 999_999, true),                      // below the USDT minimum
		tr(chain.TransferToken, usdt, buyer, broker, 0, true),                            // poisoning: zero value
		tr(chain.TransferToken, usdc, buyer, broker, 50_000_000, true),                   // USDC: not an asset of the rule
		tr(chain.TransferNative, "ETH", broker, buyer, 2_000_000_000_000_000_000, false), // failed: no value moved
		tr(chain.TransferNative, "ETH", broker, buyer, 12_000_000_000_000_000_000, true), // alert: 12 ETH out (above 2^63 wei)
		tr(chain.TransferToken, usdt, broker, mule, 7_000_000, true),                     // between watched addresses
	}}
	alerts, _ := alert.Evaluate(b, rules)
	var got []string
	for _, a := range alerts {
		got = append(got, fmt.Sprintf("%s %s %s %s %v", a.Direction, a.Address, a.Amount, a.Asset, a.Counterparties))
	}
	want := []string{
		"incoming " + broker + " 5000000 USDT [" + buyer + "]",
		"outgoing " + broker + " 12000000000000000000 ETH [" + buyer + "]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("alerts:\n got %q\nwant %q", got, want)
	}
	for _, bad := range []alert.RuleConfig{
		{Name: "x", Chain: "eth", Assets: []string{"DOGE"}, Watch: alert.WatchList{Addresses: []string{broker}}},
		{Name: "x", Chain: "eth", MinAmounts: map[string]string{"USDT": "1.5"}, Watch: alert.WatchList{Addresses: []string{broker}}},
		{Name: "x", Chain: "btc", Assets: []string{"USDT"}, Watch: alert.WatchList{Addresses: []string{broker}}},
	} {
		if _, err := alert.NewRule(bad, anyAddress); err == nil {
			t.Errorf("%+v: got no error", bad)
		}
	}
}
