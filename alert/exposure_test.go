package alert_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tracerproject/tracer/alert"
	"github.com/tracerproject/tracer/chain"
)

// utxo is an output a test transaction spends.
type utxo struct {
	txid  string
	n     uint32
	addr  string
	value int64
}

// ptx makes a transaction spending the given outputs (a zero txid: a fresh
// outpoint of its own) and paying outs; it returns the outputs it creates.
func ptx(name string, ins []utxo, outs []io) (chain.Tx, []utxo) {
	tx := chain.Tx{Txid: hash(name)}
	for i, in := range ins {
		if in.txid == "" {
			in.txid = hash(name + "-prev-" + fmt.Sprint(i))
		}
		tx.Inputs = append(tx.Inputs, chain.Input{Index: uint32(i), PrevTxid: in.txid, PrevIndex: in.n, Address: in.addr, ScriptType: chain.ScriptP2WPKH, Value: in.value})
	}
	var created []utxo
	for i, o := range outs {
		tx.Outputs = append(tx.Outputs, chain.Output{Index: uint32(i), Address: o.addr, ScriptType: chain.ScriptP2WPKH, Value: o.value})
		created = append(created, utxo{tx.Txid, uint32(i), o.addr, o.value})
	}
	return tx, created
}

// TestExposureRule follows a broker's money through mules over a real
// stream: hop counts, haircut amounts to the satoshi, the share threshold,
// the hop limit, a reorg (retraction, and the state undone), and a restart
// (the state rebuilt from the stream: a payment out of an output tainted
// before the restart still alerts, and nothing is sent twice).
func TestExposureRule(t *testing.T) {
	e := newEnv(t)
	in := subscribe(t, e.nc)
	rules, err := alert.Rules([]alert.RuleConfig{
		{Name: "near-broker", Kind: alert.KindExposure, Severity: "medium", Hops: 3, MinAmount: "1000", MinSharePct: 10,
			Watch: alert.WatchList{Addresses: []string{"broker"}}},
	}, anyAddress)
	if err != nil {
		t.Fatal(err)
	}
	cfg := alert.DefaultConfig(chain.BTC)
	cfg.Rules, cfg.Confirmations = rules, 1
	// The restart below takes over the durable consumer at once. A message
	// the server hands to the stopped reader's last pull request before its
	// unsubscribe arrives is redelivered only after the ack wait: keep that
	// well inside the test's wait for alerts.
	cfg.AckWait = 3 * time.Second
	stop := run(t, e, cfg)

	var w world
	// Hop 1: the broker pays mule1 (a direct payment: the watch rules' job).
	a, aOut := ptx("A", []utxo{{addr: "broker", value: 100_000}}, []io{{"mule1", 60_000}, {"broker", 39_000}})
	b0 := w.block("", a)
	// Hop 2: mule1 mixes it with 60,000 clean satoshi and pays mule2 100,000:
	// half of it tainted (50,000). Its change stays mule1's (no hop).
	b, bOut := ptx("B", []utxo{aOut[0], {addr: "clean", value: 60_000}}, []io{{"mule2", 100_000}, {"mule1", 19_000}})
	b1 := w.block("", b)
	e.publish(t, blockEv(b0), blockEv(b1))
	want := []string{"near-broker confirmed h1 incoming 50000"}
	if got := in.wait(t, 1); !slices.Equal(got, want) {
		t.Fatalf("blocks 0-1:\n got %q\nwant %q", got, want)
	}
	// Hop 3: mule2 pays x3 (49,500 tainted); mule1's change (9,500 tainted)
	// joins 200,000 clean satoshi: 4.3% of y's payment, under the 10% share.
	c, _ := ptx("C", []utxo{bOut[0]}, []io{{"x3", 99_000}})
	d, _ := ptx("D", []utxo{bOut[1], {addr: "clean2", value: 200_000}}, []io{{"y", 218_000}})
	b2 := w.block("", c, d)
	e.publish(t, blockEv(b2))
	if got, want := in.wait(t, 1), []string{"near-broker confirmed h2 incoming 49500"}; !slices.Equal(got, want) {
		t.Fatalf("block 2:\n got %q\nwant %q", got, want)
	}
	// A reorg takes block 2 away; in the new block 2 mule2 pays z 60,000
	// (30,000 tainted, hop 3) and keeps 39,000 as change (19,500 tainted,
	// still hop 2).
	e.publish(t, undoEv(b2))
	w.height, w.parent = 2, b1.Hash
	ex, eOut := ptx("E", []utxo{bOut[0]}, []io{{"z", 60_000}, {"mule2", 39_000}})
	b2b := w.block("b", ex)
	e.publish(t, blockEv(b2b))
	want = []string{"near-broker confirmed h2 incoming 30000", "near-broker retracted h2 incoming 49500 retracts"}
	if got := in.wait(t, 2); !slices.Equal(got, want) {
		t.Fatalf("after the reorg:\n got %q\nwant %q", got, want)
	}
	stop()

	// A new alerter on the same consumer rebuilds the state from the
	// stream: mule2's change, tainted in block 2b, pays q (19,000, hop 3).
	stop = run(t, e, cfg)
	f, _ := ptx("F", []utxo{eOut[1]}, []io{{"q", 38_000}})
	// y (untracked after the reorg) and x3 (hop 3: the limit) pay on: nothing.
	g, _ := ptx("G", []utxo{{txid: hash("C"), n: 0, addr: "x3", value: 99_000}}, []io{{"x4", 98_000}})
	b3 := w.block("", f, g)
	e.publish(t, blockEv(b3))
	got := in.wait(t, 1)
	if want := []string{"near-broker confirmed h3 incoming 19000"}; !slices.Equal(got, want) {
		t.Fatalf("after the restart:\n got %q\nwant %q", got, want)
	}
	stop()

	// The stored alert of block 3 carries its path and hop count.
	stored, err := alert.List(t.Context(), e.conn, alert.Filter{Since: time.Unix(b0.Time, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var q *alert.Alert
	for _, s := range stored {
		if s.Address == "q" {
			q = s
		}
	}
	if q == nil {
		t.Fatal("the alert for q is not stored")
	}
	var path []string
	for _, s := range q.Path {
		path = append(path, fmt.Sprintf("%s>%s %s %v", s.From, s.To, s.Amount, s.SameOwner))
	}
	wantPath := []string{"broker>mule1 60000 false", "mule1>mule2 50000 false", "mule2>mule2 19500 true", "mule2>q 19000 false"}
	if q.Hops != 3 || q.Value != "38000" || q.Amount != "19000" || !slices.Equal(path, wantPath) || len(q.Matched) != 1 || q.Matched[0].Entry != "broker" {
		t.Errorf("q's alert: hops %d value %s amount %s matched %+v path\n got %q\nwant %q", q.Hops, q.Value, q.Amount, q.Matched, path, wantPath)
	}
}

func TestExposureRuleConfig(t *testing.T) {
	watch := alert.WatchList{Addresses: []string{"broker"}}
	for _, tc := range []struct {
		cfg  alert.RuleConfig
		want string
	}{
		{alert.RuleConfig{Name: "x", Kind: alert.KindExposure, Watch: watch}, "min_amount"},
		{alert.RuleConfig{Name: "x", Kind: alert.KindExposure, MinAmount: "0", Watch: watch}, "min_amount"},
		{alert.RuleConfig{Name: "x", Kind: alert.KindExposure, MinAmount: "10", Hops: 1, Watch: watch}, "hops 1"},
		{alert.RuleConfig{Name: "x", Kind: alert.KindExposure, MinAmount: "10", Hops: 11, Watch: watch}, "hops 11"},
		{alert.RuleConfig{Name: "x", Kind: alert.KindExposure, MinAmount: "10", MinSharePct: 101, Watch: watch}, "min_share_pct 101"},
		{alert.RuleConfig{Name: "x", Kind: alert.KindExposure, MinAmount: "10", Direction: "sideways", Watch: watch}, "direction"},
		{alert.RuleConfig{Name: "x", Kind: alert.KindExposure, MinAmount: "10", Chain: "eth", Watch: watch}, "chain \"eth\""},
		{alert.RuleConfig{Name: "x", Hops: 3, Watch: watch}, "exposure rules only"},
	} {
		if _, err := alert.NewRule(tc.cfg, anyAddress); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
	r, err := alert.NewRule(alert.RuleConfig{Name: "x", Kind: alert.KindExposure, MinAmount: "10", Watch: watch}, anyAddress)
	if err != nil || r.Hops != alert.DefaultExposureHops || r.LookbackBlocks != alert.DefaultLookbackBlocks {
		t.Errorf("defaults: %v %+v", err, r)
	}
}
