package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"

	"github.com/tracerproject/tracer/ingest/eth"
	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/internal/gethtest"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/store"
)

// ethWorld is a geth dev chain with a token and a forwarder deployed.
type ethWorld struct {
	node      *gethtest.Node
	token     common.Address
	forwarder common.Address
	forwards  map[common.Hash]forward // txs that make an internal transfer
}

type forward struct {
	to    common.Address
	value *big.Int
}

func eth18(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), big.NewInt(params.Ether)) }

// receipt asks for a transaction's receipt, again while the node says its
// transaction index is still being built (geth indexes in the background,
// so a receipt right after a commit may not be found yet).
func receipt(c interface {
	TransactionReceipt(context.Context, common.Hash) (*types.Receipt, error)
}, hash common.Hash) (*types.Receipt, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := c.TransactionReceipt(context.Background(), hash)
		if err == nil || !strings.Contains(err.Error(), "indexing is in progress") || time.Now().After(deadline) {
			return r, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newEthWorld(t *testing.T, debug bool) *ethWorld {
	t.Helper()
	n := gethtest.Start(t, gethtest.Config{Accounts: 3, Debug: debug})
	w := &ethWorld{node: n, forwards: map[common.Hash]forward{}}
	// A supply beyond 64 bits, as real tokens with 18 decimals have.
	supply, _ := new(big.Int).SetString("1000000000000000000000000000000", 10)
	tokTx := n.Send(t, 0, nil, nil, gethtest.TokenCode(supply), 0)
	fwdTx := n.Send(t, 0, nil, nil, gethtest.ForwarderCode(), 0)
	n.Commit()
	w.token = crypto.CreateAddress(n.Addrs[0], tokTx.Nonce())
	w.forwarder = crypto.CreateAddress(n.Addrs[0], fwdTx.Nonce())
	for _, tx := range []*types.Transaction{tokTx, fwdTx} {
		r, err := receipt(n.Client, tx.Hash())
		if err != nil || r.Status != 1 {
			t.Fatalf("deploying: receipt %+v, %v", r, err)
		}
	}
	return w
}

// payments sends, into one block: a native payment, a token transfer, a
// zero-value token transfer, a failed token transfer (balance too low),
// a failed native payment (the token takes no ETH) and a payment through
// the forwarder (an internal transfer).
func (w *ethWorld) payments(t *testing.T, seed int64) {
	t.Helper()
	n := w.node
	a := n.Addrs
	n.Send(t, 0, &a[1], big.NewInt(1_500_000_000_000_000_000+seed), nil, 21000)
	n.Send(t, 0, &w.token, nil, gethtest.TransferCall(a[1], big.NewInt(1_000_000+seed)), 0)
	n.Send(t, 0, &w.token, nil, gethtest.TransferCall(a[2], big.NewInt(0)), 0)
	n.Send(t, 2, &w.token, nil, gethtest.TransferCall(a[1], eth18(5)), 0)
	n.Send(t, 2, &w.token, big.NewInt(1), nil, 100_000)
	v := new(big.Int).Add(eth18(2), big.NewInt(seed))
	tx := n.Send(t, 1, &w.forwarder, v, gethtest.ForwardCall(a[2]), 0)
	w.forwards[tx.Hash()] = forward{a[2], v}
	n.Commit()
}

// nodeTransfers is what the node reports, read through ethclient's own
// types: one native row per transaction, one row per Transfer log of the
// token, and the forwarders' internal transfers, in the store's order.
func (w *ethWorld) nodeTransfers(t *testing.T, traces bool) []string {
	t.Helper()
	ctx := context.Background()
	c := w.node.Client
	head, err := c.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for h := uint64(0); h <= head; h++ {
		b, err := c.BlockByNumber(ctx, new(big.Int).SetUint64(h))
		if err != nil {
			t.Fatal(err)
		}
		logIndex := 0
		for i, tx := range b.Transactions() {
			r, err := receipt(c, tx.Hash())
			if err != nil {
				t.Fatal(err)
			}
			from, err := types.Sender(types.LatestSignerForChainID(tx.ChainId()), tx)
			if err != nil {
				t.Fatal(err)
			}
			to := r.ContractAddress
			if tx.To() != nil {
				to = *tx.To()
			}
			fee := new(big.Int).Mul(new(big.Int).SetUint64(r.GasUsed), r.EffectiveGasPrice)
			out = append(out, row(b.Hash(), h, i, tx.Hash(), "native", 0, "ETH", from, to, tx.Value(), fee, r.Status == 1))
			for _, l := range r.Logs {
				if l.Address == w.token && len(l.Topics) == 3 && bytes.Equal(l.Topics[0].Bytes(), gethtest.TransferTopic) {
					out = append(out, row(b.Hash(), h, i, tx.Hash(), "token", logIndex, strings.ToLower(w.token.Hex()),
						common.BytesToAddress(l.Topics[1].Bytes()), common.BytesToAddress(l.Topics[2].Bytes()), new(big.Int).SetBytes(l.Data), new(big.Int), true))
				}
				logIndex++
			}
			if f, ok := w.forwards[tx.Hash()]; ok && traces {
				out = append(out, row(b.Hash(), h, i, tx.Hash(), "internal", 1, "ETH", w.forwarder, f.to, f.value, new(big.Int), r.Status == 1))
			}
		}
	}
	return out
}

func row(block common.Hash, h uint64, txIndex int, txid common.Hash, kind string, idx int, asset string, from, to common.Address, value, fee *big.Int, ok bool) string {
	return fmt.Sprintf("%s %d/%d %s %s/%d %s %s→%s value %s fee %s ok %v zero %v", strings.ToLower(block.Hex()), h, txIndex, strings.ToLower(txid.Hex()), kind, idx, asset,
		strings.ToLower(from.Hex()), strings.ToLower(to.Hex()), value, fee, ok, value.Sign() == 0)
}

func storeTransfers(t *testing.T, st *store.Store) []string {
	t.Helper()
	trs, err := st.EthTransfers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tr := range trs {
		out = append(out, fmt.Sprintf("%s %d/%d %s %s/%d %s %s→%s value %s fee %s ok %v zero %v", tr.BlockHash, tr.BlockHeight, tr.TxIndex, tr.Txid, tr.Kind, tr.Index, tr.Asset,
			tr.From, tr.To, tr.Value, tr.Fee, tr.Success, tr.Zero))
	}
	return out
}

func sameTransfers(t *testing.T, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("store has %d transfers, the node reports %d", len(got), len(want))
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("transfer %d:\n  store %s\n  node  %s", i, g, w)
		}
	}
}

func ethIngest(t *testing.T, p *pipeline.Pipeline, url string, w *ethWorld, traces bool, timeout time.Duration) error {
	t.Helper()
	tokens, err := eth.ParseTokens(w.token.Hex() + ",USDT")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return p.IngestETH(ctx, pipeline.ETHIngest{RPC: eth.RPCConfig{URL: url, Traces: traces, Timeout: timeout}, To: -1, Tokens: tokens})
}

func TestEthereumEndToEnd(t *testing.T) {
	w := newEthWorld(t, true)
	w.payments(t, 1)
	w.payments(t, 2)
	dir := t.TempDir()
	p, closeP := simOpen(t, dir, chserver.TempDatabase(t))
	if err := ethIngest(t, p, w.node.URL, w, true, 0); err != nil {
		t.Fatal(err)
	}
	st := simStore(t, context.Background(), p)
	want := w.nodeTransfers(t, true)
	sameTransfers(t, storeTransfers(t, st), want)
	stats, err := st.EthStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Per payments block: 6 txs, 2 token transfers (one zero), 2 failed,
	// 1 internal.
	if stats.Internal != 2 || stats.Token != 4 || stats.Failed != 4 || stats.TipHeight != 3 {
		t.Errorf("stats: got %+v, want 2 internal, 4 token, 4 failed, tip 3", stats)
	}
	assets, err := st.EthAddress(context.Background(), strings.ToLower(w.node.Addrs[2].Hex()))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range assets {
		if a.Asset == "ETH" && a.Received != new(big.Int).Add(eth18(4), big.NewInt(3)).String() {
			t.Errorf("account 2 received %s wei through the forwarder, want 4 ETH + 3 wei", a.Received)
		}
	}

	// Reorg: drop the last block, and make a longer branch with other
	// payments. The store must end equal to the new canonical chain.
	c := w.node.Client
	parent, err := c.HeaderByNumber(context.Background(), big.NewInt(2))
	if err != nil {
		t.Fatal(err)
	}
	old, err := c.HeaderByNumber(context.Background(), big.NewInt(3))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.node.Fork(parent.Hash()); err != nil {
		t.Fatal(err)
	}
	w.payments(t, 7)
	w.node.Commit()
	now, err := c.HeaderByNumber(context.Background(), big.NewInt(3))
	if err != nil {
		t.Fatal(err)
	}
	if now.Hash() == old.Hash() {
		t.Fatal("the fork did not replace block 3")
	}
	if err := ethIngest(t, p, w.node.URL, w, true, 0); err != nil {
		t.Fatal(err)
	}
	want = w.nodeTransfers(t, true)
	if len(want) == 0 || !strings.Contains(strings.Join(want, "\n"), strings.ToLower(now.Hash().Hex())) {
		t.Fatalf("the node's transfers do not include the new block 3")
	}
	if strings.Contains(strings.Join(storeTransfers(t, st), "\n"), strings.ToLower(old.Hash().Hex())) {
		t.Errorf("rows of the reorged block %s are still stored", old.Hash().Hex())
	}
	sameTransfers(t, storeTransfers(t, st), want)
	closeP()
}

// The node answers eth.ingest without the debug namespace: --traces fails
// with a message that says what to do.
func TestEthereumTracesUnsupported(t *testing.T) {
	w := newEthWorld(t, false)
	p, _ := simOpen(t, t.TempDir(), chserver.TempDatabase(t))
	err := ethIngest(t, p, w.node.URL, w, true, 0)
	if err == nil || !strings.Contains(err.Error(), "does not serve call traces") || !strings.Contains(err.Error(), "--traces") {
		t.Fatalf("got %v, want a clear message that traces are not served", err)
	}
	t.Logf("as expected: %v", err)
}

// hostile is a proxy in front of a real node that spoils the full block
// at one height, in one of several ways, until told to stop.
type hostile struct {
	target string
	height string // hex
	mode   atomic.Value
	hits   atomic.Int64
}

func (h *hostile) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params []any           `json:"params"`
	}
	_ = json.Unmarshal(body, &req)
	mode, _ := h.mode.Load().(string)
	if mode == "noblockreceipts" && req.Method == "eth_getBlockReceipts" {
		h.hits.Add(1)
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(rw, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32601,"message":"the method eth_getBlockReceipts does not exist/is not available"}}`, req.ID)
		return
	}
	spoil := mode != "" && req.Method == "eth_getBlockByNumber" && len(req.Params) == 2 && req.Params[1] == true &&
		strings.EqualFold(fmt.Sprint(req.Params[0]), h.height)
	resp, err := http.Post(h.target, "application/json", bytes.NewReader(body))
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadGateway)
		return
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !spoil {
		rw.Header().Set("Content-Type", "application/json")
		rw.Write(reply)
		return
	}
	h.hits.Add(1)
	rw.Header().Set("Content-Type", "application/json")
	switch mode {
	case "badroot":
		// Another value in the first transaction: the transactions no
		// longer hash to the header's root.
		var m map[string]any
		_ = json.Unmarshal(reply, &m)
		txs := m["result"].(map[string]any)["transactions"].([]any)
		txs[0].(map[string]any)["value"] = "0x1"
		reply, _ = json.Marshal(m)
		rw.Write(reply)
	case "malformed":
		rw.Write(reply[:len(reply)/2])
	case "huge":
		fmt.Fprintf(rw, `{"jsonrpc":"2.0","id":%s,"result":{"pad":"`, req.ID)
		chunk := bytes.Repeat([]byte("x"), 1<<20)
		for i := 0; i < 100; i++ {
			if _, err := rw.Write(chunk); err != nil {
				return
			}
		}
		fmt.Fprint(rw, `"}}`)
	case "slow":
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}
}

func TestEthereumHostileNode(t *testing.T) {
	w := newEthWorld(t, false)
	w.payments(t, 1) // block 2
	w.payments(t, 2) // block 3: the one the proxy spoils
	h := &hostile{target: w.node.URL, height: "0x3"}
	srv := httptest.NewServer(h)
	defer srv.Close()
	dsn := chserver.TempDatabase(t)
	dir := t.TempDir()
	p, _ := simOpen(t, dir, dsn)
	st := simStore(t, context.Background(), p)
	var mu sync.Mutex
	for _, tc := range []struct {
		mode, want string
		timeout    time.Duration
	}{
		{"badroot", "transactions root", 30 * time.Second},
		{"malformed", "block 3", 30 * time.Second},
		{"huge", "too large", 30 * time.Second},
		{"slow", "no answer within", 2 * time.Second},
	} {
		mu.Lock()
		h.mode.Store(tc.mode)
		start := time.Now()
		err := ethIngest(t, p, srv.URL, w, false, tc.timeout)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error saying %q", tc.mode, err, tc.want)
		} else {
			t.Logf("%s: as expected after %v: %v", tc.mode, time.Since(start).Round(time.Millisecond), err)
		}
		stats, serr := st.EthStats(context.Background())
		if serr != nil {
			t.Fatal(serr)
		}
		if stats.TipHeight != 2 {
			t.Errorf("%s: the store's tip is %d, want 2 (nothing of block 3)", tc.mode, stats.TipHeight)
		}
		if rows, _ := st.EthTransfers(context.Background()); len(rows) > 0 && rows[len(rows)-1].BlockHeight > 2 {
			t.Errorf("%s: rows of block 3 stored", tc.mode)
		}
		mu.Unlock()
	}
	if h.hits.Load() < 4 {
		t.Errorf("the proxy spoiled %d replies, want at least 4", h.hits.Load())
	}
	// The node recovers: ingest resumes and the store matches the chain.
	h.mode.Store("")
	if err := ethIngest(t, p, srv.URL, w, false, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	sameTransfers(t, storeTransfers(t, st), w.nodeTransfers(t, false))
}

// The safe depth: --confirmations N stops N-1 blocks below the tip, the
// finalized tag at the node's finalized block. Then, following, a node
// that fails on the next block is retried until it recovers.
func TestEthereumSafeDepthAndFollow(t *testing.T) {
	w := newEthWorld(t, false) // block 1
	for i := 0; i < 39; i++ {
		w.node.Commit()
	}
	ctx := context.Background()
	fin, err := w.node.Client.HeaderByNumber(ctx, big.NewInt(-3)) // rpc.FinalizedBlockNumber
	if err != nil {
		t.Fatal(err)
	}
	if fin.Number.Int64() < 1 || fin.Number.Int64() >= 40 {
		t.Fatalf("the node's finalized block is %d: want one between 1 and 39 to test with", fin.Number)
	}
	h := &hostile{target: w.node.URL, height: "0x29"} // 41
	srv := httptest.NewServer(h)
	defer srv.Close()
	p, _ := simOpen(t, t.TempDir(), chserver.TempDatabase(t))
	st := simStore(t, ctx, p)
	tip := func() int64 {
		t.Helper()
		s, err := st.EthStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s.TipHeight
	}
	tokens, _ := eth.ParseTokens("all")
	opt := pipeline.ETHIngest{RPC: eth.RPCConfig{URL: srv.URL, Timeout: 2 * time.Second}, To: -1, Tokens: tokens, Finalized: true}
	if err := p.IngestETH(ctx, opt); err != nil {
		t.Fatal(err)
	}
	if got := tip(); got != fin.Number.Int64() {
		t.Errorf("with the finalized tag: store tip %d, want the node's finalized block %d", got, fin.Number)
	}
	opt.Finalized, opt.Confirmations = false, 6
	if err := p.IngestETH(ctx, opt); err != nil {
		t.Fatal(err)
	}
	if got := tip(); got != 35 {
		t.Errorf("with 6 confirmations on a chain of 40 blocks: store tip %d, want 35", got)
	}

	// Follow; block 41 comes with a bad transactions root until the node
	// "recovers".
	h.mode.Store("badroot")
	w.payments(t, 3) // block 41
	opt.Confirmations, opt.Follow, opt.PollInterval = 1, true, 100*time.Millisecond
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.IngestETH(fctx, opt) }()
	deadline := time.Now().Add(30 * time.Second)
	for h.hits.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if h.hits.Load() < 3 {
		t.Fatalf("the ingestor asked for the bad block %d times, want retries", h.hits.Load())
	}
	// The blocks before the bad one are stored (the loader may take a
	// moment), the bad one is not.
	for tip() < 40 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := tip(); got != 40 {
		t.Errorf("while the node fails on block 41: store tip %d, want 40", got)
	}
	h.mode.Store("")
	for tip() < 41 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("following: %v", err)
	}
	if got := tip(); got != 41 {
		t.Fatalf("after the node recovered: store tip %d, want 41", got)
	}
	sameTransfers(t, storeTransfers(t, st), w.nodeTransfers(t, false))
}

// A node without eth_getBlockReceipts: receipts come one transaction at a
// time, and the store is the same.
func TestEthereumPerTxReceipts(t *testing.T) {
	w := newEthWorld(t, false)
	w.payments(t, 1)
	h := &hostile{target: w.node.URL}
	h.mode.Store("noblockreceipts")
	srv := httptest.NewServer(h)
	defer srv.Close()
	p, _ := simOpen(t, t.TempDir(), chserver.TempDatabase(t))
	if err := ethIngest(t, p, srv.URL, w, false, 0); err != nil {
		t.Fatal(err)
	}
	if h.hits.Load() != 1 {
		t.Errorf("eth_getBlockReceipts asked %d times, want once (then per transaction)", h.hits.Load())
	}
	sameTransfers(t, storeTransfers(t, simStore(t, context.Background(), p)), w.nodeTransfers(t, false))
}

// The same ingest over WebSocket.
func TestEthereumWebSocket(t *testing.T) {
	n := gethtest.Start(t, gethtest.Config{Accounts: 2, WS: true})
	if !strings.HasPrefix(n.WSURL, "ws://") {
		t.Fatalf("WebSocket endpoint %q", n.WSURL)
	}
	n.Send(t, 0, &n.Addrs[1], big.NewInt(777), nil, 21000)
	n.Commit()
	p, _ := simOpen(t, t.TempDir(), chserver.TempDatabase(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.IngestETH(ctx, pipeline.ETHIngest{RPC: eth.RPCConfig{URL: n.WSURL}, To: -1, Tokens: eth.DefaultTokens()}); err != nil {
		t.Fatal(err)
	}
	w := &ethWorld{node: n, forwards: map[common.Hash]forward{}}
	sameTransfers(t, storeTransfers(t, simStore(t, ctx, p)), w.nodeTransfers(t, false))
}
