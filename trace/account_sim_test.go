package trace_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"testing"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/eth"
	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/simulate/ethsim"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/store/chdb"
	"github.com/tracerproject/tracer/trace"
)

// ethWorld ingests a synthetic Ethereum world (simulate/ethsim) through
// the pipeline into the engine named (clickhouse-server or chdb) and labels
// its brokers, cartels and exchanges from the truth.
func ethWorld(t *testing.T, ctx context.Context, engine string, blocks int) (store.Conn, *labels.Store, *ethsim.Truth) {
	t.Helper()
	cfg := ethsim.DefaultConfig()
	cfg.Blocks, cfg.TxsPerBlock, cfg.TokenTransfersPerBlock = blocks, 60, 80
	dir := t.TempDir()
	truth, err := ethsim.Generate(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	pc := pipeline.Config{DataDir: t.TempDir(), NoCluster: true}
	if engine == "clickhouse-server" {
		pc.StoreDSN = chserver.TempDatabase(t)
	}
	p, err := pipeline.Open(pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.IngestETH(ctx, pipeline.ETHIngest{BlocksDir: dir, To: -1, Confirmations: 1, Tokens: eth.DefaultTokens()}); err != nil {
		if errors.Is(err, chdb.ErrNoLibrary) && os.Getenv("TRACER_REQUIRE_CHDB") != "1" {
			t.Skipf("%v (TRACER_REQUIRE_CHDB=1 makes this a failure)", err)
		}
		t.Fatal(err)
	}
	st, err := p.Store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := labels.NewStore(ctx, st.Conn())
	if err != nil {
		t.Fatal(err)
	}
	var csv bytes.Buffer
	csv.WriteString("chain,address,entity,category,source,confidence\n")
	for _, a := range truth.Actors {
		switch a.Role {
		case "precursor-broker", "cartel", "exchange":
			fmt.Fprintf(&csv, "eth,%s,%s,%s,truth,100\n", a.Address, a.Name, a.Role)
		}
	}
	imp, err := labels.Parse(labels.FormatCSV, []labels.File{{Name: "truth.csv", Data: csv.Bytes()}}, labels.Options{Source: "truth"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ls.Write(ctx, imp, labels.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return st.Conn(), ls, truth
}

// TestAccountPlantedFlows: downstream from every address labelled
// precursor-broker, stopping at cartels and exchanges, each model finds
// every planted broker → exchange cash-out (USDT) and broker → cartel
// payment (ETH) at its transfer with its planted amount, and nothing
// else: in the synthetic world brokers send only those (and the
// poisoner's zero-value transfers in their name, which move nothing), so
// any other endpoint would be a tracer error. Upstream, each buyer is
// found with exactly what it paid the brokers.
func TestAccountPlantedFlows(t *testing.T) {
	for _, engine := range []string{"clickhouse-server", "chdb"} {
		t.Run(engine, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			conn, ls, truth := ethWorld(t, ctx, engine, 24)
			planted := map[string]ethsim.Flow{}
			paid := map[string]*big.Int{} // buyer → what it paid brokers, USDT
			poisoned := 0
			for _, f := range truth.Flows {
				switch f.Kind {
				case "cash-out", "cartel-payment":
					kind := "token"
					if f.Asset == "ETH" {
						kind = "native"
					}
					planted[fmt.Sprintf("%s/%s/%d", f.Txid, kind, f.Index)] = f
				case "purchase":
					v, _ := new(big.Int).SetString(f.Value, 10)
					if paid[f.From] == nil {
						paid[f.From] = new(big.Int)
					}
					paid[f.From].Add(paid[f.From], v)
				case "poisoning":
					poisoned++
				}
			}
			if len(planted) < 6 || poisoned == 0 {
				t.Fatalf("the world has %d broker → cartel/exchange flows and %d poisoning transfers; the test needs more blocks", len(planted), poisoned)
			}
			start, err := trace.ParseAccountStart(ctx, chain.ETH, "label:precursor-broker", ls, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			tr := trace.New(conn, ls)
			for _, model := range []string{"poison", "haircut", "fifo"} {
				cfg := acfg(model, "down", "")
				cfg.StopAt = []string{"cartel", "exchange"}
				rs, err := tr.Trace(ctx, start, cfg)
				if err != nil {
					t.Fatalf("%s: %v", model, err)
				}
				found := map[string]bool{}
				for _, r := range rs {
					if r.Capped != "" {
						t.Fatalf("%s %s: capped: %s", model, r.Symbol, r.Capped)
					}
					for _, e := range r.Endpoints {
						k := fmt.Sprintf("%s/%s/%d", e.Txid, e.Kind, e.N)
						f, ok := planted[k]
						if !ok {
							t.Errorf("%s %s: endpoint %s at %s (%s, %s) is no planted flow", model, r.Symbol, k, e.Address, e.Reason, e.AmountUnits)
							continue
						}
						role := map[string]string{"cash-out": "exchange", "cartel-payment": "cartel"}[f.Kind]
						if e.AmountUnits != f.Value || e.Address != f.To || e.Reason != "stop:"+role || e.Hops != 1 || r.Asset != f.Asset {
							t.Errorf("%s: planted %s %s: got %s %s at %s (%s, %d hops), want %s %s at %s (stop:%s, 1 hop)",
								model, f.Kind, k, e.AmountUnits, r.Asset, e.Address, e.Reason, e.Hops, f.Value, f.Asset, f.To, role)
						}
						found[k] = true
					}
				}
				for k, f := range planted {
					if !found[k] {
						t.Errorf("%s: planted %s %s (%s %s to %s) not found", model, f.Kind, k, f.Value, f.Asset, f.To)
					}
				}
			}
			for _, model := range []string{"poison", "haircut"} {
				cfg := acfg(model, "up", usdt)
				cfg.StopAt = nil
				rs, err := tr.Trace(ctx, start, cfg)
				if err != nil {
					t.Fatalf("%s up: %v", model, err)
				}
				got := map[string]string{}
				for _, e := range rs[0].Endpoints {
					if e.Reason != "not-stored" || e.Kind != "opening" || e.Hops != 1 {
						t.Errorf("%s up: endpoint %s (%s, %s, %d hops): want only the buyers' opening balances", model, e.Address, e.Reason, e.Kind, e.Hops)
					}
					got[e.Address] = e.AmountUnits
				}
				for b, v := range paid {
					if got[b] != v.String() {
						t.Errorf("%s up: buyer %s: got %q, want the %s it paid", model, b, got[b], v)
					}
				}
				if len(got) != len(paid) {
					t.Errorf("%s up: %d sources, want the %d buyers", model, len(got), len(paid))
				}
			}
		})
	}
}
