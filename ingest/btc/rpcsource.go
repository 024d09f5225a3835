package btc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/wire"
)

// RPCConfig names a node's JSON-RPC endpoint (btcd or Bitcoin Core).
type RPCConfig struct {
	Host string // host:port
	User string
	Pass string
	TLS  bool
	// Timeout bounds every call; a node that does not answer in time is an
	// error, not a hang.
	Timeout time.Duration
}

// RPCSource reads blocks from a node with btcd's rpcclient in HTTP POST mode,
// which both btcd and Bitcoin Core serve.
type RPCSource struct {
	c       *rpcclient.Client
	host    string
	timeout time.Duration
}

var _ Source = (*RPCSource)(nil)

// NewRPCSource connects to the node (no request is sent yet).
func NewRPCSource(cfg RPCConfig) (*RPCSource, error) {
	if cfg.Host == "" {
		return nil, errors.New("btc: --rpc needs host:port")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	c, err := rpcclient.New(&rpcclient.ConnConfig{
		Host:         cfg.Host,
		User:         cfg.User,
		Pass:         cfg.Pass,
		HTTPPostMode: true,
		DisableTLS:   !cfg.TLS,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("btc: rpc client for %s: %w", cfg.Host, err)
	}
	return &RPCSource{c: c, host: cfg.Host, timeout: cfg.Timeout}, nil
}

// Close releases the client.
func (s *RPCSource) Close() { s.c.Shutdown() }

// call runs a context-less rpcclient call under ctx and the timeout.
func call[T any](ctx context.Context, s *RPCSource, what string, f func() (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return r.v, fmt.Errorf("btc: node %s: %s: %w", s.host, what, explainRPC(r.err))
		}
		return r.v, nil
	case <-ctx.Done():
		var zero T
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return zero, fmt.Errorf("btc: node %s: %s: no answer within %s", s.host, what, s.timeout)
		}
		return zero, ctx.Err()
	}
}

// explainRPC turns rpcclient's terse failures into messages an operator
// can act on.
func explainRPC(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "401"):
		return fmt.Errorf("authentication failed: check --rpc-user and --rpc-pass (%w)", err)
	case strings.Contains(msg, "connection refused"):
		return fmt.Errorf("connection refused: is the node running and is --rpc right? (%w)", err)
	case strings.Contains(msg, "invalid character"), strings.Contains(msg, "cannot unmarshal"):
		return fmt.Errorf("the node's answer is not valid JSON-RPC (%w)", err)
	}
	return err
}

// Params asks the node which network it is on.
func (s *RPCSource) Params(ctx context.Context) (*chaincfg.Params, error) {
	hash, err := call(ctx, s, "getblockhash 0", func() (*chainhash.Hash, error) { return s.c.GetBlockHash(0) })
	if err != nil {
		return nil, err
	}
	for _, p := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params, &chaincfg.RegressionNetParams, &chaincfg.SigNetParams} {
		if *p.GenesisHash == *hash {
			return p, nil
		}
	}
	return nil, fmt.Errorf("btc: node %s: unknown network with genesis %s", s.host, hash)
}

// BestHeight is the node's tip height.
func (s *RPCSource) BestHeight(ctx context.Context) (int64, error) {
	return call(ctx, s, "getblockcount", s.c.GetBlockCount)
}

// BlockHash is the hash of the node's best-chain block at height.
func (s *RPCSource) BlockHash(ctx context.Context, height int64) (chainhash.Hash, error) {
	h, err := call(ctx, s, fmt.Sprintf("getblockhash %d", height), func() (*chainhash.Hash, error) { return s.c.GetBlockHash(height) })
	if err != nil {
		return chainhash.Hash{}, err
	}
	return *h, nil
}

// Block fetches a raw block.
func (s *RPCSource) Block(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, error) {
	return call(ctx, s, "getblock "+hash.String(), func() (*wire.MsgBlock, error) { return s.c.GetBlock(&hash) })
}
