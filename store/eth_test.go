package store_test

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/store"
)

const (
	alice = "0x1111111111111111111111111111111111111111"
	bob   = "0x2222222222222222222222222222222222222222"
	usdtC = "0xdac17f958d2ee523a2206206994597c13d831ec7"
	spam  = "0x9999999999999999999999999999999999999999"
)

func amt(t *testing.T, s string) chain.Amount {
	t.Helper()
	a, err := chain.ParseAmount(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// ethBlocks: block 1 has a native payment of 100 ETH (beyond 64 bits in
// wei) from alice to bob, a failed native payment, a USDT transfer, a
// zero-value USDT transfer (poisoning) and a spam token transfer of
// 2^256-1 (beyond Decimal(38, 0)); block 2 has an internal transfer.
func ethBlocks(t *testing.T) []*chain.Block {
	maxU256 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)).String()
	b1 := &chain.Block{Chain: "eth", Height: 1, Hash: "0xb1", Parent: "0xb0", Time: 1700000000, Size: 1000, Transfers: []chain.Transfer{
		{Kind: "native", Asset: "ETH", From: alice, To: bob, Value: amt(t, "100000000000000000000"), Txid: "0xt1", Success: true, Fee: amt(t, "21000000000000")},
		{Kind: "native", Asset: "ETH", From: alice, To: bob, Value: amt(t, "5"), Txid: "0xt2", TxIndex: 1, Success: false, Fee: amt(t, "30000")},
		{Kind: "native", Asset: "ETH", From: bob, To: usdtC, Value: amt(t, "0"), Txid: "0xt3", TxIndex: 2, Success: true, Fee: amt(t, "7"), Zero: true},
		{Kind: "token", Asset: usdtC, From: bob, To: alice, Value: amt(t, "12345678"), Txid: "0xt3", TxIndex: 2, Index: 0, Success: true},
		{Kind: "token", Asset: usdtC, From: bob, To: alice, Value: amt(t, "0"), Txid: "0xt3", TxIndex: 2, Index: 1, Success: true, Zero: true},
		{Kind: "token", Asset: spam, From: bob, To: alice, Value: amt(t, maxU256), Txid: "0xt3", TxIndex: 2, Index: 2, Success: true},
	}}
	b2 := &chain.Block{Chain: "eth", Height: 2, Hash: "0xb2", Parent: "0xb1", Time: 1700000012, Transfers: []chain.Transfer{
		{Kind: "native", Asset: "ETH", From: bob, To: spam, Value: amt(t, "0"), Txid: "0xt4", Success: true, Fee: amt(t, "1"), Zero: true},
		{Kind: "internal", Asset: "ETH", From: spam, To: alice, Value: amt(t, "3"), Txid: "0xt4", Index: 1, Success: true},
	}}
	return []*chain.Block{b1, b2}
}

func runEthSuite(t *testing.T, conn store.Conn) {
	ctx := context.Background()
	st, err := store.New(ctx, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	blocks := ethBlocks(t)
	write := func(bs ...*chain.Block) {
		t.Helper()
		var batch store.Batch
		for i, b := range bs {
			if err := batch.AddBlock(b, uint64(i+1)); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Write(ctx, &batch); err != nil {
			t.Fatal(err)
		}
	}
	write(blocks...)
	write(blocks[1]) // redelivered: not counted twice

	got, err := st.EthTransfers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want []chain.Transfer
	for _, b := range blocks {
		want = append(want, b.Transfers...)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d transfers, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Txid != w.Txid || g.Kind != w.Kind || int(g.Index) != w.Index || g.From != w.From || g.To != w.To || g.Value != w.Value.String() || g.Fee != w.Fee.String() || g.Success != w.Success || g.Zero != w.Zero || g.Asset != w.Asset {
			t.Errorf("transfer %d: got %+v, want %+v", i, g, w)
		}
	}

	assets, err := st.EthAddress(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	byAsset := map[string]store.EthAsset{}
	for _, a := range assets {
		byAsset[a.Asset] = a
	}
	eth := byAsset["ETH"]
	// Alice sent 100 ETH (the failed 5 wei moved nothing), paid both fees,
	// and got 3 wei from the internal transfer.
	if eth.Received != "3" || eth.Sent != "100000000000000000000" || eth.Fees != "21000000030000" || eth.Failed != 1 || eth.Net != "-100000021000000029997" {
		t.Errorf("alice ETH: got %+v", eth)
	}
	u := byAsset[usdtC]
	if u.Received != "12345678" || u.Sent != "0" || u.ZeroValue != 1 || u.In != 2 {
		t.Errorf("alice USDT: got %+v", u)
	}
	if s := byAsset[spam]; s.Received != strings.TrimSpace(want[5].Value.String()) {
		t.Errorf("alice spam token: got received %s, want %s (beyond Decimal(38, 0), exact)", s.Received, want[5].Value)
	}
	if _, err := st.EthAddress(ctx, "0x' OR 1=1 --"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown address: got %v, want ErrNotFound", err)
	}
	tx, err := st.EthTx(ctx, "0xt3")
	if err != nil || len(tx) != 4 {
		t.Fatalf("tx 0xt3: got %d transfers, %v; want 4", len(tx), err)
	}
	stats, err := st.EthStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Blocks != 2 || stats.Txs != 4 || stats.Transfers != 8 || stats.Token != 3 || stats.Internal != 1 || stats.ZeroValue != 1 || stats.Failed != 1 || stats.TipHeight != 2 || stats.TipHash != "0xb2" {
		t.Errorf("stats: got %+v", stats)
	}

	if err := st.Undo(ctx, "eth", "0xb2"); err != nil {
		t.Fatal(err)
	}
	stats, err = st.EthStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Blocks != 1 || stats.Transfers != 6 || stats.Internal != 0 || stats.TipHeight != 1 {
		t.Errorf("stats after undo: got %+v", stats)
	}
	if _, err := st.EthTx(ctx, "0xt4"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("undone tx: got %v, want ErrNotFound", err)
	}
	// Bitcoin stays unaffected by Ethereum rows.
	if bs, err := st.Stats(ctx, "btc"); err != nil || bs.Blocks != 0 {
		t.Errorf("btc stats: got %+v, %v", bs, err)
	}
}

func TestEthStoreClickHouseServer(t *testing.T) { runEthSuite(t, clickhouseConn(t)) }

func TestEthStoreChDB(t *testing.T) { runEthSuite(t, chdbConn(t)) }
