package eth

import (
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/internal/realdata"
)

const usdt = "0xdac17f958d2ee523a2206206994597c13d831ec7"

// realResult reads the result of a recorded mainnet reply, skipping the
// test when the real data is not there.
func realResult(t *testing.T, rel string) json.RawMessage {
	t.Helper()
	p := filepath.Join(realdata.Dir(), "eth", "erigon-rpc-tests", filepath.FromSlash(rel))
	data, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		t.Skipf("real Ethereum data not found at %s (set TRACER_REALDATA to the folder holding eth/)", p)
	}
	if err != nil {
		t.Fatal(err)
	}
	r, err := ResultOf(data)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return r
}

// rawLog is a log as the node wrote it, read without our decoder.
type rawLog struct {
	Address  string          `json:"address"`
	Topics   []string        `json:"topics"`
	Data     string          `json:"data"`
	LogIndex hexutil.Uint64  `json:"logIndex"`
	TxHash   string          `json:"transactionHash"`
	Removed  json.RawMessage `json:"removed"`
}

// rawUSDT lists the USDT Transfer logs of the receipts straight from
// the JSON, as the reference to compare the decoder with.
func rawUSDT(t *testing.T, receipts json.RawMessage) []rawLog {
	t.Helper()
	var rs []struct {
		Logs []rawLog `json:"logs"`
	}
	if err := json.Unmarshal(receipts, &rs); err != nil {
		t.Fatal(err)
	}
	var out []rawLog
	for _, r := range rs {
		for _, l := range r.Logs {
			if common.HexToAddress(l.Address) == common.HexToAddress(usdt) && len(l.Topics) == 3 && common.HexToHash(l.Topics[0]) == TransferTopic {
				out = append(out, l)
			}
		}
	}
	return out
}

func compareTransfers(t *testing.T, got []chain.Transfer, want []rawLog) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d USDT transfers, the raw logs have %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		wv := new(big.Int).SetBytes(common.FromHex(w.Data))
		wf := hexAddr(common.FromHex(w.Topics[1])[12:])
		wt := hexAddr(common.FromHex(w.Topics[2])[12:])
		if g.From != wf || g.To != wt || g.Value.String() != wv.String() || g.Index != int(w.LogIndex) || g.Txid != w.TxHash || g.Zero != (wv.Sign() == 0) {
			t.Errorf("transfer %d: got %s → %s %s log %d tx %s zero %v; raw log %s → %s %s log %d tx %s",
				i, g.From, g.To, g.Value, g.Index, g.Txid, g.Zero, wf, wt, wv, w.LogIndex, w.TxHash)
		}
	}
}

func TestRealBlock18000000(t *testing.T) {
	block := realResult(t, "eth_getBlockByNumber/test_08.json")
	receipts := realResult(t, "eth_getBlockReceipts/test_02.json")
	b, st, err := Decode(RawBlock{Block: block, Receipts: receipts}, DecodeOptions{Tokens: DefaultTokens()})
	if err != nil {
		t.Fatal(err)
	}
	if b.Height != 18_000_000 || b.Hash != "0x95b198e154acbfc64109dfd22d8224fe927fd8dfdedfae01587674482ba4baf3" {
		t.Fatalf("block %d %s, want 18000000 0x95b198e1…", b.Height, b.Hash)
	}
	if st.Txs != 94 || st.Logs != 291 {
		t.Errorf("%d txs and %d logs, want 94 and 291", st.Txs, st.Logs)
	}
	var native, tokens []chain.Transfer
	zero := 0
	for _, tr := range b.Transfers {
		switch tr.Kind {
		case chain.TransferNative:
			native = append(native, tr)
		case chain.TransferToken:
			if tr.Asset != usdt {
				continue
			}
			tokens = append(tokens, tr)
			if tr.Zero {
				zero++
			}
		}
	}
	if len(native) != 94 {
		t.Errorf("%d native transfers, want one per transaction (94)", len(native))
	}
	if len(tokens) != 45 || zero != 39 {
		t.Errorf("%d USDT transfers, %d zero-value; want 45 and 39", len(tokens), zero)
	}
	compareTransfers(t, tokens, rawUSDT(t, receipts))

	// Every native transfer agrees with the node's view of its transaction.
	var rb struct {
		Txs []struct {
			Hash  string       `json:"hash"`
			From  string       `json:"from"`
			To    *string      `json:"to"`
			Value *hexutil.Big `json:"value"`
		} `json:"transactions"`
	}
	var rr []struct {
		GasUsed           hexutil.Uint64 `json:"gasUsed"`
		EffectiveGasPrice *hexutil.Big   `json:"effectiveGasPrice"`
		Status            hexutil.Uint64 `json:"status"`
	}
	if err := json.Unmarshal(block, &rb); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(receipts, &rr); err != nil {
		t.Fatal(err)
	}
	for i, n := range native {
		tx, r := rb.Txs[i], rr[i]
		fee := new(big.Int).Mul(new(big.Int).SetUint64(uint64(r.GasUsed)), r.EffectiveGasPrice.ToInt())
		if n.Txid != tx.Hash || n.From != tx.From || n.Value.String() != tx.Value.ToInt().String() || n.Fee.String() != fee.String() || n.Success != (r.Status == 1) {
			t.Errorf("tx %d: got %s from %s value %s fee %s ok %v; node: %s from %s value %s fee %s status %d",
				i, n.Txid, n.From, n.Value, n.Fee, n.Success, tx.Hash, tx.From, tx.Value.ToInt(), fee, r.Status)
		}
		if tx.To != nil && n.To != *tx.To {
			t.Errorf("tx %d: to %s, node %s", i, n.To, *tx.To)
		}
	}
}

func TestRealReceipts19125000(t *testing.T) {
	receipts := realResult(t, "eth_getBlockReceipts/test_09.json")
	var rs []struct {
		TxHash string `json:"transactionHash"`
		Logs   []struct {
			Address common.Address `json:"address"`
			Topics  []common.Hash  `json:"topics"`
			Data    hexutil.Bytes  `json:"data"`
			Index   hexutil.Uint64 `json:"logIndex"`
		} `json:"logs"`
	}
	if err := json.Unmarshal(receipts, &rs); err != nil {
		t.Fatal(err)
	}
	tokens := DefaultTokens()
	var got []chain.Transfer
	for _, r := range rs {
		for _, l := range r.Logs {
			tl, reason := DecodeTransferLog(l.Topics, l.Data)
			if reason != SkipNone || !tokens.Keeps(hexAddr(l.Address[:])) || hexAddr(l.Address[:]) != usdt {
				continue
			}
			got = append(got, chain.Transfer{From: tl.From, To: tl.To, Value: chain.NewAmount(tl.Value), Index: int(l.Index), Txid: r.TxHash, Zero: tl.Value.Sign() == 0})
		}
	}
	if len(got) != 20 {
		t.Fatalf("%d USDT transfers in block 19,125,000, want 20", len(got))
	}
	compareTransfers(t, got, rawUSDT(t, receipts))
}

// A block whose transactions were tampered with fails its root check.
func TestRealBlockTampered(t *testing.T) {
	block := realResult(t, "eth_getBlockByNumber/test_08.json")
	receipts := realResult(t, "eth_getBlockReceipts/test_02.json")
	var m map[string]any
	if err := json.Unmarshal(block, &m); err != nil {
		t.Fatal(err)
	}
	txs := m["transactions"].([]any)
	m["transactions"] = txs[1:]
	bad, _ := json.Marshal(m)
	if _, _, err := Decode(RawBlock{Block: bad, Receipts: receipts}, DecodeOptions{Tokens: DefaultTokens()}); err == nil {
		t.Fatal("a block missing a transaction decoded without error")
	} else {
		t.Logf("as expected: %v", err)
	}
	var rs []map[string]any
	if err := json.Unmarshal(receipts, &rs); err != nil {
		t.Fatal(err)
	}
	rs[3]["status"] = "0x0"
	badR, _ := json.Marshal(rs)
	if _, _, err := Decode(RawBlock{Block: block, Receipts: badR}, DecodeOptions{Tokens: DefaultTokens()}); err == nil {
		t.Fatal("receipts with a flipped status decoded without error")
	} else {
		t.Logf("as expected: %v", err)
	}
}

// The node's "from" must match the recovered sender, in compact and in
// pretty-printed JSON alike.
func TestRealBlockWrongFrom(t *testing.T) {
	block := realResult(t, "eth_getBlockByNumber/test_08.json")
	receipts := realResult(t, "eth_getBlockReceipts/test_02.json")
	var m map[string]any
	if err := json.Unmarshal(block, &m); err != nil {
		t.Fatal(err)
	}
	m["transactions"].([]any)[5].(map[string]any)["from"] = "0x1111111111111111111111111111111111111111"
	for _, indent := range []string{"", "  "} {
		bad, _ := json.MarshalIndent(m, "", indent)
		if indent == "" {
			bad, _ = json.Marshal(m)
		}
		_, _, err := Decode(RawBlock{Block: bad, Receipts: receipts}, DecodeOptions{Tokens: DefaultTokens()})
		if err == nil || !strings.Contains(err.Error(), "the node says 0x1111111111111111111111111111111111111111") {
			t.Errorf("indent %q: got %v, want the wrong sender named", indent, err)
		}
	}

	// With NodeSenders the node's "from" is taken as given, the wrong one
	// too; a transaction without "from" is recovered; the rest of the
	// block is what the strict decode makes of it.
	want, _, err := Decode(RawBlock{Block: block, Receipts: receipts}, DecodeOptions{Tokens: DefaultTokens()})
	if err != nil {
		t.Fatal(err)
	}
	txs := m["transactions"].([]any)
	delete(txs[7].(map[string]any), "from")
	bad, _ := json.Marshal(m)
	got, _, err := Decode(RawBlock{Block: bad, Receipts: receipts}, DecodeOptions{Tokens: DefaultTokens(), NodeSenders: true})
	if err != nil {
		t.Fatalf("NodeSenders: %v", err)
	}
	if len(got.Transfers) != len(want.Transfers) {
		t.Fatalf("NodeSenders: %d transfers, want %d", len(got.Transfers), len(want.Transfers))
	}
	taken := 0
	for i, tr := range got.Transfers {
		w := want.Transfers[i]
		if tr.Kind == chain.TransferNative && tr.TxIndex == 5 {
			w.From = "0x1111111111111111111111111111111111111111"
			taken++
		}
		if !reflect.DeepEqual(tr, w) {
			t.Errorf("NodeSenders: transfer %d is %+v, want %+v", i, tr, w)
		}
	}
	if taken != 1 {
		t.Errorf("NodeSenders: %d native transfers of transaction 5, want 1", taken)
	}
}

// Blocks of other eras prove their header hash and transactions root:
// genesis, and a Cancun block with blob transactions (19,900,000). Their
// receipts are not in the real data, so Decode gets none and must fail on
// exactly that, after the hash and root checks passed.
func TestRealBlockRoots(t *testing.T) {
	for _, tc := range []struct {
		file string
		txs  int
	}{{"eth_getBlockByNumber/test_12.json", 0}, {"eth_getBlockByNumber/test_14.json", -1}} {
		block := realResult(t, tc.file)
		b, _, err := Decode(RawBlock{Block: block, Receipts: json.RawMessage("[]")}, DecodeOptions{Tokens: DefaultTokens()})
		switch {
		case tc.txs == 0 && err != nil:
			t.Errorf("%s: %v", tc.file, err)
		case tc.txs == 0 && (b.Height != 0 || len(b.Transfers) != 0):
			t.Errorf("%s: block %d with %d transfers, want genesis with none", tc.file, b.Height, len(b.Transfers))
		case tc.txs != 0 && (err == nil || !strings.Contains(err.Error(), "0 receipts for")):
			t.Errorf("%s: got %v, want the missing receipts noticed after the hash and root checks", tc.file, err)
		}
	}
}
