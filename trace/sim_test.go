package trace_test

import (
	"context"
	"testing"
	"time"

	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/internal/simworld"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/trace"
)

// simWorld is the synthetic world of internal/simworld.
func simWorld(t *testing.T, ctx context.Context, blocks, txs int, seed int64) (store.Conn, *labels.Store, *simulate.Truth) {
	t.Helper()
	w := simworld.New(t, ctx, blocks, txs, seed)
	return w.Conn, w.Labels, w.Truth
}

// TestPlantedFlows: downstream from every address labelled
// precursor-broker, stopping at cartels and exchanges, the trace finds each
// planted broker → cartel and broker → exchange flow at its output, with
// its planted amount, exactly for poison, haircut and fifo (a broker's forward
// spends only broker coins and every later step spends one coin, so the
// haircut fraction is 1 all the way). And nothing else reaches a cartel or
// an exchange: in the simulator broker money leaves the brokers only along
// planted paths (intermediaries hold it on addresses outside their wallet
// and spend it only in the next step), so any other cartel or exchange
// endpoint would be a tracer error.
func TestPlantedFlows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn, ls, truth := simWorld(t, ctx, 60, 120, 5)
	planted := map[string]simulate.Flow{}
	for _, f := range truth.Flows {
		if f.Kind == simulate.FlowCartel || f.Kind == simulate.FlowCashOut {
			planted[key(f.Txid, f.Vout)] = f
		}
	}
	if len(planted) < 3 {
		t.Fatalf("the chain has %d broker → cartel/exchange flows; the test needs a longer chain", len(planted))
	}
	start, err := trace.ParseStart(ctx, "label:precursor-broker", cluster.NewClusters(conn), ls, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var brokers int
	for _, e := range truth.EntitiesOf(simulate.KindBroker) {
		brokers += len(e.Addresses)
	}
	if len(start.Addresses) < brokers {
		t.Fatalf("label:precursor-broker: got %d addresses, want at least the %d broker addresses", len(start.Addresses), brokers)
	}
	tr := trace.New(conn, ls)
	for _, model := range []string{trace.Poison, trace.Haircut, trace.FIFO} {
		cfg := trace.DefaultConfig()
		cfg.Model = model
		cfg.StopAt = []string{"cartel", "exchange"}
		res, err := tr.Trace(ctx, start, cfg)
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		r := res[0]
		if r.Capped != "" {
			t.Fatalf("%s: capped: %s", model, r.Capped)
		}
		got := endpoints(r)
		found := 0
		for k, f := range planted {
			e, ok := got[k]
			want := "stop:" + map[simulate.FlowKind]string{simulate.FlowCartel: "cartel", simulate.FlowCashOut: "exchange"}[f.Kind]
			if !ok {
				t.Errorf("%s: planted %s flow %d (%s, %d sat, %d hops) not found", model, f.Kind, f.ID, k, f.Amount, f.Hops)
				continue
			}
			found++
			if e.Amount != f.Amount || e.Reason != want || e.Address != f.Address {
				t.Errorf("%s: flow %d at %s: got %d sat at %s (%s), want %d sat at %s (%s)", model, f.ID, k, e.Amount, e.Address, e.Reason, f.Amount, f.Address, want)
			}
			// Path: the planted transactions, in order (a cluster step
			// counts no hop, so hops may be fewer than transactions).
			if len(e.Path) != len(f.Path) {
				t.Errorf("%s: flow %d: path of %d steps, want %d", model, f.ID, len(e.Path), len(f.Path))
			} else {
				for i := range f.Path {
					if e.Path[i].Txid != f.Path[i] {
						t.Errorf("%s: flow %d step %d: got %s, want %s", model, f.ID, i, e.Path[i].Txid, f.Path[i])
					}
				}
			}
			if e.Hops < 1 || e.Hops > len(f.Path) {
				t.Errorf("%s: flow %d: %d hops, want 1..%d", model, f.ID, e.Hops, len(f.Path))
			}
		}
		for k, e := range got {
			if (e.Reason == "stop:cartel" || e.Reason == "stop:exchange") && planted[k].Txid == "" {
				t.Errorf("%s: %s reached %s (%s, %d sat) outside the planted flows", model, e.Reason, e.Address, k, e.Amount)
			}
		}
		t.Logf("%s: %d planted flows found of %d; %d endpoints, %d nodes, %d queries, %s", model, found, len(planted), len(r.Endpoints), r.Nodes, r.Queries, r.Elapsed)
	}

	// Two hops: every flow of at most two transactions is found (cluster
	// steps may bring longer ones within reach too), nothing beyond two
	// hops is reported, and still nothing outside the planted flows.
	cfg := trace.DefaultConfig()
	cfg.Hops = 2
	cfg.StopAt = []string{"cartel", "exchange"}
	res, err := tr.Trace(ctx, start, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := endpoints(res[0])
	short := 0
	for k, f := range planted {
		if len(f.Path) > 2 {
			continue
		}
		short++
		if e, ok := got[k]; !ok || e.Amount != f.Amount {
			t.Errorf("hops 2: flow %d (%d transactions) at %s: got %+v, want %d sat", f.ID, len(f.Path), k, e, f.Amount)
		}
	}
	for k, e := range got {
		if e.Hops > 2 {
			t.Errorf("hops 2: endpoint %s at %d hops", k, e.Hops)
		}
		if (e.Reason == "stop:cartel" || e.Reason == "stop:exchange") && planted[k].Txid == "" {
			t.Errorf("hops 2: %s reached %s outside the planted flows", e.Reason, k)
		}
	}
	if short == 0 {
		t.Errorf("hops 2: no planted flow of two transactions or fewer to check")
	}

	// Upstream from the brokers, stopping at cartels: the brokers are paid
	// by buyers, whom cartels fund; a cartel wallet is reached only as the
	// spender of a planted buyer-funding transaction.
	funding := map[string]bool{}
	for _, f := range truth.Flows {
		if f.Kind == simulate.FlowFunding {
			funding[f.Txid] = true
		}
	}
	for _, model := range []string{trace.Poison, trace.Haircut} {
		cfg := trace.DefaultConfig()
		cfg.Model, cfg.Direction, cfg.StopAt = model, trace.Up, []string{"cartel"}
		res, err := tr.Trace(ctx, start, cfg)
		if err != nil {
			t.Fatalf("up %s: %v", model, err)
		}
		var cartels int
		for _, e := range res[0].Endpoints {
			if e.Reason != "stop:cartel" {
				continue
			}
			cartels++
			if last := e.Path[len(e.Path)-1]; !funding[last.Txid] || e.Amount <= 0 {
				t.Errorf("up %s: cartel output %s:%d (%d sat) reached through %s, which is no planted buyer funding", model, e.Txid, e.N, e.Amount, last.Txid)
			}
		}
		if cartels == 0 {
			t.Errorf("up %s: no cartel reached upstream of the brokers", model)
		}
		t.Logf("up %s: %d cartel outputs reached through planted fundings, %d endpoints", model, cartels, len(res[0].Endpoints))
	}

	// Exposure of each cartel: what it received from precursor brokers is
	// its planted cartel payments. Upstream haircut gives each input
	// floor(w·T/V) of a transaction's tainted outputs T: exact through the
	// one-input hops, and at most one satoshi short per input of the
	// broker's forward (at most 100 inputs).
	for _, c := range truth.EntitiesOf(simulate.KindCartel) {
		var want int64
		var n int
		for _, f := range truth.Flows {
			if f.Kind == simulate.FlowCartel && f.To == c.ID {
				want += f.Amount
				n++
			}
		}
		ex, err := tr.Exposure(ctx, trace.Start{Desc: c.Name, Addresses: c.Addresses}, trace.DefaultConfig())
		if err != nil {
			t.Fatalf("exposure of %s: %v", c.Name, err)
		}
		var got int64
		for _, f := range ex.From {
			if f.Category == "precursor-broker" {
				got = f.Direct + f.Indirect
			}
		}
		if got > want || want-got > int64(100*n) {
			t.Errorf("exposure of %s: %d sat from precursor-broker, want the %d sat of its %d planted payments (less at most 100 sat each)", c.Name, got, want, n)
		}
		t.Logf("exposure of %s: %d sat from precursor-broker (planted %d in %d payments); from %+v; to %+v", c.Name, got, want, n, ex.From, ex.To)
	}
}
