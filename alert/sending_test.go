package alert_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tracerproject/tracer/alert"
	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/store"
)

// TestSendingExposure: a payment into a broker names whose money it was,
// hops back through the stored chain: haircut to the satoshi, the share
// threshold, the hop limit, and the path from the funder to the broker.
func TestSendingExposure(t *testing.T) {
	e := newEnv(t)
	in := subscribe(t, e.nc)
	ctx := context.Background()
	st, err := store.New(ctx, e.conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := alert.Rules([]alert.RuleConfig{
		{Name: "paid-broker", Kind: alert.KindExposure, Direction: "outgoing", Severity: "high", Hops: 3, MinAmount: "1000", MinSharePct: 30,
			Watch: alert.WatchList{Addresses: []string{"broker"}}},
		{Name: "half", Kind: alert.KindExposure, Direction: "outgoing", Hops: 3, MinAmount: "1000", MinSharePct: 50,
			Watch: alert.WatchList{Addresses: []string{"broker"}}},
	}, anyAddress)
	if err != nil {
		t.Fatal(err)
	}
	cfg := alert.DefaultConfig(chain.BTC)
	cfg.Rules, cfg.Confirmations = rules, 1
	stop := run(t, e, cfg)
	defer stop()

	var w world
	// funder pays buyer1; buyer1 and a stranger pay the mule; the mule pays
	// the broker 60,000 of its 99,000.
	a, aOut := ptx("A", []utxo{{addr: "funder", value: 100_000}}, []io{{"buyer1", 80_000}, {"funder", 19_000}})
	bt, bOut := ptx("B", []utxo{aOut[0], {addr: "stranger", value: 20_000}}, []io{{"mule", 99_000}})
	c, _ := ptx("C", []utxo{bOut[0]}, []io{{"broker", 60_000}, {"mule", 38_000}})
	blocks := []*chain.Block{w.block("", a), w.block("", bt), w.block("", c)}
	// The loader has stored the earlier blocks by the time the last arrives.
	var batch store.Batch
	for i, b := range blocks[:2] {
		if err := batch.AddBlock(b, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Write(ctx, &batch); err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		e.publish(t, blockEv(b))
	}
	// buyer1: 80,000·60,000/100,000 = 48,000 (60% of its input), hop 2;
	// the stranger 12,000 (60%), hop 2; the funder 48,000 of 100,000 (48%),
	// hop 3. The mule is the payer (hop 1): the watch rules' business. The
	// rule that wants half of what an address sent leaves the funder out.
	want := []string{
		"half confirmed h2 outgoing 12000",
		"half confirmed h2 outgoing 48000",
		"paid-broker confirmed h2 outgoing 12000",
		"paid-broker confirmed h2 outgoing 48000",
		"paid-broker confirmed h2 outgoing 48000",
	}
	got := in.wait(t, 5)
	if !slices.Equal(got, want) {
		t.Fatalf("alerts:\n got %q\nwant %q", got, want)
	}
	stored, err := alert.List(ctx, e.conn, alert.Filter{Since: time.Unix(blocks[0].Time, 0)})
	if err != nil {
		t.Fatal(err)
	}
	byAddr := map[string]*alert.Alert{}
	for _, s := range stored {
		if s.Rule == "paid-broker" {
			byAddr[s.Address] = s
		}
	}
	f := byAddr["funder"]
	if f == nil || f.Hops != 3 || f.Value != "100000" || f.Txid != c.Txid {
		t.Fatalf("funder's alert: %+v", f)
	}
	var path []string
	for _, s := range f.Path {
		path = append(path, fmt.Sprintf("%s>%s %s h%d", s.From, s.To, s.Amount, s.Height))
	}
	if want := []string{"funder>buyer1 48000 h0", "buyer1>mule 48000 h1", "mule>broker 60000 h2"}; !slices.Equal(path, want) {
		t.Errorf("funder's path:\n got %q\nwant %q", path, want)
	}
	if byAddr["buyer1"] == nil || byAddr["buyer1"].Hops != 2 || byAddr["stranger"] == nil || byAddr["mule"] != nil {
		t.Errorf("alerted: %v", slices.Collect(func(yield func(string) bool) {
			for a := range byAddr {
				if !yield(a) {
					return
				}
			}
		}))
	}
}
