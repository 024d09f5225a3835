package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"golang.org/x/sync/errgroup"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/btc"
	"github.com/tracerproject/tracer/stream"
)

// BTCIngest says what to ingest from where. Exactly one of RPC.Host and
// BlocksDir is set.
type BTCIngest struct {
	RPC           btc.RPCConfig
	BlocksDir     string
	From          int64
	To            int64 // -1: the source's tip
	Follow        bool
	Confirmations int64
	PollInterval  time.Duration
	UndoDepth     int64
	Progress      func(btc.Progress)
}

// IngestBTC runs the Bitcoin ingestor. With embedded NATS it also runs the
// chain's consumers (loader, clusterer, alerter) and returns once they have
// handled everything in the stream; with an external NATS it only
// publishes.
func (p *Pipeline) IngestBTC(ctx context.Context, opt BTCIngest) error {
	if !p.EmbeddedNATS() {
		return p.PublishBTC(ctx, opt)
	}
	return p.publishAndConsume(ctx, chain.BTC, func(ctx context.Context) error { return p.PublishBTC(ctx, opt) })
}

// consumer is a service that reads a chain stream with a durable consumer.
type consumer struct {
	durable string
	run     func(context.Context) error
	close   func() error
}

// publishAndConsume runs publish while the chain's consumers run, and
// returns once each consumer has acknowledged everything in the stream:
// also when publish stopped on an error (a bad block stops ingest after the
// good blocks before it, which are then stored).
func (p *Pipeline) publishAndConsume(ctx context.Context, chain string, publish func(context.Context) error) error {
	loader, js, err := p.Loader(ctx, chain)
	if err != nil {
		return err
	}
	consumers := []consumer{{durable: loaderDurable(p), run: func(ctx context.Context) error { return loader.Run(ctx, js) }}}
	if p.ClusteringChain(chain) {
		cl, _, err := p.Clusterer(ctx, chain)
		if err != nil {
			return err
		}
		consumers = append(consumers, consumer{durable: p.clustererDurable(), run: func(ctx context.Context) error { return cl.Run(ctx, js) }, close: cl.Close})
	}
	if p.Alerting(chain) {
		al, err := p.Alerter(ctx, chain)
		if err != nil {
			for _, c := range consumers {
				if c.close != nil {
					err = errors.Join(err, c.close())
				}
			}
			return err
		}
		consumers = append(consumers, consumer{durable: p.alerterDurable(), run: al.Run})
	}
	eg, ctx := errgroup.WithContext(ctx)
	consumeCtx, stopConsumers := context.WithCancel(ctx)
	defer stopConsumers()
	for _, c := range consumers {
		eg.Go(func() error { return c.run(consumeCtx) })
	}
	eg.Go(func() error {
		defer stopConsumers()
		pubErr := publish(ctx)
		if ctx.Err() != nil {
			return pubErr
		}
		last, err := stream.LastSeq(ctx, js, chain)
		for _, c := range consumers {
			if err == nil {
				err = stream.WaitAcked(ctx, js, chain, c.durable, last)
			}
		}
		if pubErr != nil {
			return pubErr
		}
		return err
	})
	err = eg.Wait()
	for _, c := range consumers {
		if c.close != nil {
			err = errors.Join(err, c.close())
		}
	}
	return err
}

// PublishBTC runs the Bitcoin ingestor, publishing to the stream only.
func (p *Pipeline) PublishBTC(ctx context.Context, opt BTCIngest) (err error) {
	src, params, closeSrc, err := openBTCSource(ctx, opt)
	if err != nil {
		return err
	}
	defer closeSrc()
	if d, ok := src.(*btc.BlocksDir); ok {
		// What OpenBlocksDir tolerated (a truncated newest file, orphans)
		// means fewer blocks than the operator may expect: say so.
		for _, w := range d.Warnings() {
			p.log.Warn("blocks directory: "+w, "dir", opt.BlocksDir)
		}
	}
	stateDir := filepath.Join(p.cfg.DataDir, "ingest", "btc")
	if err := checkNetwork(stateDir, params); err != nil {
		return err
	}
	state, err := btc.OpenChainState(stateDir, opt.UndoDepth, p.log)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := state.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing the Bitcoin ingest state: %w", cerr))
		}
	}()
	nc, _, err := p.NATS(ctx)
	if err != nil {
		return err
	}
	pub, err := stream.NewPublisher(nc)
	if err != nil {
		return err
	}
	m, err := newIngestMetrics(p.cfg.Metrics, chain.BTC)
	if err != nil {
		return err
	}
	g, err := btc.New(btc.Config{
		Source: src, State: state, Publisher: pub, Params: params,
		From: opt.From, To: opt.To, Follow: opt.Follow, Confirmations: opt.Confirmations,
		PollInterval: opt.PollInterval, Progress: m.progress(opt.Progress), Logger: p.log,
	})
	if err != nil {
		return err
	}
	return g.Run(ctx)
}

func loaderDurable(p *Pipeline) string {
	if p.cfg.Loader.Durable != "" {
		return p.cfg.Loader.Durable
	}
	return "loader"
}

func openBTCSource(ctx context.Context, opt BTCIngest) (btc.Source, *chaincfg.Params, func(), error) {
	switch {
	case opt.RPC.Host != "" && opt.BlocksDir != "":
		return nil, nil, nil, errors.New("give either --rpc or --blocks-dir, not both")
	case opt.BlocksDir != "":
		d, err := btc.OpenBlocksDir(opt.BlocksDir)
		if err != nil {
			return nil, nil, nil, err
		}
		if opt.Follow {
			return nil, nil, nil, errors.New("--follow needs --rpc: a blocks directory is read once")
		}
		return d, d.Params(), func() {}, nil
	case opt.RPC.Host != "":
		s, err := btc.NewRPCSource(opt.RPC)
		if err != nil {
			return nil, nil, nil, err
		}
		params, err := s.Params(ctx)
		if err != nil {
			s.Close()
			return nil, nil, nil, err
		}
		return s, params, s.Close, nil
	}
	return nil, nil, nil, errors.New("nothing to ingest from: give --rpc HOST:PORT or --blocks-dir DIR")
}

// checkNetwork refuses to mix networks in one ingest state.
func checkNetwork(dir string, params *chaincfg.Params) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, "NETWORK")
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return os.WriteFile(path, []byte(params.Name+"\n"), 0o644)
	}
	if err != nil {
		return err
	}
	if have := strings.TrimSpace(string(raw)); have != params.Name {
		return fmt.Errorf("the data directory holds %s data and the source is %s: use another --data", have, params.Name)
	}
	return nil
}
