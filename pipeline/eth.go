package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/eth"
	"github.com/tracerproject/tracer/stream"
)

// ETHIngest says what to ingest from which Ethereum node.
type ETHIngest struct {
	RPC eth.RPCConfig
	// BlocksDir reads saved blocks (tracer simulate eth) instead of a node.
	BlocksDir     string
	From          int64
	To            int64 // -1: the safe tip
	Follow        bool
	Confirmations int64
	// Finalized caps ingestion at the node's finalized block.
	Finalized bool
	Tokens    eth.TokenSet
	// NodeSenders takes senders from the node instead of recovering them
	// (eth.DecodeOptions.NodeSenders).
	NodeSenders  bool
	PollInterval time.Duration
	HashDepth    int64
	Progress     func(eth.Progress)
}

// IngestETH runs the Ethereum ingestor. With embedded NATS it also runs the
// chain's consumers (loader, alerter) and returns once they have handled
// everything in the stream; with an external NATS it only publishes.
func (p *Pipeline) IngestETH(ctx context.Context, opt ETHIngest) error {
	if !p.EmbeddedNATS() {
		return p.PublishETH(ctx, opt)
	}
	return p.publishAndConsume(ctx, chain.ETH, func(ctx context.Context) error { return p.PublishETH(ctx, opt) })
}

// PublishETH runs the Ethereum ingestor, publishing to the stream only.
func (p *Pipeline) PublishETH(ctx context.Context, opt ETHIngest) (err error) {
	var src interface {
		eth.Source
		ChainID(context.Context) (string, error)
	}
	where := redactURL(opt.RPC.URL)
	switch {
	case opt.BlocksDir != "" && opt.RPC.URL != "":
		return fmt.Errorf("give either --rpc or --blocks-dir, not both")
	case opt.BlocksDir != "":
		d, err := eth.OpenDir(opt.BlocksDir)
		if err != nil {
			return err
		}
		if opt.Follow {
			return fmt.Errorf("--follow needs --rpc: a blocks directory is read once")
		}
		src, where = d, opt.BlocksDir
	default:
		r, err := eth.DialRPC(ctx, opt.RPC)
		if err != nil {
			return err
		}
		defer r.Close()
		src = r
	}
	chainID, err := src.ChainID(ctx)
	if err != nil {
		return err
	}
	stateDir := filepath.Join(p.cfg.DataDir, "ingest", "eth")
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return err
	}
	state, err := eth.OpenChainState(stateDir, opt.HashDepth, p.log)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := state.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing the Ethereum ingest state: %w", cerr))
		}
	}()
	switch have := state.ChainID(); {
	case have == "":
		if err := state.SetChainID(chainID); err != nil {
			return err
		}
	case have != chainID:
		return fmt.Errorf("the data directory holds Ethereum chain %s and %s is chain %s: use another --data", have, where, chainID)
	}
	nc, _, err := p.NATS(ctx)
	if err != nil {
		return err
	}
	pub, err := stream.NewPublisher(nc)
	if err != nil {
		return err
	}
	g, err := eth.New(eth.Config{
		Source: src, State: state, Publisher: pub, Decode: eth.DecodeOptions{Tokens: opt.Tokens, NodeSenders: opt.NodeSenders},
		From: opt.From, To: opt.To, Follow: opt.Follow, Confirmations: opt.Confirmations, Finalized: opt.Finalized,
		PollInterval: opt.PollInterval, Progress: opt.Progress, Logger: p.log.With("source", where),
	})
	if err != nil {
		return err
	}
	return g.Run(ctx)
}

// redactURL hides credentials in a node URL (https://user:key@host/…).
func redactURL(u string) string {
	scheme := strings.Index(u, "://")
	at := strings.LastIndex(u, "@")
	if scheme < 0 || at < scheme {
		return u
	}
	return u[:scheme+3] + "***" + u[at:]
}
