package eth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"
)

// RPCConfig names a node's JSON-RPC endpoint.
type RPCConfig struct {
	URL string // http(s):// or ws(s)://
	// Timeout bounds every call: a node that does not answer in time is an
	// error, not a hang.
	Timeout time.Duration
	// MaxReply bounds one reply in bytes; a larger one is an error, not an
	// exhausted memory.
	MaxReply int64
	// Traces asks for call traces (debug_traceBlockByNumber, callTracer).
	Traces bool
}

// Defaults of RPCConfig.
const (
	DefaultRPCTimeout = time.Minute
	// DefaultMaxReply fits the largest mainnet block with full
	// transactions, its receipts, or its call traces, with a wide margin.
	DefaultMaxReply = 64 << 20
)

// Errors of the RPC source.
var (
	ErrNoBlock         = errors.New("eth: the node has no such block")
	ErrTracesNotServed = errors.New("eth: the node does not serve call traces")
	ErrReplyTooLarge   = errors.New("eth: node reply too large")
)

// RPCSource reads blocks from a node through go-ethereum's rpc client.
type RPCSource struct {
	c   *rpc.Client
	cfg RPCConfig
	// blockReceipts is 0 while unknown, 1 when eth_getBlockReceipts
	// works, -1 when the node lacks it (then receipts come one by one).
	blockReceipts atomic.Int32
	probe         sync.Mutex
}

var _ Source = (*RPCSource)(nil)

// DialRPC connects to the node. HTTP needs no round trip yet; WebSocket
// connects now.
func DialRPC(ctx context.Context, cfg RPCConfig) (*RPCSource, error) {
	if cfg.URL == "" {
		return nil, errors.New("eth: --rpc needs the node's URL (http://host:8545 or ws://host:8546)")
	}
	if !strings.Contains(cfg.URL, "://") {
		cfg.URL = "http://" + cfg.URL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultRPCTimeout
	}
	if cfg.MaxReply <= 0 {
		cfg.MaxReply = DefaultMaxReply
	}
	hc := &http.Client{Transport: &limitedTransport{base: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 8}, max: cfg.MaxReply}}
	c, err := rpc.DialOptions(ctx, cfg.URL, rpc.WithHTTPClient(hc), rpc.WithWebsocketMessageSizeLimit(cfg.MaxReply))
	if err != nil {
		return nil, fmt.Errorf("eth: connecting to %s: %w", cfg.URL, err)
	}
	return &RPCSource{c: c, cfg: cfg}, nil
}

// Close closes the connection.
func (s *RPCSource) Close() { s.c.Close() }

func (s *RPCSource) call(ctx context.Context, out any, method string, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	err := s.c.CallContext(ctx, out, method, args...)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrReplyTooLarge) || strings.Contains(err.Error(), ErrReplyTooLarge.Error()):
		return fmt.Errorf("%w: %s from %s exceeds %d bytes (eth.max_reply)", ErrReplyTooLarge, method, s.cfg.URL, s.cfg.MaxReply)
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("eth: %s on %s: no answer within %s (eth.rpc_timeout)", method, s.cfg.URL, s.cfg.Timeout)
	}
	return fmt.Errorf("eth: %s on %s: %w", method, s.cfg.URL, err)
}

// ChainID is the node's chain id (eth_chainId), in decimal.
func (s *RPCSource) ChainID(ctx context.Context) (string, error) {
	var id hexutil.Big
	if err := s.call(ctx, &id, "eth_chainId"); err != nil {
		return "", err
	}
	return id.ToInt().String(), nil
}

// BestHeight is the node's latest block number.
func (s *RPCSource) BestHeight(ctx context.Context) (int64, error) {
	var n hexutil.Uint64
	if err := s.call(ctx, &n, "eth_blockNumber"); err != nil {
		return 0, err
	}
	return int64(n), nil
}

type headerInfo struct {
	Number *hexutil.Big `json:"number"`
	Hash   string       `json:"hash"`
}

// Finalized is the height of the node's finalized block (the "finalized"
// tag); -1 when the node has none yet.
func (s *RPCSource) Finalized(ctx context.Context) (int64, error) {
	var h *headerInfo
	if err := s.call(ctx, &h, "eth_getBlockByNumber", "finalized", false); err != nil {
		// geth answers "finalized block not found" before the first
		// finalized block (and on chains without finality).
		if strings.Contains(strings.ToLower(err.Error()), "not found") {
			return -1, nil
		}
		return 0, err
	}
	if h == nil || h.Number == nil {
		return -1, nil
	}
	return h.Number.ToInt().Int64(), nil
}

// BlockHash is the hash of the node's block at height (0x… lower case).
func (s *RPCSource) BlockHash(ctx context.Context, height int64) (string, error) {
	var h *headerInfo
	if err := s.call(ctx, &h, "eth_getBlockByNumber", hexutil.EncodeUint64(uint64(height)), false); err != nil {
		return "", err
	}
	if h == nil {
		return "", fmt.Errorf("%w at height %d", ErrNoBlock, height)
	}
	return strings.ToLower(h.Hash), nil
}

// Block reads the block at height with its receipts (and call traces when
// configured), unchecked: Decode checks it.
func (s *RPCSource) Block(ctx context.Context, height int64) (RawBlock, error) {
	num := hexutil.EncodeUint64(uint64(height))
	var raw RawBlock
	if err := s.call(ctx, &raw.Block, "eth_getBlockByNumber", num, true); err != nil {
		return raw, err
	}
	if len(raw.Block) == 0 || string(raw.Block) == "null" {
		return raw, fmt.Errorf("%w at height %d", ErrNoBlock, height)
	}
	hash, txHashes, err := blockIDs(raw.Block)
	if err != nil {
		return raw, fmt.Errorf("%w: block %d: %v", ErrBadBlock, height, err)
	}
	if raw.Receipts, err = s.receipts(ctx, hash, len(txHashes), func(i int) string { return txHashes[i] }); err != nil {
		return raw, fmt.Errorf("eth: receipts of block %d (%s): %w", height, hash, err)
	}
	if s.cfg.Traces && len(txHashes) == 0 {
		// Nothing to trace (and geth refuses to trace genesis).
		raw.Traces = json.RawMessage("[]")
	} else if s.cfg.Traces {
		err := s.call(ctx, &raw.Traces, "debug_traceBlockByNumber", num, map[string]any{"tracer": "callTracer"})
		if isMethodMissing(err) {
			return raw, fmt.Errorf("%w: %s answers debug_traceBlockByNumber with %q; give the node the debug API (geth: --http.api eth,net,web3,debug; erigon: --http.api eth,debug,trace) or ingest without --traces", ErrTracesNotServed, s.cfg.URL, err.Error())
		}
		if err != nil {
			return raw, fmt.Errorf("eth: call traces of block %d: %w", height, err)
		}
	}
	return raw, nil
}

// blockIDs reads the block's hash and its transactions' hashes (what the
// receipts are asked by) in one pass of the scanner; Decode checks them.
func blockIDs(b []byte) (hash string, txHashes []string, err error) {
	sc := &scanner{b: b}
	err = sc.object(func(key []byte) error {
		switch string(key) {
		case "hash":
			if sc.null() {
				return nil
			}
			v, err := sc.str()
			hash = string(v)
			return err
		case "transactions":
			if sc.null() {
				return nil
			}
			return sc.array(func(int) error {
				if sc.peek() != '{' {
					return sc.skip() // hashes only: Decode says so
				}
				var h string
				err := sc.object(func(key []byte) error {
					if string(key) != "hash" {
						return sc.skip()
					}
					if sc.null() {
						return nil
					}
					v, err := sc.str()
					h = string(v)
					return err
				})
				txHashes = append(txHashes, h)
				return err
			})
		}
		return sc.skip()
	})
	return hash, txHashes, err
}

// receipts uses eth_getBlockReceipts, falling back to one
// eth_getTransactionReceipt per transaction (in a batch) on nodes without it.
func (s *RPCSource) receipts(ctx context.Context, blockHash string, n int, txHash func(int) string) (json.RawMessage, error) {
	if s.blockReceipts.Load() == 0 {
		// The first blocks are fetched in parallel: one asks whether the
		// node has eth_getBlockReceipts, the others wait for the answer.
		s.probe.Lock()
		defer s.probe.Unlock()
	}
	if s.blockReceipts.Load() >= 0 {
		var out json.RawMessage
		err := s.call(ctx, &out, "eth_getBlockReceipts", blockHash)
		if err == nil && string(out) != "null" {
			s.blockReceipts.Store(1)
			return out, nil
		}
		if err == nil {
			return nil, fmt.Errorf("%w: the node has no receipts for it", ErrNoBlock)
		}
		if !isMethodMissing(err) {
			return nil, err
		}
		s.blockReceipts.Store(-1)
	}
	if n == 0 {
		return json.RawMessage("[]"), nil
	}
	results := make([]json.RawMessage, n)
	batch := make([]rpc.BatchElem, n)
	for i := range batch {
		batch[i] = rpc.BatchElem{Method: "eth_getTransactionReceipt", Args: []any{txHash(i)}, Result: &results[i]}
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := s.c.BatchCallContext(cctx, batch); err != nil {
		return nil, fmt.Errorf("eth_getTransactionReceipt batch on %s: %w", s.cfg.URL, err)
	}
	for i, b := range batch {
		if b.Error != nil {
			return nil, fmt.Errorf("receipt of %s: %w", txHash(i), b.Error)
		}
	}
	return json.Marshal(results)
}

// isMethodMissing recognises "method not found" (-32601) and the ways
// nodes word a disabled namespace.
func isMethodMissing(err error) bool {
	if err == nil {
		return false
	}
	var re rpc.Error
	if errors.As(err, &re) && re.ErrorCode() == -32601 {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "does not exist") || strings.Contains(msg, "not available") ||
		strings.Contains(msg, "method not found") || strings.Contains(msg, "not supported")
}

// limitedTransport fails a reply body that grows past max bytes.
type limitedTransport struct {
	base http.RoundTripper
	max  int64
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %d bytes announced", ErrReplyTooLarge, resp.ContentLength)
	}
	// One byte past the limit tells a reply of exactly max bytes from a
	// larger one.
	resp.Body = &limitedBody{rc: resp.Body, left: t.max + 1}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, ErrReplyTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left <= 0 {
		return n - 1, ErrReplyTooLarge
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
