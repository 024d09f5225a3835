package ethsim

import (
	"context"
	"strconv"
	"testing"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/eth"
)

// Every generated block passes the decoder's checks (roots, hashes,
// signatures), carries the configured load, and every planted flow is in
// the decoded transfers.
func TestGenerate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Blocks, cfg.TxsPerBlock, cfg.TokenTransfersPerBlock = 8, 60, 90
	dir := t.TempDir()
	truth, err := Generate(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	src, err := eth.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	tokens, _ := eth.ParseTokens("all")
	seen := map[string]chain.Transfer{}
	parent := ""
	var txs, token int
	for h := int64(0); h < int64(cfg.Blocks); h++ {
		raw, err := src.Block(context.Background(), h)
		if err != nil {
			t.Fatal(err)
		}
		b, st, err := eth.Decode(raw, eth.DecodeOptions{Tokens: tokens})
		if err != nil {
			t.Fatalf("block %d: %v", h, err)
		}
		if h > 0 && b.Parent != parent {
			t.Fatalf("block %d: parent %s, want %s", h, b.Parent, parent)
		}
		parent = b.Hash
		if st.Txs != cfg.TxsPerBlock {
			t.Errorf("block %d: %d txs, want %d", h, st.Txs, cfg.TxsPerBlock)
		}
		for _, tr := range b.Transfers {
			seen[tr.Txid+"/"+tr.Kind+"/"+strconv.Itoa(tr.Index)] = tr
			if tr.Kind == chain.TransferToken {
				token++
			}
		}
		txs += st.Txs
	}
	if parent != truth.Tip || int64(txs) != truth.Txs || int64(token) != truth.Transfers {
		t.Errorf("tip %s txs %d tokens %d; truth says %s %d %d", parent, txs, token, truth.Tip, truth.Txs, truth.Transfers)
	}
	if got, want := token, cfg.Blocks*cfg.TokenTransfersPerBlock; got < want*9/10 || got > want*11/10 {
		t.Errorf("%d token transfers, want about %d", got, want)
	}
	kinds := map[string]int{}
	for _, f := range truth.Flows {
		kind := chain.TransferToken
		if f.Asset == chain.AssetETH {
			kind = chain.TransferNative
		}
		tr, ok := seen[f.Txid+"/"+kind+"/"+strconv.Itoa(f.Index)]
		if !ok || tr.From != f.From || tr.To != f.To || tr.Value.String() != f.Value || tr.Asset != f.Asset {
			t.Errorf("planted %s %+v: decoded %+v", f.Kind, f, tr)
		}
		kinds[f.Kind]++
	}
	for _, k := range []string{"purchase", "cash-out", "cartel-payment", "poisoning"} {
		if kinds[k] == 0 {
			t.Errorf("no %s flow planted", k)
		}
	}
}

// With exchange customers, every kind of deposit flow is planted, decodes
// as planted, and the owners cover every customer's deposit address and
// wallets; each sweep goes from a deposit address to its exchange's hot
// wallet.
func TestGenerateCustomers(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Blocks, cfg.TxsPerBlock, cfg.TokenTransfersPerBlock, cfg.Customers, cfg.Traders = 20, 40, 50, 10, 1
	dir := t.TempDir()
	truth, err := Generate(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	src, err := eth.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]chain.Transfer{}
	for h := int64(0); h < int64(cfg.Blocks); h++ {
		raw, err := src.Block(context.Background(), h)
		if err != nil {
			t.Fatal(err)
		}
		b, st, err := eth.Decode(raw, eth.DecodeOptions{Tokens: eth.DefaultTokens()})
		if err != nil {
			t.Fatalf("block %d: %v", h, err)
		}
		if st.Txs != cfg.TxsPerBlock {
			t.Errorf("block %d: %d txs, want %d", h, st.Txs, cfg.TxsPerBlock)
		}
		for _, tr := range b.Transfers {
			seen[tr.Txid+"/"+tr.Kind+"/"+strconv.Itoa(tr.Index)] = tr
		}
	}
	owners := truth.Owners()
	hot := map[string]string{}
	for _, a := range truth.Actors {
		hot[a.Name] = a.Address
	}
	deposits := map[string]string{} // deposit → its exchange's hot wallet
	for _, c := range truth.Customers {
		if owners[c.Deposit] != c.Name || len(c.Wallets) == 0 || hot[c.Exchange] == "" {
			t.Errorf("customer %+v: owners or exchange missing", c)
		}
		deposits[c.Deposit] = hot[c.Exchange]
	}
	kinds := map[string]int{}
	for _, f := range truth.Flows {
		kind := chain.TransferToken
		if f.Asset == chain.AssetETH {
			kind = chain.TransferNative
		}
		tr, ok := seen[f.Txid+"/"+kind+"/"+strconv.Itoa(f.Index)]
		if !ok || tr.From != f.From || tr.To != f.To || tr.Value.String() != f.Value || !tr.Success {
			t.Errorf("planted %s %+v: decoded %+v", f.Kind, f, tr)
		}
		if f.Kind == "sweep" && deposits[f.From] != f.To {
			t.Errorf("sweep %+v: not from a deposit address to its exchange", f)
		}
		if f.Kind == "deposit" && owners[f.From] == "" || f.Kind == "deposit" && owners[f.From] != owners[f.To] {
			t.Errorf("deposit %+v: not from a wallet of the deposit address's owner", f)
		}
		kinds[f.Kind]++
	}
	for _, k := range []string{"deposit", "sweep", "gas-topup", "withdrawal-to-deposit", "trader-collect", "trader-forward"} {
		if kinds[k] == 0 {
			t.Errorf("no %s flow planted (%v)", k, kinds)
		}
	}
}
