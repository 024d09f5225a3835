package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tracerproject/tracer/ingest/btc"
	"github.com/tracerproject/tracer/metrics"
)

// ingestMetrics are the ingestor's figures: with the loader's height they
// give the lag of each stage (target − height: ingest behind the node;
// ingest height − loader height: store behind the stream).
type ingestMetrics struct {
	height, target prometheus.Gauge
	blocks, txs    prometheus.Counter
}

func newIngestMetrics(reg prometheus.Registerer, chain string) (*ingestMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	labels := prometheus.Labels{"chain": chain}
	m := &ingestMetrics{
		height: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "tracer", Subsystem: "ingest", Name: "height",
			Help: "Height of the last block the ingestor connected and committed to publish.", ConstLabels: labels}),
		target: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "tracer", Subsystem: "ingest", Name: "target_height",
			Help: "Height the ingestor is heading for: the source's tip less the confirmations, or --to.", ConstLabels: labels}),
		blocks: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "tracer", Subsystem: "ingest", Name: "blocks_total",
			Help: "Blocks connected by this process.", ConstLabels: labels}),
		txs: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "tracer", Subsystem: "ingest", Name: "txs_total",
			Help: "Transactions connected by this process.", ConstLabels: labels}),
	}
	var err error
	m.height, err = metrics.Register(reg, m.height)
	if err == nil {
		m.target, err = metrics.Register(reg, m.target)
	}
	if err == nil {
		m.blocks, err = metrics.Register(reg, m.blocks)
	}
	if err == nil {
		m.txs, err = metrics.Register(reg, m.txs)
	}
	return m, err
}

// progress wraps the caller's progress callback with the metrics.
func (m *ingestMetrics) progress(next func(btc.Progress)) func(btc.Progress) {
	if m == nil {
		return next
	}
	var blocks, txs int64
	return func(p btc.Progress) {
		m.height.Set(float64(p.Height))
		m.target.Set(float64(p.Target))
		m.blocks.Add(float64(p.Blocks - blocks))
		m.txs.Add(float64(p.Txs - txs))
		blocks, txs = p.Blocks, p.Txs
		if next != nil {
			next(p)
		}
	}
}
