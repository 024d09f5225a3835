package btc

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
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

// RPCSource reads blocks from a node's JSON-RPC interface over HTTP POST,
// which both btcd and Bitcoin Core serve.
//
// It speaks JSON-RPC itself rather than through btcd's rpcclient, whose HTTP
// POST mode (v0.24) sends every request from one goroutine with no deadline,
// so a node that never answers holds up every later call and the request
// outlives Shutdown; retries a refused connection ten times over 22.5 s, so
// "connection refused" comes late or, under a shorter timeout, never; and
// with an empty password reads a cookie file from an empty path.
type RPCSource struct {
	url        string
	host       string
	user, pass string
	timeout    time.Duration
	hc         *http.Client
	id         atomic.Uint64
}

var _ Source = (*RPCSource)(nil)

// maxRPCAnswer bounds an answer: the largest block in hex, and room for the
// envelope.
const maxRPCAnswer = 2*wire.MaxBlockPayload + 1<<16

// NewRPCSource checks the configuration; no request is sent yet.
func NewRPCSource(cfg RPCConfig) (*RPCSource, error) {
	if cfg.Host == "" {
		return nil, errors.New("btc: --rpc needs host:port")
	}
	if _, _, err := net.SplitHostPort(cfg.Host); err != nil {
		return nil, fmt.Errorf("btc: --rpc %q is not host:port: %w", cfg.Host, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	scheme := "http"
	if cfg.TLS {
		scheme = "https"
	}
	return &RPCSource{
		url:     scheme + "://" + cfg.Host + "/",
		host:    cfg.Host,
		user:    cfg.User,
		pass:    cfg.Pass,
		timeout: cfg.Timeout,
		// No proxy from the environment: the node is usually local, and
		// rpcclient, which this replaces, used none.
		hc: &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     time.Minute,
		}},
	}, nil
}

// Close releases idle connections.
func (s *RPCSource) Close() { s.hc.CloseIdleConnections() }

type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

type rpcResponse struct {
	Result json.RawMessage `json:"result"`
	Error  *rpcError       `json:"error"`
}

// rpcError is an error the node answered with, such as Core's -8 "Block
// height out of range" or -5 "Block not found".
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *rpcError) Error() string {
	return fmt.Sprintf("the node answered error %d: %s", e.Code, e.Message)
}

// call sends one request under ctx and the timeout and decodes the result
// into result. what names the call in errors ("getblockhash 0").
func (s *RPCSource) call(ctx context.Context, what, method string, result any, params ...any) error {
	fail := func(err error) error { return fmt.Errorf("btc: node %s: %s: %w", s.host, what, err) }
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(rpcRequest{JSONRPC: "1.0", ID: s.id.Add(1), Method: method, Params: params})
	if err != nil {
		return fail(err)
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if s.user != "" || s.pass != "" {
		req.SetBasicAuth(s.user, s.pass)
	}
	resp, err := s.hc.Do(req)
	var raw []byte
	if err == nil {
		raw, err = io.ReadAll(io.LimitReader(resp.Body, maxRPCAnswer+1))
		resp.Body.Close()
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // the caller gave up: not the node's fault
		}
		if cctx.Err() != nil {
			return fail(fmt.Errorf("no answer within %s", s.timeout))
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fail(fmt.Errorf("connection refused: is the node running and is --rpc right? (%w)", err))
		}
		return fail(err)
	}
	if len(raw) > maxRPCAnswer {
		return fail(fmt.Errorf("the node's answer is longer than %d bytes", maxRPCAnswer))
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return fail(fmt.Errorf("authentication failed (HTTP %s): check --rpc-user and --rpc-pass", resp.Status))
	}
	var r rpcResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return fail(fmt.Errorf("the node's answer is not valid JSON-RPC (HTTP %s): %w: %s", resp.Status, err, quote(raw)))
	}
	if r.Error != nil {
		return fail(r.Error)
	}
	if len(r.Result) == 0 || string(r.Result) == "null" {
		return fail(fmt.Errorf("the node's answer is not valid JSON-RPC (HTTP %s): neither a result nor an error: %s", resp.Status, quote(raw)))
	}
	if err := json.Unmarshal(r.Result, result); err != nil {
		return fail(fmt.Errorf("the node's answer is not valid JSON-RPC for %s: %w: %s", method, err, quote(r.Result)))
	}
	return nil
}

// quote shows the start of an answer in an error.
func quote(b []byte) string {
	const max = 200
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}

// Params asks the node which network it is on.
func (s *RPCSource) Params(ctx context.Context) (*chaincfg.Params, error) {
	hash, err := s.BlockHash(ctx, 0)
	if err != nil {
		return nil, err
	}
	for _, p := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params, &TestNet4Params, &chaincfg.RegressionNetParams, &chaincfg.SigNetParams} {
		if *p.GenesisHash == hash {
			return p, nil
		}
	}
	return nil, fmt.Errorf("btc: node %s: unknown network with genesis %s (known: mainnet, testnet3, testnet4, regtest, the default signet)", s.host, hash)
}

// BestHeight is the node's tip height.
func (s *RPCSource) BestHeight(ctx context.Context) (int64, error) {
	var n int64
	err := s.call(ctx, "getblockcount", "getblockcount", &n)
	return n, err
}

// BlockHash is the hash of the node's best-chain block at height.
func (s *RPCSource) BlockHash(ctx context.Context, height int64) (chainhash.Hash, error) {
	what := fmt.Sprintf("getblockhash %d", height)
	var str string
	if err := s.call(ctx, what, "getblockhash", &str, height); err != nil {
		return chainhash.Hash{}, err
	}
	h, err := chainhash.NewHashFromStr(str)
	if err != nil || len(str) != 2*chainhash.HashSize {
		return chainhash.Hash{}, fmt.Errorf("btc: node %s: %s: the node's answer %s is not a block hash (64 hex digits)", s.host, what, quote([]byte(str)))
	}
	return *h, nil
}

// Block fetches a raw block (getblock with verbosity 0, which btcd and Core
// answer with the serialized block in hex).
func (s *RPCSource) Block(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, error) {
	b, _, err := s.block(ctx, hash, false)
	return b, err
}

// blockHashed is Block with the transactions' hashes (decodeBlock).
func (s *RPCSource) blockHashed(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, *blockIDs, error) {
	return s.block(ctx, hash, true)
}

func (s *RPCSource) block(ctx context.Context, hash chainhash.Hash, withIDs bool) (*wire.MsgBlock, *blockIDs, error) {
	what := "getblock " + hash.String()
	var str string
	if err := s.call(ctx, what, "getblock", &str, hash.String(), 0); err != nil {
		return nil, nil, err
	}
	raw, err := hex.DecodeString(str)
	if err != nil {
		return nil, nil, fmt.Errorf("btc: node %s: %s: the node's block is not hex: %w", s.host, what, err)
	}
	b, ids, rest, err := decodeBlock(raw, withIDs)
	if err != nil {
		return nil, nil, fmt.Errorf("btc: node %s: %s: the node's answer of %d bytes is not a serialized block: %w", s.host, what, len(raw), err)
	}
	if rest != 0 {
		return nil, nil, fmt.Errorf("btc: node %s: %s: the node's answer is not a serialized block: %d trailing bytes after %d", s.host, what, rest, len(raw)-rest)
	}
	return b, ids, nil
}
