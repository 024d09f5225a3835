package eth

import (
	"bytes"
	"encoding/json"
	"math/big"
	"math/rand"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/holiman/uint256"
)

// compareTxDecoders decodes one transaction's JSON with decodeTx and with
// go-ethereum's Transaction.UnmarshalJSON. They must agree on the
// transaction (its hash covers every signed field). exact also demands
// they agree on refusing it; otherwise decodeTx may refuse more (a field
// given twice, an escaped string).
func compareTxDecoders(t testing.TB, name string, js []byte, exact bool) {
	t.Helper()
	s := &scanner{b: js}
	mine, _, errM := decodeTx(s)
	if errM == nil {
		errM = s.end()
	}
	var geth types.Transaction
	errG := geth.UnmarshalJSON(js)
	switch {
	case errM == nil && errG != nil:
		t.Fatalf("%s: decodeTx accepted what go-ethereum refuses (%v): %s", name, errG, js)
	case errM != nil && errG == nil && exact:
		t.Fatalf("%s: decodeTx refused what go-ethereum accepts: %v: %s", name, errM, js)
	case errM == nil && mine.Hash() != geth.Hash():
		t.Fatalf("%s: decodeTx got transaction %s, go-ethereum %s: %s", name, mine.Hash().Hex(), geth.Hash().Hex(), js)
	}
}

// signedTxs returns signed transactions of every type go-ethereum knows,
// with and without recipients, access lists and EIP-155 protection.
func signedTxs(t testing.TB) []*types.Transaction {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	to := common.HexToAddress("0xdAC17F958D2ee523a2206206994597C13D831ec7")
	chainID := big.NewInt(1)
	al := types.AccessList{{Address: to, StorageKeys: []common.Hash{{1}, {2}}}, {Address: common.Address{9}, StorageKeys: []common.Hash{}}}
	data := make([]byte, 68)
	rng.Read(data)
	bigv := new(big.Int).Lsh(big.NewInt(1), 200)
	inners := []types.TxData{
		&types.LegacyTx{Nonce: 0, GasPrice: big.NewInt(1), Gas: 21000, To: &to, Value: big.NewInt(0)},
		&types.LegacyTx{Nonce: 7, GasPrice: big.NewInt(30e9), Gas: 50000, To: nil, Value: bigv, Data: data},
		&types.AccessListTx{ChainID: chainID, Nonce: 3, GasPrice: big.NewInt(2e9), Gas: 90000, To: &to, Value: big.NewInt(5), Data: data, AccessList: al},
		&types.AccessListTx{ChainID: chainID, Nonce: 4, GasPrice: big.NewInt(2e9), Gas: 90000, Value: big.NewInt(0)},
		&types.DynamicFeeTx{ChainID: chainID, Nonce: 1 << 40, GasTipCap: big.NewInt(1), GasFeeCap: big.NewInt(1e11), Gas: 60000, To: &to, Value: big.NewInt(1), Data: data, AccessList: al},
		&types.DynamicFeeTx{ChainID: chainID, Nonce: 2, GasTipCap: big.NewInt(0), GasFeeCap: big.NewInt(0), Gas: 0, Value: new(big.Int)},
		&types.BlobTx{ChainID: uint256.NewInt(1), Nonce: 5, GasTipCap: uint256.NewInt(1), GasFeeCap: uint256.NewInt(2), Gas: 21000, To: to,
			Value: uint256.NewInt(3), BlobFeeCap: uint256.NewInt(4), BlobHashes: []common.Hash{{0x01, 2}}, AccessList: al},
		&types.SetCodeTx{ChainID: uint256.NewInt(1), Nonce: 6, GasTipCap: uint256.NewInt(1), GasFeeCap: uint256.NewInt(2), Gas: 50000, To: to,
			Value: uint256.NewInt(0), AuthList: []types.SetCodeAuthorization{{ChainID: *uint256.NewInt(1), Address: to, Nonce: 2, V: 1, R: *uint256.NewInt(5), S: *uint256.NewInt(6)}}},
	}
	var out []*types.Transaction
	for _, inner := range inners {
		for _, signer := range []types.Signer{types.LatestSignerForChainID(chainID), types.HomesteadSigner{}} {
			if _, ok := signer.(types.HomesteadSigner); ok {
				if _, legacy := inner.(*types.LegacyTx); !legacy {
					continue
				}
			}
			tx, err := types.SignNewTx(key, signer, inner)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, tx)
		}
	}
	return out
}

// txVariants returns the transaction's JSON and edits of it: each field
// removed, nulled or duplicated, and values out of form.
func txVariants(t testing.TB, tx *types.Transaction) map[string][]byte {
	t.Helper()
	js, err := tx.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{"as is": js}
	edit := func(name string, f func(map[string]json.RawMessage)) {
		c := make(map[string]json.RawMessage, len(m))
		for k, v := range m {
			c[k] = v
		}
		f(c)
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	for k := range m {
		edit("without "+k, func(c map[string]json.RawMessage) { delete(c, k) })
		edit(k+" null", func(c map[string]json.RawMessage) { c[k] = json.RawMessage("null") })
		edit(k+" a number", func(c map[string]json.RawMessage) { c[k] = json.RawMessage("1") })
		edit(k+" 0x", func(c map[string]json.RawMessage) { c[k] = json.RawMessage(`"0x"`) })
		edit(k+" leading zero", func(c map[string]json.RawMessage) { c[k] = json.RawMessage(`"0x01"`) })
	}
	for _, kv := range [][2]string{
		{"v", `"0x1c"`}, {"v", `"0x25"`}, {"v", `"0x2"`}, {"yParity", `"0x2"`}, {"yParity", `"0x0"`}, {"yParity", `"0x1"`},
		{"type", `"0x5"`}, {"type", `"0x7e"`}, {"chainId", `"0x0"`}, {"s", `"0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"`},
		{"r", `"0x0"`}, {"accessList", `[]`}, {"accessList", `[{"address":"0x0000000000000000000000000000000000000001"}]`},
		{"blobVersionedHashes", `[]`}, {"authorizationList", `[]`}, {"to", `"0x00"`}, {"input", `"0x0"`},
		{"value", `"0x10000000000000000000000000000000000000000000000000000000000000000"`},
	} {
		edit(kv[0]+"="+kv[1], func(c map[string]json.RawMessage) { c[kv[0]] = json.RawMessage(kv[1]) })
	}
	return out
}

// TestDecodeTxMatchesGeth holds decodeTx to go-ethereum's decoder on
// every transaction type and on edits of each.
func TestDecodeTxMatchesGeth(t *testing.T) {
	for _, tx := range signedTxs(t) {
		for name, js := range txVariants(t, tx) {
			compareTxDecoders(t, name, js, true)
		}
	}
	// Refused by decodeTx only: go-ethereum lets the last of a duplicate
	// field win, so the node could show one value and sign another.
	js, _ := signedTxs(t)[0].MarshalJSON()
	dup := append([]byte(`{"nonce":"0x5",`), js[1:]...)
	if _, _, err := decodeTx(&scanner{b: dup}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate nonce: got %v, want an error", err)
	}
}

// The transactions of real mainnet blocks (block 18,000,000; the Cancun
// block 19,900,000 with blob transactions) decode as go-ethereum decodes
// them.
func TestDecodeTxRealBlocks(t *testing.T) {
	for _, f := range []string{"eth_getBlockByNumber/test_08.json", "eth_getBlockByNumber/test_14.json"} {
		var b struct {
			Txs []json.RawMessage `json:"transactions"`
		}
		if err := json.Unmarshal(realResult(t, f), &b); err != nil {
			t.Fatal(err)
		}
		if len(b.Txs) == 0 {
			t.Fatalf("%s: no transactions", f)
		}
		for i, js := range b.Txs {
			compareTxDecoders(t, f+" tx "+string(rune('0'+i%10)), js, true)
		}
	}
}

func FuzzDecodeTx(f *testing.F) {
	for _, tx := range signedTxs(f) {
		for _, js := range txVariants(f, tx) {
			f.Add(js)
		}
	}
	f.Fuzz(func(t *testing.T, js []byte) {
		compareTxDecoders(t, "fuzz", js, false)
	})
}

// FuzzScanner: the scanner takes exactly what encoding/json takes as
// valid JSON (nesting within maxJSONDepth).
func FuzzScanner(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a":[1,-2.5e+3,true,false,null,"x\u00e9\n"]}`, `[1,]`, `{"a" 1}`, `"\x"`, `01`, `-`, `1.`, `[[[`, ` {"a":{"b":[]}} `,
		`["0123456789abcdef\\"0123456789"]`, "[\"0123456789abcdef\x01\"]", "[\"0123456789ab\xc3\xa9cdef01234\"]", `{"0x0123456789abcdef0123":"0x0123456789abcdef0123\\u00zz"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) > maxJSONDepth {
			return
		}
		s := &scanner{b: b}
		err := s.skip()
		if err == nil {
			err = s.end()
		}
		if (err == nil) != json.Valid(b) {
			t.Fatalf("scanner says %v, encoding/json valid=%v: %q", err, json.Valid(b), b)
		}
	})
}

func FuzzCheckQuantity(f *testing.F) {
	for _, s := range []string{"", "0x", "0x0", "0x00", "0x1f", "0X1f", "1f", "0xg", "0x" + strings.Repeat("f", 64), "0x" + strings.Repeat("f", 65), "0x1" + strings.Repeat("0", 64)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		var n hexutil.Big
		if got, want := checkQuantity(v), n.UnmarshalText(v); (got == nil) != (want == nil) {
			t.Fatalf("%q: checkQuantity says %v, hexutil.Big %v", v, got, want)
		}
	})
}

// compareReceiptDecoders decodes receipts with decodeReceipts and with
// go-ethereum's JSON decoding: what both accept must hash to the same
// receipts root and agree on every field Decode uses; what go-ethereum
// refuses, decodeReceipts must refuse too.
func compareReceiptDecoders(t testing.TB, name string, js []byte) {
	t.Helper()
	mine, errM := decodeReceipts(js)
	var geth types.Receipts
	errG := json.Unmarshal(js, &geth)
	if errM == nil && errG != nil {
		t.Fatalf("%s: decodeReceipts accepted what go-ethereum refuses (%v)", name, errG)
	}
	if errM != nil || errG != nil {
		return
	}
	if len(mine) != len(geth) {
		t.Fatalf("%s: %d receipts, go-ethereum %d", name, len(mine), len(geth))
	}
	for i := range mine {
		if (mine[i] == nil) != (geth[i] == nil) {
			t.Fatalf("%s: receipt %d: nil %v, go-ethereum nil %v", name, i, mine[i] == nil, geth[i] == nil)
		}
		if mine[i] == nil {
			return
		}
		m, g := mine[i], geth[i]
		if m.Status != g.Status || m.CumulativeGasUsed != g.CumulativeGasUsed || m.TxHash != g.TxHash || m.BlobGasUsed != g.BlobGasUsed ||
			(m.BlobGasPrice == nil) != (g.BlobGasPrice == nil) || (m.BlobGasPrice != nil && m.BlobGasPrice.Cmp(g.BlobGasPrice) != 0) ||
			!bytes.Equal(m.PostState, g.PostState) || len(m.Logs) != len(g.Logs) {
			t.Fatalf("%s: receipt %d differs from go-ethereum's", name, i)
		}
		for j := range m.Logs {
			if (m.Logs[j] == nil) != (g.Logs[j] == nil) {
				t.Fatalf("%s: receipt %d log %d: nil differs", name, i, j)
			}
		}
	}
	for _, r := range mine {
		if r == nil {
			return
		}
		for _, l := range r.Logs {
			if l == nil {
				return
			}
		}
	}
	if a, b := types.DeriveSha(mine, trie.NewStackTrie(nil)), types.DeriveSha(geth, trie.NewStackTrie(nil)); a != b {
		t.Fatalf("%s: receipts root %s, go-ethereum %s", name, a.Hex(), b.Hex())
	}
}

// receiptVariants returns real receipts and edits of the first: each field
// removed, nulled, out of form, or given a neighbouring value.
func receiptVariants(t testing.TB, receipts []byte) map[string][]byte {
	t.Helper()
	var rs []map[string]json.RawMessage
	if err := json.Unmarshal(receipts, &rs); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{"as is": receipts}
	if len(rs) == 0 {
		return out
	}
	first := rs[0]
	edit := func(name string, f func(r map[string]json.RawMessage)) {
		c := map[string]json.RawMessage{}
		for k, v := range first {
			c[k] = v
		}
		f(c)
		b, err := json.Marshal([]any{c})
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	for k := range first {
		edit("without "+k, func(c map[string]json.RawMessage) { delete(c, k) })
		edit(k+" null", func(c map[string]json.RawMessage) { c[k] = json.RawMessage("null") })
		edit(k+" 0x", func(c map[string]json.RawMessage) { c[k] = json.RawMessage(`"0x"`) })
		edit(k+" leading zero", func(c map[string]json.RawMessage) { c[k] = json.RawMessage(`"0x01"`) })
		edit(k+" number", func(c map[string]json.RawMessage) { c[k] = json.RawMessage(`7`) })
	}
	for _, kv := range [][2]string{{"status", `"0x0"`}, {"type", `"0x3"`}, {"root", `"0x1234"`}, {"blobGasUsed", `"0x20000"`},
		{"blobGasPrice", `"0x1"`}, {"logs", `[]`}, {"logs", `[null]`}, {"logs", `[{"address":"0x0000000000000000000000000000000000000001","topics":[],"data":"0x","transactionHash":"0x0000000000000000000000000000000000000000000000000000000000000001"}]`},
		{"logs", `[{"address":"0x0000000000000000000000000000000000000001","topics":null,"data":"0x","transactionHash":"0x0000000000000000000000000000000000000000000000000000000000000001"}]`},
		{"logs", `[{"address":"0x0000000000000000000000000000000000000001","topics":["0x01"],"data":"0x","transactionHash":"0x0000000000000000000000000000000000000000000000000000000000000001"}]`},
		{"logs", `[{"address":"0x0000000000000000000000000000000000000001","topics":[],"data":"0x","transactionHash":"0x0000000000000000000000000000000000000000000000000000000000000001","removed":"no"}]`},
		{"effectiveGasPrice", `""`}, {"effectiveGasPrice", `"0x1` + strings.Repeat("0", 64) + `"`}} {
		edit(kv[0]+"="+kv[1], func(c map[string]json.RawMessage) { c[kv[0]] = json.RawMessage(kv[1]) })
	}
	return out
}

// TestDecodeReceiptsMatchesGeth holds decodeReceipts to go-ethereum's
// decoding on real receipts (blocks 18,000,000 and 19,125,000) and on
// edits of them.
func TestDecodeReceiptsMatchesGeth(t *testing.T) {
	for _, f := range []string{"eth_getBlockReceipts/test_02.json", "eth_getBlockReceipts/test_09.json"} {
		for name, js := range receiptVariants(t, realResult(t, f)) {
			compareReceiptDecoders(t, f+": "+name, js)
		}
	}
	for _, js := range []string{`null`, `[]`, `[null]`, `{}`, `[{}]`, `[1]`} {
		compareReceiptDecoders(t, js, []byte(js))
	}
}

func FuzzDecodeReceipts(f *testing.F) {
	f.Add([]byte(`[{"status":"0x1","cumulativeGasUsed":"0x5208","logsBloom":"0x` + strings.Repeat("00", 256) + `","logs":[],"transactionHash":"0x` + strings.Repeat("11", 32) + `","gasUsed":"0x5208"}]`))
	f.Add([]byte(`[null]`))
	f.Fuzz(func(t *testing.T, js []byte) {
		compareReceiptDecoders(t, "fuzz", js)
	})
}

// blockIDs finds what the receipts are asked by, as encoding/json does.
func TestBlockIDs(t *testing.T) {
	block := realResult(t, "eth_getBlockByNumber/test_08.json")
	var want struct {
		Hash string `json:"hash"`
		Txs  []struct {
			Hash string `json:"hash"`
		} `json:"transactions"`
	}
	if err := json.Unmarshal(block, &want); err != nil {
		t.Fatal(err)
	}
	hash, txs, err := blockIDs(block)
	if err != nil {
		t.Fatal(err)
	}
	if hash != want.Hash || len(txs) != len(want.Txs) || len(txs) == 0 {
		t.Fatalf("got %s and %d transactions, want %s and %d", hash, len(txs), want.Hash, len(want.Txs))
	}
	for i := range txs {
		if txs[i] != want.Txs[i].Hash {
			t.Errorf("transaction %d: got %s, want %s", i, txs[i], want.Txs[i].Hash)
		}
	}
	for _, tc := range []struct{ in, hash string }{
		{`{"hash":null,"transactions":[{"hash":null,"x":1}]}`, ""},
		{`{"transactions":null,"hash":"0xab"}`, "0xab"},
	} {
		if h, _, err := blockIDs([]byte(tc.in)); err != nil || h != tc.hash {
			t.Errorf("%s: got %q, %v; want %q", tc.in, h, err, tc.hash)
		}
	}
}
