package payload_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/klauspost/compress/s2"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/btc"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/stream/payload"
)

func amount(t testing.TB, s string) chain.Amount {
	t.Helper()
	a, err := chain.ParseAmount(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// payloadCases are events with every field and the strings the v2 string
// encoding treats apart: constants, lower-case hex, 0x-hex, and look-alikes
// that must stay plain.
func payloadCases(t testing.TB) map[string]*chain.Event {
	hash := strings.Repeat("0f", 32)
	btcBlock := &chain.Block{
		Chain: chain.BTC, Height: 7, Hash: hash, Parent: strings.Repeat("a1", 32), Time: 1704070096, Size: 727,
		Txs: []chain.Tx{
			{Txid: strings.Repeat("5c", 32), Index: 0, Coinbase: true, Size: 188, Vsize: 161,
				Inputs: []chain.Input{{Index: 0, Coinbase: true}},
				Outputs: []chain.Output{
					{Index: 0, Address: "bcrt1qlmwyq739vcjs4xep0rr9takupm2kkq2tuanle2", ScriptType: chain.ScriptP2WPKH, Value: 5000001956},
					{Index: 1, ScriptType: chain.ScriptNullData}}},
			{Txid: strings.Repeat("de", 32), Index: 1, Size: 223, Vsize: 223,
				Inputs: []chain.Input{
					{Index: 0, PrevTxid: strings.Repeat("43", 32), PrevIndex: 230, Address: "n4MxYt8qZYrxnxPdYg9RBLQCXLpLPXKFUq", ScriptType: chain.ScriptP2PKH, Value: 16617299},
					{Index: 1, PrevTxid: strings.Repeat("44", 32), PrevIndex: 1<<32 - 1, Address: "s-" + strings.Repeat("ab", 32), ScriptType: chain.ScriptMultisig, Value: 1}},
				Outputs: []chain.Output{
					{Index: 0, Address: "abcd", ScriptType: "some future type", Value: 5500000}, // hex-looking address
					{Index: 1, Address: "ABCD", ScriptType: chain.ScriptNonStd, Value: -1},      // upper case stays plain
					{Index: 2, Address: "abc", ScriptType: chain.ScriptP2TR, Value: 1 << 62},    // odd length stays plain
				}},
		},
	}
	big1, _ := new(big.Int).SetString("115792089237316195423570985008687907853269984665640564039457584007913129639935", 10) // 2^256-1
	ethBlock := &chain.Block{
		Chain: chain.ETH, Height: 19_000_000, Hash: "0x" + strings.Repeat("9a", 32), Parent: "0x" + strings.Repeat("11", 32), Time: 1705000000,
		Transfers: []chain.Transfer{
			{Kind: chain.TransferNative, Asset: chain.AssetETH, From: "0x" + strings.Repeat("12", 20), To: "0x" + strings.Repeat("34", 20),
				Value: amount(t, "1000000000000000000"), Txid: "0x" + strings.Repeat("56", 32), TxIndex: 3, Success: true, Fee: amount(t, "21000000000000")},
			{Kind: chain.TransferToken, Asset: "0xdac17f958d2ee523a2206206994597c13d831ec7", From: "0x" + strings.Repeat("12", 20), To: "0x",
				Value: chain.NewAmount(big1), Txid: "0x" + strings.Repeat("56", 32), TxIndex: 3, Index: 17, Success: true},
			{Kind: chain.TransferInternal, Asset: chain.AssetETH, From: "0xABC", To: "0x" + strings.Repeat("ff", 20),
				Txid: "0x" + strings.Repeat("57", 32), TxIndex: 4, Index: 2, Zero: true},
		},
	}
	return map[string]*chain.Event{
		"undo":      {Kind: chain.KindUndo, Seq: 9, Chain: chain.BTC, Height: 6, Hash: hash},
		"btc block": {Kind: chain.KindBlock, Seq: 1 << 40, Chain: chain.BTC, Height: 7, Hash: hash, Block: btcBlock},
		"eth block": {Kind: chain.KindBlock, Seq: 2, Chain: chain.ETH, Height: 19_000_000, Hash: ethBlock.Hash, Block: ethBlock},
		"empty block": {Kind: chain.KindBlock, Seq: 3, Chain: "other", Height: 0, Hash: "",
			Block: &chain.Block{Chain: "other"}},
		"unknown kind": {Kind: "future", Seq: 4, Chain: chain.BTC, Height: -1, Hash: "x"},
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	for name, ev := range payloadCases(t) {
		t.Run(name, func(t *testing.T) {
			for _, c := range []struct {
				format string
				encode func(*chain.Event) ([]byte, error)
			}{{payload.V2, payload.Encode}, {payload.V1, payload.EncodeV1}} {
				in := *ev
				body, err := c.encode(&in)
				if err != nil {
					t.Fatalf("%s: encode: %v", c.format, err)
				}
				got, format, err := payload.Decode(body)
				if err != nil {
					t.Fatalf("%s: decode: %v", c.format, err)
				}
				if format != c.format {
					t.Errorf("%s: decoded format %q, want %q", c.format, format, c.format)
				}
				want := *ev
				if !reflect.DeepEqual(got, &want) {
					t.Errorf("%s: round trip:\ngot  %+v\nwant %+v", c.format, got, &want)
				}
			}
		})
	}
}

func TestEncodeWritesV2(t *testing.T) {
	ev := payloadCases(t)["undo"]
	m, err := payload.NewMessage(ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := payload.FormatOf(m.Body); got != payload.V2 {
		t.Errorf("format of a new message %q, want %q", got, payload.V2)
	}
	if _, format, err := payload.Decode(m.Body); err != nil || format != payload.V2 {
		t.Errorf("decoding a new message: format %q, %v; want %q", format, err, payload.V2)
	}
	if got := payload.EncodingOf(payload.V2); got != payload.EncodingV2 {
		t.Errorf("encoding of v2: got %q, want %q", got, payload.EncodingV2)
	}
	if got := payload.EncodingOf("tracer.event.v99"); got != "" {
		t.Errorf("encoding of an unknown format: got %q, want none", got)
	}
}

// TestPayloadMainnetBlock checks v1 and v2 agree on a mainnet-sized block
// as the normalizer makes it, and that v2 is the smaller.
func TestPayloadMainnetBlock(t *testing.T) {
	ev := mainnetSizedEvent(t)
	v1, err := payload.EncodeV1(ev)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := payload.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := payload.Decode(v1)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := payload.Decode(v2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("v1 and v2 decode to different events")
	}
	if !reflect.DeepEqual(b, ev) {
		t.Fatal("v2 does not decode to the event encoded")
	}
	if len(v2) >= len(v1) {
		t.Errorf("v2 payload %d bytes, v1 %d: want v2 smaller", len(v2), len(v1))
	}
	t.Logf("%d txs: v1 %d bytes, v2 %d bytes", len(ev.Block.Txs), len(v1), len(v2))
}

func TestDecodePayloadErrors(t *testing.T) {
	raw, err := payload.Encode(payloadCases(t)["btc block"])
	if err != nil {
		t.Fatal(err)
	}
	// The last byte of an undo event is its hasBlock flag.
	undo, _ := payload.Encode(payloadCases(t)["undo"])
	badFlag := bytes.Clone(undo)
	badFlag[len(badFlag)-1] = 0x04
	cases := map[string][]byte{
		"empty":          nil,
		"not s2":         []byte("hello"),
		"empty s2":       s2.Encode(nil, nil),
		"v1 not json":    s2.Encode(nil, []byte{0x07, 1, 2}),
		"bad json":       s2.Encode(nil, []byte(`{"kind": `)),
		"trailing bytes": append(bytes.Clone(raw), 0),
		"unknown flag":   badFlag,
		"bad constant":   {0x02, 30<<2 | 3},
		"huge count":     {0x02, 3<<2 | 3, 1, 1<<2 | 3, 0, 0, 1, 1<<2 | 3, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
	}
	// Every truncation of a good event fails cleanly.
	for n := 1; n < len(raw); n++ {
		cases[fmt.Sprintf("truncated to %d of %d bytes", n, len(raw))] = raw[:n]
	}
	for name, body := range cases {
		if ev, _, err := payload.Decode(body); err == nil {
			t.Errorf("%s: decoded %+v, want an error", name, ev)
		}
	}
}

func FuzzDecodePayload(f *testing.F) {
	for _, ev := range payloadCases(f) {
		for _, enc := range []func(*chain.Event) ([]byte, error){payload.Encode, payload.EncodeV1} {
			in := *ev
			body, err := enc(&in)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(body)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, _, err := payload.Decode(body)
		if err != nil {
			return
		}
		// Whatever decodes encodes again to an event that decodes the same.
		again, err := payload.Encode(ev)
		if err != nil {
			return // e.g. a v1 event with a negative amount
		}
		back, _, err := payload.Decode(again)
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalizeEmpty(back), normalizeEmpty(ev)) {
			t.Fatalf("re-encoded event differs:\ngot  %+v\nwant %+v", back, ev)
		}
	})
}

// normalizeEmpty makes empty slices nil: v2 does not tell them apart.
func normalizeEmpty(ev *chain.Event) *chain.Event {
	if b := ev.Block; b != nil {
		if len(b.Txs) == 0 {
			b.Txs = nil
		}
		if len(b.Transfers) == 0 {
			b.Transfers = nil
		}
		for i := range b.Txs {
			if len(b.Txs[i].Inputs) == 0 {
				b.Txs[i].Inputs = nil
			}
			if len(b.Txs[i].Outputs) == 0 {
				b.Txs[i].Outputs = nil
			}
		}
	}
	return ev
}

// memPrevouts resolves prevouts from the outputs of earlier blocks.
type memPrevouts map[wire.OutPoint]chain.Output

func (m memPrevouts) Prevout(op wire.OutPoint) (chain.Output, error) {
	o, ok := m[op]
	if !ok {
		return o, errors.New("no prevout")
	}
	return o, nil
}

// mainnetSizedEvent is the event of the last of 12 simulated blocks of
// 2,500 transactions.
func mainnetSizedEvent(tb testing.TB) *chain.Event {
	tb.Helper()
	cfg := simulate.DefaultConfig()
	cfg.Blocks, cfg.TxsPerBlock = 12, 2500
	g, err := simulate.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	prev := memPrevouts{}
	var blk *chain.Block
	for h := int64(0); ; h++ {
		mb, err := g.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		blk, err = btc.Normalize(mb, h, &chaincfg.MainNetParams, prev)
		if err != nil {
			tb.Fatal(err)
		}
		for _, tx := range blk.Txs {
			id, _ := chainhash.NewHashFromStr(tx.Txid)
			for _, o := range tx.Outputs {
				prev[wire.OutPoint{Hash: *id, Index: o.Index}] = o
			}
		}
	}
	return &chain.Event{Kind: chain.KindBlock, Seq: 1, Chain: blk.Chain, Height: blk.Height, Hash: blk.Hash, Block: blk}
}

// BenchmarkPayload measures encoding and decoding a mainnet-sized block in
// both formats, per transaction.
func BenchmarkPayload(b *testing.B) {
	ev := mainnetSizedEvent(b)
	txs := float64(len(ev.Block.Txs))
	for _, c := range []struct {
		name   string
		encode func(*chain.Event) ([]byte, error)
	}{{"v1", payload.EncodeV1}, {"v2", payload.Encode}} {
		body, err := c.encode(ev)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/encode", func(b *testing.B) {
			for b.Loop() {
				if _, err := c.encode(ev); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/txs, "ns/tx")
			b.ReportMetric(float64(len(body))/txs, "bytes/tx")
		})
		b.Run(c.name+"/decode", func(b *testing.B) {
			for b.Loop() {
				if _, _, err := payload.Decode(body); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/txs, "ns/tx")
		})
	}
}

func TestPayloadConstants(t *testing.T) {
	for i, c := range payload.ConstsForTest() {
		if got := payload.ConstIndexForTest(c); got != i {
			t.Errorf("constant %q: index %d, want %d", c, got, i)
		}
	}
	if got := payload.ConstIndexForTest("p2pkh2"); got != -1 {
		t.Errorf("not a constant: index %d, want -1", got)
	}
}
