package bench

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/nats-io/nats.go"

	"github.com/tracerproject/tracer/alert"
	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/stream"
	"github.com/tracerproject/tracer/stream/payload"
)

// AlertsConfig configures Alerts: one watch-list size.
type AlertsConfig struct {
	// Pipeline is the base configuration: clusterer and logger.
	Pipeline pipeline.Config
	// Work is the directory for the watch list and the data; the caller
	// removes it.
	Work string
	// DSN of a ClickHouse server (empty: embedded chDB under Work); the
	// benchmark works in its own database tracer_bench_alerts_WATCHED.
	DSN string
	// Watched is the size of the watch list.
	Watched             int
	Blocks, TxsPerBlock int
	AlertsPerBlock      int
	// CheckAddress validates and canonicalizes the watched addresses, as
	// the alerter's configuration does.
	CheckAddress alert.AddressCheck
}

// AlertsResult is what Alerts measured.
type AlertsResult struct {
	Watched    int     `json:"watched_addresses"`
	LoadSec    float64 `json:"rule_load_seconds"`
	Blocks     int     `json:"blocks"`
	TxsPerBlk  int     `json:"txs_per_block"`
	Alerts     int     `json:"alerts"`
	P50Millis  float64 `json:"p50_ms"`
	P99Millis  float64 `json:"p99_ms"`
	MaxMillis  float64 `json:"max_ms"`
	BaseP50Ms  float64 `json:"baseline_p50_ms"`
	BaseP99Ms  float64 `json:"baseline_p99_ms"`
	Engine     string  `json:"engine"`
	RSSMiB     float64 `json:"peak_rss_mib"`
	Confirmed  int     `json:"confirmations"`
	AlertsBlk  int     `json:"alerts_per_block"`
	Subscriber string  `json:"subscriber"`
}

// address is a deterministic regtest P2WPKH address.
func address(i int) string {
	h := sha256.Sum256([]byte(fmt.Sprint("bench", i)))
	addr, err := btcutil.NewAddressWitnessPubKeyHash(h[:20], &chaincfg.RegressionNetParams)
	if err != nil {
		panic(err) // 20 bytes always make an address
	}
	return addr.EncodeAddress()
}

// Alerts publishes mainnet-sized blocks one by one into an embedded
// JetStream stream, each paying AlertsPerBlock of Watched addresses, with
// the alerter running on the same engine; a core NATS subscriber on
// alerts.> timestamps every alert. It measures the latency from the publish
// of a block to the arrival of each of its alerts and, as a baseline, the
// latency of a plain message through the same server.
func Alerts(ctx context.Context, cfg AlertsConfig) (_ *AlertsResult, err error) {
	watched, blocks, txs, perBlock := cfg.Watched, cfg.Blocks, cfg.TxsPerBlock, cfg.AlertsPerBlock
	row := &AlertsResult{Watched: watched, Blocks: blocks, TxsPerBlk: txs, Confirmed: 1, AlertsBlk: perBlock, Subscriber: "core NATS alerts.>"}
	if err := os.MkdirAll(cfg.Work, 0o755); err != nil {
		return nil, err
	}
	// The watch list, as a file, as an operator would give it.
	list := filepath.Join(cfg.Work, "watch.txt")
	var sb strings.Builder
	for i := range watched {
		sb.WriteString(address(i))
		sb.WriteByte('\n')
	}
	if err := os.WriteFile(list, []byte(sb.String()), 0o644); err != nil {
		return nil, err
	}
	start := time.Now()
	rules, err := alert.Rules([]alert.RuleConfig{{Name: "bench", Watch: alert.WatchList{Files: []string{list}}}}, cfg.CheckAddress)
	if err != nil {
		return nil, err
	}
	row.LoadSec = time.Since(start).Seconds()

	dsn, err := Database(cfg.DSN, fmt.Sprintf("tracer_bench_alerts_%d", watched))
	if err != nil {
		return nil, err
	}
	p, st, err := open(ctx, cfg.Pipeline, dataDir(cfg.Work), dsn, cfg.Pipeline.NoCluster)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, p.Close()) }()
	row.Engine = st.Conn().Engine()
	if err := truncate(ctx, st.Conn(), "alerts", "alert_payments"); err != nil {
		return nil, err
	}
	nc, js, err := p.NATS(ctx)
	if err != nil {
		return nil, err
	}

	// The subscriber: arrival time of every alert, by block.
	var mu sync.Mutex
	arrived := map[string][]time.Time{}
	sub, err := nc.Subscribe("alerts.>", func(m *nats.Msg) {
		now := time.Now()
		var al alert.Alert
		if json.Unmarshal(m.Data, &al) == nil {
			mu.Lock()
			arrived[al.BlockHash] = append(arrived[al.BlockHash], now)
			mu.Unlock()
		}
	})
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()

	// Baseline: a plain message through the same server.
	var base []float64
	echo, err := nc.Subscribe("bench.echo", func(m *nats.Msg) { _ = m.Respond(nil) })
	if err != nil {
		return nil, err
	}
	for range 200 {
		t0 := time.Now()
		if _, err := nc.Request("bench.echo", nil, time.Second); err != nil {
			return nil, err
		}
		base = append(base, float64(time.Since(t0).Microseconds())/1000/2)
	}
	echo.Unsubscribe()

	acfg := alert.DefaultConfig(chain.BTC)
	acfg.Rules, acfg.Confirmations, acfg.Durable = rules, 1, "bench-alerter"
	al, err := alert.New(st.Conn(), js, acfg)
	if err != nil {
		return nil, err
	}
	actx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- al.Run(actx) }()
	defer func() { stop(); <-done }()

	pub, err := stream.NewPublisher(nc)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(watched), 7))
	sent := map[string]time.Time{}
	var seq uint64
	if last, err := stream.LastSeq(ctx, js, chain.BTC); err == nil {
		seq = last
	}
	parent := ""
	for h := range blocks {
		b := alertsBlock(rng, int64(h), parent, txs, perBlock, watched)
		parent = b.Hash
		seq++
		m, err := payload.NewMessage(&chain.Event{Kind: chain.KindBlock, Seq: seq, Chain: b.Chain, Height: b.Height, Hash: b.Hash, Block: b})
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		if _, err := pub.PublishMessages(ctx, m); err != nil {
			return nil, err
		}
		sent[b.Hash] = t0
		// One block at a time, as a chain makes them: wait for its alerts.
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			n := len(arrived[b.Hash])
			mu.Unlock()
			if n >= perBlock {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("bench: block %d: %d of %d alerts within 30s", h, n, perBlock)
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	var lat []float64
	mu.Lock()
	for hash, ts := range arrived {
		for _, t := range ts {
			lat = append(lat, float64(t.Sub(sent[hash]).Microseconds())/1000)
		}
	}
	mu.Unlock()
	row.Alerts = len(lat)
	row.P50Millis, row.P99Millis, row.MaxMillis = percentile(lat, 50), percentile(lat, 99), percentile(lat, 100)
	row.BaseP50Ms, row.BaseP99Ms = percentile(base, 50), percentile(base, 99)
	row.RSSMiB = PeakRSSMiB()
	return row, nil
}

// alertsBlock is a block of txs payments between random addresses,
// perBlock of them to watched addresses.
func alertsBlock(rng *rand.Rand, height int64, parent string, txs, perBlock, watched int) *chain.Block {
	id := func(s string) string { return chainhash.HashH([]byte(s)).String() }
	b := &chain.Block{Chain: chain.BTC, Height: height, Parent: parent, Hash: id(fmt.Sprint("bench block ", height)),
		Time: 1_700_000_000 + height*600}
	b.Txs = make([]chain.Tx, txs)
	for i := range b.Txs {
		tx := &b.Txs[i]
		tx.Txid, tx.Index = id(fmt.Sprint("bench tx ", height, i)), i
		if i == 0 {
			tx.Coinbase = true
			tx.Inputs = []chain.Input{{Coinbase: true}}
			tx.Outputs = []chain.Output{{Address: address(-1), ScriptType: chain.ScriptP2WPKH, Value: 312_500_000}}
			continue
		}
		for j := range 2 {
			tx.Inputs = append(tx.Inputs, chain.Input{Index: uint32(j), PrevTxid: id(fmt.Sprint("prev ", height, i, j)),
				Address: address(-2 - rng.IntN(1<<30)), ScriptType: chain.ScriptP2WPKH, Value: 100_000 + rng.Int64N(1e6)})
		}
		for j := range 3 {
			tx.Outputs = append(tx.Outputs, chain.Output{Index: uint32(j), Address: address(-2 - rng.IntN(1<<30)),
				ScriptType: chain.ScriptP2WPKH, Value: 10_000 + rng.Int64N(1e5)})
		}
	}
	for k := range perBlock {
		tx := &b.Txs[1+(k*(txs-1))/max(perBlock, 1)%(txs-1)]
		tx.Outputs[0].Address = address(rng.IntN(watched))
	}
	return b
}
