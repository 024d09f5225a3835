package eth

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/tracerproject/tracer/chain"
)

func word(b ...byte) []byte { return common.LeftPadBytes(b, 32) }

func TestDecodeTransferLog(t *testing.T) {
	from := common.BytesToHash(common.FromHex("0x1111111111111111111111111111111111111111"))
	to := common.BytesToHash(common.FromHex("0x2222222222222222222222222222222222222222"))
	var dirty common.Hash
	dirty[0] = 1
	max := bytes.Repeat([]byte{0xff}, 32)
	tests := []struct {
		name   string
		topics []common.Hash
		data   []byte
		reason string
		value  string
	}{
		{"transfer", []common.Hash{TransferTopic, from, to}, word(0x0f, 0x42, 0x40), SkipNone, "1000000"},
		{"zero", []common.Hash{TransferTopic, from, to}, word(), SkipNone, "0"},
		{"max uint256", []common.Hash{TransferTopic, from, to}, max, SkipNone, new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)).String()},
		{"erc721", []common.Hash{TransferTopic, from, to, common.BigToHash(big.NewInt(7))}, nil, SkipTopics, ""},
		{"unindexed", []common.Hash{TransferTopic}, make([]byte, 96), SkipTopics, ""},
		{"short data", []common.Hash{TransferTopic, from, to}, make([]byte, 31), SkipData, ""},
		{"long data", []common.Hash{TransferTopic, from, to}, make([]byte, 64), SkipData, ""},
		{"dirty address", []common.Hash{TransferTopic, dirty, to}, word(1), SkipPadding, ""},
		{"other event", []common.Hash{common.HexToHash("0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"), from, to}, word(1), SkipNotTransfer, ""},
		{"anonymous", nil, nil, SkipNotTransfer, ""},
	}
	for _, tc := range tests {
		got, reason := DecodeTransferLog(tc.topics, tc.data)
		if reason != tc.reason {
			t.Errorf("%s: reason %q, want %q", tc.name, reason, tc.reason)
			continue
		}
		if reason != SkipNone {
			continue
		}
		if got.Value.String() != tc.value || got.From != "0x1111111111111111111111111111111111111111" || got.To != "0x2222222222222222222222222222222222222222" {
			t.Errorf("%s: got %s → %s value %s, want 0x11… → 0x22… value %s", tc.name, got.From, got.To, got.Value, tc.value)
		}
	}
}

func FuzzDecodeTransferLog(f *testing.F) {
	f.Add(TransferTopic.Bytes(), word(1), word(2), word(3), 3)
	f.Add(TransferTopic.Bytes(), word(1), word(2), []byte{1}, 4)
	f.Add([]byte{1, 2}, []byte{}, word(2), word(3), 0)
	f.Fuzz(func(t *testing.T, t0, t1, t2, data []byte, n int) {
		var topics []common.Hash
		for i, b := range [][]byte{t0, t1, t2, t1} {
			if i >= n%5+0 && n >= 0 {
				break
			}
			topics = append(topics, common.BytesToHash(b))
		}
		got, reason := DecodeTransferLog(topics, data)
		if reason != SkipNone {
			return
		}
		if len(topics) != 3 || len(data) != 32 || topics[0] != TransferTopic {
			t.Fatalf("accepted %d topics and %d data bytes", len(topics), len(data))
		}
		if got.Value.Cmp(new(big.Int).SetBytes(data)) != 0 {
			t.Fatalf("value %s, data %x", got.Value, data)
		}
		if _, err := chain.ParseETHAddress(got.From); err != nil {
			t.Fatalf("from %q: %v", got.From, err)
		}
		if _, err := chain.ParseETHAddress(got.To); err != nil {
			t.Fatalf("to %q: %v", got.To, err)
		}
	})
}

// FuzzDecode feeds arbitrary replies to the block decoder: errors, never
// panics, and a decoded block always proves itself.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"number":"0x1","hash":"0x00","transactions":[]}`), []byte(`[]`), []byte(`null`))
	f.Add([]byte(`{}`), []byte(`[{}]`), []byte(`[{"result":{"calls":[{"type":"CALL","value":"0x1"}]}}]`))
	f.Add([]byte(`{"transactions":["0x12"]}`), []byte(`null`), []byte(`[]`))
	f.Fuzz(func(t *testing.T, block, receipts, traces []byte) {
		raw := RawBlock{Block: block, Receipts: receipts}
		if len(traces) > 0 {
			raw.Traces = traces
		}
		b, _, err := Decode(raw, DecodeOptions{Tokens: TokenSet{all: true}})
		if err == nil && b == nil {
			t.Fatal("no block and no error")
		}
	})
}
