package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/eth"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/service"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/simulate/ethsim"
	"github.com/tracerproject/tracer/store/chdb"
	"github.com/tracerproject/tracer/trace"
)

// The tests share one world: a simulated Bitcoin chain (clusterer on) and
// a simulated Ethereum chain ingested through the pipeline into embedded
// chDB, with the planted brokers, cartels and exchanges of both labelled
// through the service's own import.
var world struct {
	svc  *service.Service
	btc  *simulate.Truth
	eth  *ethsim.Truth
	dir  string
	skip string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "service-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	world.dir = dir
	closeWorld, err := buildWorld(dir)
	if errors.Is(err, chdb.ErrNoLibrary) && os.Getenv("TRACER_REQUIRE_CHDB") != "1" {
		world.skip = fmt.Sprintf("%v (TRACER_REQUIRE_CHDB=1 makes this a failure)", err)
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "building the test world:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if closeWorld != nil {
		if err := closeWorld(); err != nil {
			fmt.Fprintln(os.Stderr, "closing the pipeline:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildWorld(dir string) (func() error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := simulate.DefaultConfig()
	cfg.Params = &chaincfg.MainNetParams
	cfg.Blocks, cfg.TxsPerBlock, cfg.Users, cfg.Seed = 60, 60, 1000, 7
	g, err := simulate.New(cfg)
	if err != nil {
		return nil, err
	}
	btcDir := filepath.Join(dir, "btc")
	if err := simulate.WriteBlocksDir(g, btcDir, false); err != nil {
		return nil, err
	}
	world.btc = g.Truth()
	ecfg := ethsim.DefaultConfig()
	ecfg.Blocks, ecfg.TxsPerBlock, ecfg.TokenTransfersPerBlock = 24, 60, 80
	ethDir := filepath.Join(dir, "eth")
	if world.eth, err = ethsim.Generate(ecfg, ethDir); err != nil {
		return nil, err
	}
	p, err := pipeline.Open(pipeline.Config{DataDir: filepath.Join(dir, "data")})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (func() error, error) { return nil, errors.Join(err, p.Close()) }
	if err := p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: btcDir, To: -1}); err != nil {
		return fail(err)
	}
	if err := p.IngestETH(ctx, pipeline.ETHIngest{BlocksDir: ethDir, To: -1, Confirmations: 1, Tokens: eth.DefaultTokens()}); err != nil {
		return fail(err)
	}
	st, err := p.Store(ctx)
	if err != nil {
		return fail(err)
	}
	ls, err := labels.NewStore(ctx, st.Conn())
	if err != nil {
		return fail(err)
	}
	if world.svc, err = service.New(service.Config{Store: st, Labels: ls, ReportsDir: filepath.Join(dir, "reports")}); err != nil {
		return fail(err)
	}
	res, err := world.svc.ImportLabels(ctx, service.LabelImportRequest{
		Format: labels.FormatCSV, Files: []labels.File{{Name: "truth.csv", Data: truthCSV()}}, Source: "truth", AddedBy: "test",
	})
	if err != nil {
		return fail(fmt.Errorf("importing the truth labels: %w", err))
	}
	if res.Result == nil || res.Result.Added == 0 {
		return fail(fmt.Errorf("importing the truth labels: got %+v, want labels added", res.Result))
	}
	return p.Close, nil
}

// truthCSV labels the planted brokers, cartels and exchanges of both
// chains with their kind.
func truthCSV() []byte {
	var b bytes.Buffer
	b.WriteString("chain,address,entity,category,source,confidence\n")
	for _, e := range world.btc.Entities {
		switch e.Kind {
		case simulate.KindBroker, simulate.KindCartel, simulate.KindExchange:
			for _, a := range e.Addresses {
				fmt.Fprintf(&b, "btc,%s,%s,%s,truth,100\n", a, e.Name, e.Kind)
			}
		}
	}
	for _, a := range world.eth.Actors {
		switch a.Role {
		case "precursor-broker", "cartel", "exchange":
			fmt.Fprintf(&b, "eth,%s,%s,%s,truth,100\n", a.Address, a.Name, a.Role)
		}
	}
	return b.Bytes()
}

func svc(t *testing.T) *service.Service {
	t.Helper()
	if world.skip != "" {
		t.Skip(world.skip)
	}
	return world.svc
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return c
}

// wantKind checks that err is of kind (ErrInvalid or ErrNotFound) and
// says what it says.
func wantKind(t *testing.T, name string, err, kind error, msg string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: got error %v, want %v", name, err, kind)
		return
	}
	if msg != "" && !strings.Contains(err.Error(), msg) {
		t.Errorf("%s: got message %q, want it to hold %q", name, err, msg)
	}
}

// marshalsAs checks that a result marshals as the record it holds.
func marshalsAs(t *testing.T, name string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("%s: got JSON %s, want %s", name, g, w)
	}
}

func brokerFlow(t *testing.T) simulate.Flow {
	t.Helper()
	brokers := map[int]bool{}
	for _, e := range world.btc.EntitiesOf(simulate.KindBroker) {
		brokers[e.ID] = true
	}
	for _, f := range world.btc.Flows {
		if brokers[f.To] {
			return f
		}
	}
	t.Fatal("no planted payment to a broker")
	return simulate.Flow{}
}

func TestAddress(t *testing.T) {
	s, c := svc(t), ctx(t)
	f := brokerFlow(t)
	a, err := s.Address(c, service.AddressRequest{Address: f.Address})
	if err != nil {
		t.Fatal(err)
	}
	if a.BTC == nil || a.BTC.Address != f.Address || a.BTC.Received < f.Amount {
		t.Errorf("btc %s: got %+v, want it to have received at least %d", f.Address, a.BTC, f.Amount)
	}
	marshalsAs(t, "btc", a, a.BTC)

	var ethAddr string
	for _, fl := range world.eth.Flows {
		if fl.Kind == "cash-out" {
			ethAddr = fl.From
			break
		}
	}
	e, err := s.Address(c, service.AddressRequest{Address: strings.ToUpper(ethAddr[:2]) + ethAddr[2:]})
	if err != nil {
		t.Fatal(err)
	}
	if e.ETH == nil || e.ETH.Chain != chain.ETH || !strings.EqualFold(e.ETH.Address, ethAddr) || len(e.ETH.Assets) == 0 {
		t.Errorf("eth %s: got %+v, want its assets", ethAddr, e.ETH)
	}
	marshalsAs(t, "eth", e, e.ETH)

	for _, tc := range []struct {
		name string
		req  service.AddressRequest
		kind error
		msg  string
	}{
		{"bad btc", service.AddressRequest{Address: "not-an-address"}, service.ErrInvalid, ""},
		{"bad eth", service.AddressRequest{Address: "0x1234"}, service.ErrInvalid, ""},
		{"unseen btc", service.AddressRequest{Address: "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"}, service.ErrNotFound, "address 1BoatSLRHtKNngkdXEeobR76b53LETtpyT not found in the store"},
		{"unseen eth", service.AddressRequest{Address: "0x000000000000000000000000000000000000dead"}, service.ErrNotFound, "not found in the store"},
	} {
		_, err := s.Address(c, tc.req)
		wantKind(t, tc.name, err, tc.kind, tc.msg)
	}
}

func TestTx(t *testing.T) {
	s, c := svc(t), ctx(t)
	f := brokerFlow(t)
	tx, err := s.Tx(c, service.TxRequest{Txid: f.Txid})
	if err != nil {
		t.Fatal(err)
	}
	if len(tx.BTC) != 1 || tx.BTC[0].Txid != f.Txid || int(f.Vout) >= len(tx.BTC[0].Outputs) || tx.BTC[0].Outputs[f.Vout].Value != f.Amount {
		t.Errorf("btc %s: got %+v, want output %d of %d", f.Txid, tx.BTC, f.Vout, f.Amount)
	}
	marshalsAs(t, "btc", tx, tx.BTC[0])

	ef := world.eth.Flows[0]
	etx, err := s.Tx(c, service.TxRequest{Txid: ef.Txid})
	if err != nil {
		t.Fatal(err)
	}
	if etx.ETH == nil || etx.ETH.Txid != strings.ToLower(ef.Txid) || len(etx.ETH.Transfers) == 0 {
		t.Errorf("eth %s: got %+v, want its transfers", ef.Txid, etx.ETH)
	}
	marshalsAs(t, "eth", etx, etx.ETH)

	for _, tc := range []struct {
		name string
		txid string
		kind error
		msg  string
	}{
		{"short btc", "abcd", service.ErrInvalid, `"abcd" is not a transaction id (64 hex digits)`},
		{"short eth", "0xabcd", service.ErrInvalid, "is not an Ethereum transaction hash"},
		{"unseen btc", strings.Repeat("ab", 32), service.ErrNotFound, "transaction " + strings.Repeat("ab", 32) + " not found in the store"},
		{"unseen eth", "0x" + strings.Repeat("cd", 32), service.ErrNotFound, "not found in the store"},
	} {
		_, err := s.Tx(c, service.TxRequest{Txid: tc.txid})
		wantKind(t, tc.name, err, tc.kind, tc.msg)
	}
}

func TestStats(t *testing.T) {
	s, c := svc(t), ctx(t)
	all, err := s.Stats(c, service.StatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if all.BTC == nil || all.ETH == nil || int64(all.BTC.Blocks) != world.btc.Blocks || all.ETH.Blocks == 0 {
		t.Fatalf("got %+v, %+v; want %d Bitcoin blocks and some Ethereum ones", all.BTC, all.ETH, world.btc.Blocks)
	}
	marshalsAs(t, "both", all, []any{all.BTC, all.ETH})
	one, err := s.Stats(c, service.StatsRequest{Chain: chain.ETH})
	if err != nil {
		t.Fatal(err)
	}
	if one.BTC != nil {
		t.Errorf("eth: got Bitcoin stats %+v, want none", one.BTC)
	}
	marshalsAs(t, "eth", one, one.ETH)
	_, err = s.Stats(c, service.StatsRequest{Chain: "doge"})
	wantKind(t, "doge", err, service.ErrInvalid, `--chain "doge"`)
}

func TestCluster(t *testing.T) {
	s, c := svc(t), ctx(t)
	// A broker's addresses: the multi-input heuristic links those the
	// broker spent together.
	var cl *service.Cluster
	var members []string
	for _, e := range world.btc.EntitiesOf(simulate.KindBroker) {
		for _, a := range e.Addresses {
			got, err := s.Cluster(c, service.ClusterRequest{Subject: a, Limit: 1000, Growth: 5})
			if err != nil {
				t.Fatal(err)
			}
			if got.Clustered() && got.Size > 1 {
				cl, members = got, e.Addresses
				break
			}
		}
		if cl != nil {
			break
		}
	}
	if cl == nil {
		t.Fatal("no broker address is in a cluster")
	}
	if len(cl.Members) != int(cl.Size) || len(cl.Growth) == 0 {
		t.Errorf("cluster %d: got %d members and %d merges, want %d members and its growth", cl.ID, len(cl.Members), len(cl.Growth), cl.Size)
	}
	if len(cl.Labels) == 0 || cl.Labels[0].Category != string(simulate.KindBroker) {
		t.Errorf("cluster %d: got labels %+v, want the broker's first", cl.ID, cl.Labels)
	}
	byID, err := s.Cluster(c, service.ClusterRequest{Subject: fmt.Sprint(cl.ID), Offset: 1, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(byID.Members) != 1 || byID.Members[0] != cl.Members[1] || byID.Offset != 1 {
		t.Errorf("cluster %d page 2 of 1: got %v at %d, want [%s]", cl.ID, byID.Members, byID.Offset, cl.Members[1])
	}

	// Explain two members; an address outside is not linked.
	in := map[string]bool{}
	for _, m := range cl.Members {
		in[m] = true
	}
	var a, b string
	for _, m := range members {
		if in[m] {
			if a == "" {
				a = m
			} else if b == "" {
				b = m
			}
		}
	}
	if b == "" {
		a, b = cl.Members[0], cl.Members[1]
	}
	e, err := s.Explain(c, service.ExplainRequest{A: a, B: b})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Linked || len(e.Path) == 0 {
		t.Errorf("explain %s %s: got %+v, want a path", a, b, e)
	}
	f := brokerFlow(t)
	if !in[f.Address] {
		e, err := s.Explain(c, service.ExplainRequest{A: a, B: f.Address})
		if err != nil || e.Linked || e.Reason == "" {
			t.Errorf("explain %s %s: got %+v, %v; want not linked with a reason", a, f.Address, e, err)
		}
	}
	if _, err := s.Held(c, service.HeldRequest{Limit: 10}); err != nil {
		t.Errorf("held: %v", err)
	}

	for _, tc := range []struct {
		name string
		req  service.ClusterRequest
		kind error
		msg  string
	}{
		{"negative limit", service.ClusterRequest{Subject: a, Limit: -1}, service.ErrInvalid, "must not be negative"},
		{"bad subject", service.ClusterRequest{Subject: "nonsense"}, service.ErrInvalid, "is neither a cluster id nor an address"},
		{"bad chain", service.ClusterRequest{Subject: a, Chain: "doge"}, service.ErrInvalid, `--chain "doge"`},
		{"no such cluster", service.ClusterRequest{Subject: "4000000000"}, service.ErrNotFound, ""},
	} {
		_, err := s.Cluster(c, tc.req)
		wantKind(t, tc.name, err, tc.kind, tc.msg)
	}
	_, err = s.Explain(c, service.ExplainRequest{A: a, B: "nonsense"})
	wantKind(t, "explain nonsense", err, service.ErrInvalid, "")
}

func TestTrace(t *testing.T) {
	s, c := svc(t), ctx(t)
	rs, err := s.Trace(c, service.TraceRequest{From: "label:" + string(simulate.KindBroker), StopAt: []string{"cartel", "exchange"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Direction != "down" || len(rs[0].Endpoints) == 0 {
		t.Fatalf("got %d results, want one downstream with endpoints", len(rs))
	}
	if !strings.Contains(rs[0].Params, "hops=6") {
		t.Errorf("params %q: want the default 6 hops", rs[0].Params)
	}
	both, err := s.Trace(c, service.TraceRequest{From: brokerFlow(t).Address, Direction: "both", TraceOptions: service.TraceOptions{Hops: ptr(2), Model: "poison", MinValue: "0.0001btc"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(both) != 2 || !strings.Contains(both[0].Params, "hops=2") || !strings.Contains(both[0].Params, "min-value=10000") {
		t.Errorf("both: got %d results (%v), want two of 2 hops and min-value 10000", len(both), paramsOf(both))
	}
	ef := world.eth.Flows[0]
	eth, err := s.Trace(c, service.TraceRequest{From: ef.From, TraceOptions: service.TraceOptions{Chain: chain.ETH, Asset: "USDT", MinValue: "1"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range eth {
		if r.Chain != chain.ETH {
			t.Errorf("eth: got a result of chain %q", r.Chain)
		}
	}

	for _, tc := range []struct {
		name string
		req  service.TraceRequest
		kind error
		msg  string
	}{
		{"no start", service.TraceRequest{}, service.ErrInvalid, "--from is required"},
		{"bad chain", service.TraceRequest{From: ef.From, TraceOptions: service.TraceOptions{Chain: "doge"}}, service.ErrInvalid, `--chain "doge"`},
		{"asset on btc", service.TraceRequest{From: ef.From, TraceOptions: service.TraceOptions{Asset: "USDT"}}, service.ErrInvalid, "Bitcoin has one asset"},
		{"bad min-value", service.TraceRequest{From: ef.From, TraceOptions: service.TraceOptions{MinValue: "lots"}}, service.ErrInvalid, "--min-value"},
		{"bad since", service.TraceRequest{From: ef.From, TraceOptions: service.TraceOptions{Since: "yesterday"}}, service.ErrInvalid, "--since"},
		{"zero hops", service.TraceRequest{From: brokerFlow(t).Address, TraceOptions: service.TraceOptions{Hops: ptr(0)}}, service.ErrInvalid, "hops 0"},
		{"too many hops", service.TraceRequest{From: brokerFlow(t).Address, TraceOptions: service.TraceOptions{Hops: ptr(1000)}}, service.ErrInvalid, "hops 1000"},
		{"fifo upstream", service.TraceRequest{From: brokerFlow(t).Address, Direction: "up", TraceOptions: service.TraceOptions{Model: "fifo"}}, service.ErrInvalid, "fifo"},
		{"unlabelled category", service.TraceRequest{From: "label:darknet-market"}, service.ErrNotFound, ""},
	} {
		_, err := s.Trace(c, tc.req)
		wantKind(t, tc.name, err, tc.kind, tc.msg)
	}
}

func ptr[T any](v T) *T { return &v }

func paramsOf(rs []*trace.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Params)
	}
	return out
}

func TestExposure(t *testing.T) {
	s, c := svc(t), ctx(t)
	f := brokerFlow(t)
	ex, err := s.Exposure(c, service.ExposureRequest{Subject: f.Address})
	if err != nil {
		t.Fatal(err)
	}
	if ex.BTC == nil || ex.IndexMiss == "" {
		t.Fatalf("got %+v, want a live exposure and why the index did not answer", ex)
	}
	marshalsAs(t, "btc", ex, ex.BTC)

	b, err := s.BuildExposureIndex(c, service.TraceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Subjects == 0 {
		t.Errorf("index build: got %+v, want subjects", b)
	}
	idx, err := s.Exposure(c, service.ExposureRequest{Subject: f.Address})
	if err != nil {
		t.Fatal(err)
	}
	if idx.IndexMiss != "" || idx.BTC == nil {
		t.Errorf("after the build: got index miss %q, want the index's answer", idx.IndexMiss)
	}

	var buyer string
	for _, fl := range world.eth.Flows {
		if fl.Kind == "purchase" {
			buyer = fl.From
			break
		}
	}
	eth, err := s.Exposure(c, service.ExposureRequest{Subject: buyer, TraceOptions: service.TraceOptions{Chain: chain.ETH}})
	if err != nil {
		t.Fatal(err)
	}
	if eth.BTC != nil || len(eth.ETH) == 0 {
		t.Errorf("eth %s: got %+v, want exposures per asset", buyer, eth)
	}
	marshalsAs(t, "eth", eth, eth.ETH)

	for _, tc := range []struct {
		name string
		req  service.ExposureRequest
		msg  string
	}{
		{"no subject", service.ExposureRequest{}, "want an address or cluster:ID"},
		{"label", service.ExposureRequest{Subject: "label:cartel"}, "exposure of label:cartel"},
		{"bad model", service.ExposureRequest{Subject: f.Address, TraceOptions: service.TraceOptions{Model: "magic"}}, "magic"},
	} {
		_, err := s.Exposure(c, tc.req)
		wantKind(t, tc.name, err, service.ErrInvalid, tc.msg)
		if err := tc.req.Check(); !errors.Is(err, service.ErrInvalid) && tc.name != "bad model" {
			t.Errorf("%s: Check got %v, want ErrInvalid", tc.name, err)
		}
	}
	_, err = s.BuildExposureIndex(c, service.TraceOptions{Chain: chain.ETH})
	wantKind(t, "index of eth", err, service.ErrInvalid, "covers Bitcoin only")
	_, err = s.BuildExposureIndex(c, service.TraceOptions{Model: "poison"})
	wantKind(t, "poison index", err, service.ErrInvalid, "the index is haircut")
}

func TestLabels(t *testing.T) {
	s, c := svc(t), ctx(t)
	brokers := world.btc.EntitiesOf(simulate.KindBroker)
	byCat, err := s.Labels(c, service.LabelsRequest{Categories: []string{string(simulate.KindBroker)}, Chain: "btc"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range brokers {
		n += len(e.Addresses)
	}
	if len(byCat) != n {
		t.Errorf("category %s: got %d labels, want %d", simulate.KindBroker, len(byCat), n)
	}
	byEntity, err := s.Labels(c, service.LabelsRequest{Entity: strings.ToUpper(brokers[0].Name), Chain: "btc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(byEntity) != len(brokers[0].Addresses) {
		t.Errorf("entity %s: got %d labels, want %d", brokers[0].Name, len(byEntity), len(brokers[0].Addresses))
	}
	none, err := s.Labels(c, service.LabelsRequest{Entity: "nobody at all"})
	if err != nil || none == nil || len(none) != 0 {
		t.Errorf("unknown entity: got %v, %v; want an empty list", none, err)
	}
	sh, err := s.LabelShow(c, service.LabelShowRequest{Subject: brokers[0].Addresses[0]})
	if err != nil {
		t.Fatal(err)
	}
	if len(sh.Labels) != 1 || sh.Labels[0].Entity != brokers[0].Name || sh.Labels[0].AddedBy != "test" {
		t.Errorf("show %s: got %+v, want the broker's label added by test", brokers[0].Addresses[0], sh.Labels)
	}
	imps, err := s.LabelImports(c, "truth")
	if err != nil {
		t.Fatal(err)
	}
	if len(imps) != 1 || !imps[0].InForce {
		t.Errorf("imports of truth: got %+v, want one in force", imps)
	}

	_, err = s.LabelShow(c, service.LabelShowRequest{Subject: "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"})
	wantKind(t, "unlabelled", err, service.ErrNotFound, "1BoatSLRHtKNngkdXEeobR76b53LETtpyT: no label in any import")
	_, err = s.LabelShow(c, service.LabelShowRequest{Subject: "nonsense"})
	wantKind(t, "bad subject", err, service.ErrInvalid, "")
	_, err = s.LabelShow(c, service.LabelShowRequest{Subject: brokers[0].Addresses[0], AsOf: "last week"})
	wantKind(t, "bad as-of", err, service.ErrInvalid, "--as-of")
	_, err = s.Labels(c, service.LabelsRequest{Categories: []string{"astrology"}})
	wantKind(t, "unknown category", err, service.ErrInvalid, "--category")
	_, err = s.Labels(c, service.LabelsRequest{Chain: "doge"})
	wantKind(t, "bad chain", err, service.ErrInvalid, "")
}

func TestImportLabels(t *testing.T) {
	s, c := svc(t), ctx(t)
	// The payer of a planted payment: on the chain and unlabelled.
	tx, err := s.Tx(c, service.TxRequest{Txid: brokerFlow(t).Txid})
	if err != nil {
		t.Fatal(err)
	}
	payer := tx.BTC[0].Inputs[0].Address
	csv := "chain,address,entity,category,source,confidence\nbtc," + payer + ",payer,mixer,case-1,80\n"
	req := service.LabelImportRequest{Format: labels.FormatCSV, Files: []labels.File{{Name: "case.csv", Data: []byte(csv)}}, Source: "case-1", AddedBy: "alice", DryRun: true}
	dry, err := s.ImportLabels(c, req)
	if err != nil {
		t.Fatal(err)
	}
	if dry.Result != nil || len(dry.Labels) != 1 || dry.Report.Imported != 1 {
		t.Errorf("dry run: got %+v, want one label and nothing written", dry)
	}
	marshalsAs(t, "dry run", dry, map[string]any{"report": dry.Report, "labels": dry.Labels})
	if _, err := s.LabelShow(c, service.LabelShowRequest{Subject: payer}); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("after the dry run: got %v, want no label", err)
	}
	req.DryRun = false
	res, err := s.ImportLabels(c, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Result == nil || res.Result.Added != 1 {
		t.Errorf("import: got %+v, want one label added", res.Result)
	}
	marshalsAs(t, "import", res, map[string]any{"report": res.Report, "result": res.Result})
	again, err := s.ImportLabels(c, req)
	if err != nil || !again.Result.Unchanged {
		t.Errorf("the same content again: got %+v, %v; want unchanged", again.Result, err)
	}

	for _, tc := range []struct {
		name string
		req  service.LabelImportRequest
		msg  string
	}{
		{"bad format", service.LabelImportRequest{Format: "xls", Files: req.Files}, `--format "xls"`},
		{"bad line", service.LabelImportRequest{Format: labels.FormatCSV, Files: []labels.File{{Name: "bad.csv", Data: []byte("chain,address,entity,category,source,confidence\nbtc,nonsense,x,mixer,s,80\n")}}}, ""},
		{"no files", service.LabelImportRequest{Format: labels.FormatCSV}, "no input files"},
		{"bad valid-from", service.LabelImportRequest{Format: labels.FormatCSV, Files: req.Files, ValidFrom: "soon"}, "--valid-from"},
	} {
		_, err := s.ImportLabels(c, tc.req)
		wantKind(t, tc.name, err, service.ErrInvalid, tc.msg)
	}
}

func TestAlerts(t *testing.T) {
	s, c := svc(t), ctx(t)
	// No alerter ran on this store: the list is empty, not nil.
	res, err := s.Alerts(c, service.AlertsRequest{Since: "30d", Rule: "watch", Severity: "critical"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Alerts == nil || len(res.Alerts) != 0 {
		t.Errorf("got %v, want an empty list", res.Alerts)
	}
	marshalsAs(t, "empty", res, []any{})
	_, err = s.Alerts(c, service.AlertsRequest{Since: "last tuesday"})
	wantKind(t, "bad since", err, service.ErrInvalid, `--since "last tuesday"`)
}

func TestReport(t *testing.T) {
	s, c := svc(t), ctx(t)
	rep, err := s.Report(c, service.ReportRequest{
		Name: "weekly", Watch: []string{"label:" + string(simulate.KindBroker)}, Since: "2000-01-01", Formats: []string{"csv"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Subjects) != 1 || len(rep.Files) != 2 {
		t.Errorf("got %d subjects and files %v, want one subject, its JSON and CSV", len(rep.Subjects), rep.Files)
	}
	for _, f := range rep.Files {
		if filepath.Dir(f) != filepath.Join(world.dir, "reports") {
			t.Errorf("file %s: want it in the configured directory", f)
		}
	}
	all, err := s.Report(c, service.ReportRequest{Name: "all", Since: "2000-01-01", AllClusters: true, MinExposure: "0.0001btc", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Subjects) == 0 {
		t.Errorf("all clusters: got no subjects")
	}

	for _, tc := range []struct {
		name string
		req  service.ReportRequest
		msg  string
	}{
		{"bad format", service.ReportRequest{Name: "x", Formats: []string{"pdf"}}, `--format "pdf"`},
		{"bad since", service.ReportRequest{Name: "x", Since: "whenever"}, "--since"},
		{"bad until", service.ReportRequest{Name: "x", Until: "whenever"}, "--until"},
		{"all and watch", service.ReportRequest{Name: "x", AllClusters: true, Watch: []string{"label:cartel"}}, "--all-clusters"},
		{"min-exposure alone", service.ReportRequest{Name: "x", MinExposure: "5"}, "--min-exposure applies"},
		{"bad min-exposure", service.ReportRequest{Name: "x", AllClusters: true, MinExposure: "much"}, "--min-exposure"},
	} {
		_, err := s.Report(c, tc.req)
		wantKind(t, tc.name, err, service.ErrInvalid, tc.msg)
	}
}

func TestNew(t *testing.T) {
	s := svc(t)
	for _, tc := range []struct {
		name string
		cfg  service.Config
	}{
		{"no store", service.Config{}},
		{"bad category", service.Config{Store: s.Store(), Labels: mustLabels(t, s), Categories: []string{"Not A Category!"}}},
		{"bad confidence", service.Config{Store: s.Store(), Labels: mustLabels(t, s), OFACConfidence: 101}},
	} {
		if _, err := service.New(tc.cfg); err == nil {
			t.Errorf("%s: got a service, want an error", tc.name)
		}
	}
}

func mustLabels(t *testing.T, s *service.Service) *labels.Store {
	t.Helper()
	ls, err := labels.NewStore(ctx(t), s.Store().Conn())
	if err != nil {
		t.Fatal(err)
	}
	return ls
}
