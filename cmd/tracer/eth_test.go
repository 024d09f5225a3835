package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/internal/gethtest"
	"github.com/tracerproject/tracer/internal/realdata"
)

func TestInspectETHBlock(t *testing.T) {
	dir := filepath.Join(realdata.Dir(), "eth", "erigon-rpc-tests")
	block := filepath.Join(dir, "eth_getBlockByNumber", "test_08.json")
	receipts := filepath.Join(dir, "eth_getBlockReceipts", "test_02.json")
	if _, err := os.Stat(block); err != nil {
		t.Skipf("real Ethereum data not found at %s (set TRACER_REALDATA)", dir)
	}
	var got struct {
		Height    int64 `json:"height"`
		Transfers []struct {
			Kind  string `json:"kind"`
			Asset string `json:"asset"`
			Value string `json:"value"`
			Zero  bool   `json:"zero"`
		} `json:"transfers"`
	}
	out := ok(t, "inspect", "eth-block", block, "--receipts", receipts, "--tokens", "USDT", "--format", "json")
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	tokens, zero, native := 0, 0, 0
	for _, tr := range got.Transfers {
		switch tr.Kind {
		case "token":
			tokens++
			if tr.Zero != (tr.Value == "0") || tr.Asset != "0xdac17f958d2ee523a2206206994597c13d831ec7" {
				t.Errorf("transfer %+v", tr)
			}
			if tr.Zero {
				zero++
			}
		case "native":
			native++
		}
	}
	if got.Height != 18_000_000 || tokens != 45 || zero != 39 || native != 94 {
		t.Errorf("block %d: %d USDT transfers (%d zero-value), %d native; want 18000000, 45 (39), 94", got.Height, tokens, zero, native)
	}
	fails(t, "no receipts", []string{"inspect", "eth-block", block}, "no receipts", "--receipts")
	// One receipt short: the receipts no longer match the block.
	var rs struct {
		Response struct {
			Result []json.RawMessage `json:"result"`
		} `json:"response"`
	}
	raw, _ := os.ReadFile(receipts)
	var arr []json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil || json.Unmarshal(arr[0], &rs) != nil {
		t.Fatal("cannot read the receipts file")
	}
	short, _ := json.Marshal(rs.Response.Result[1:])
	bad := filepath.Join(t.TempDir(), "receipts.json")
	os.WriteFile(bad, short, 0o644)
	fails(t, "receipt missing", []string{"inspect", "eth-block", block, "--receipts", bad}, "93 receipts for 94 transactions")
}

func TestIngestETH(t *testing.T) {
	n := gethtest.Start(t, gethtest.Config{Accounts: 3})
	supply, _ := new(big.Int).SetString("1000000000000000000000000", 10)
	tokTx := n.Send(t, 0, nil, nil, gethtest.TokenCode(supply), 0)
	n.Commit()
	token := crypto.CreateAddress(n.Addrs[0], tokTx.Nonce())
	pay := n.Send(t, 0, &n.Addrs[1], big.NewInt(1_500_000_000_000_000_000), nil, 21000)
	tok := n.Send(t, 0, &token, nil, gethtest.TransferCall(n.Addrs[1], big.NewInt(2_500_000)), 0)
	n.Send(t, 0, &token, nil, gethtest.TransferCall(n.Addrs[1], big.NewInt(0)), 0)
	n.Commit()

	data := t.TempDir()
	d := []string{"--data", data, "--store", chserver.TempDatabase(t)}
	ok(t, append(d, "ingest", "eth", "--rpc", n.URL, "--tokens", token.Hex())...)
	var stats struct {
		Blocks    uint64 `json:"blocks"`
		Txs       uint64 `json:"txs"`
		Token     uint64 `json:"token_transfers"`
		ZeroValue uint64 `json:"zero_value"`
		TipHeight int64  `json:"tip_height"`
	}
	if err := json.Unmarshal([]byte(ok(t, append(d, "query", "stats", "--chain", "eth", "--format", "json")...)), &stats); err != nil {
		t.Fatal(err)
	}
	if stats.Blocks != 3 || stats.Txs != 4 || stats.Token != 2 || stats.ZeroValue != 1 || stats.TipHeight != 2 {
		t.Errorf("stats: got %+v, want 3 blocks, 4 txs, 2 token transfers, 1 zero-value token transfer, tip 2", stats)
	}
	both := ok(t, append(d, "query", "stats")...)
	if !strings.Contains(both, "btc") || !strings.Contains(both, "eth") {
		t.Errorf("query stats shows both chains, got:\n%s", both)
	}
	// The address in its EIP-55 form, and in upper case.
	cs, err := chain.ETHChecksum(n.Addrs[1].Hex())
	if err != nil {
		t.Fatal(err)
	}
	var addr struct {
		Address string `json:"address"`
		Assets  []struct {
			Asset    string `json:"asset"`
			Received string `json:"received"`
		} `json:"assets"`
	}
	for _, form := range []string{cs, "0x" + strings.ToUpper(cs[2:])} {
		if err := json.Unmarshal([]byte(ok(t, append(d, "query", "address", form, "--format", "json")...)), &addr); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, a := range addr.Assets {
			got[a.Asset] = a.Received
		}
		if addr.Address != strings.ToLower(cs) || got["ETH"] != "1500000000000000000" || got[strings.ToLower(token.Hex())] != "2500000" {
			t.Errorf("address %s: got %+v", form, addr)
		}
	}
	// A typo in a checksummed address is refused, not looked up.
	typo := cs[:41] + map[bool]string{true: "0", false: "1"}[cs[41] != '0']
	if strings.EqualFold(typo, cs) {
		t.Fatal("no typo made")
	}
	bad := []byte(cs)
	for i := 2; i < len(bad); i++ {
		if c := bad[i]; c >= 'a' && c <= 'f' {
			bad[i] = c - 'a' + 'A'
			break
		} else if c >= 'A' && c <= 'F' {
			bad[i] = c - 'A' + 'a'
			break
		}
	}
	fails(t, "bad checksum", append(d, "query", "address", string(bad)), "EIP-55")
	out := ok(t, append(d, "query", "tx", tok.Hash().Hex())...)
	if !strings.Contains(out, "2500000") || !strings.Contains(out, "token") {
		t.Errorf("query tx %s:\n%s", tok.Hash().Hex(), out)
	}
	out = ok(t, append(d, "query", "tx", pay.Hash().Hex())...)
	if !strings.Contains(out, "1.500000000000000000 ETH") {
		t.Errorf("query tx %s:\n%s", pay.Hash().Hex(), out)
	}
	// A second run resumes: nothing new, nothing doubled.
	ok(t, append(d, "ingest", "eth", "--rpc", n.URL, "--tokens", token.Hex())...)
	if err := json.Unmarshal([]byte(ok(t, append(d, "query", "stats", "--chain", "eth", "--format", "json")...)), &stats); err != nil {
		t.Fatal(err)
	}
	if stats.Blocks != 3 || stats.Token != 2 {
		t.Errorf("after a second run: %+v", stats)
	}
	fails(t, "no node", append(d, "ingest", "eth"), "--rpc")
	fails(t, "bad confirmations", append(d, "ingest", "eth", "--rpc", n.URL, "--confirmations", "x"), "finalized")
	fails(t, "bad senders", append(d, "ingest", "eth", "--rpc", n.URL, "--senders", "trust"), `"trust"`, "recover", "node")
}

// simulate eth → ingest eth --blocks-dir → query: the store agrees with
// the planted ground truth.
func TestSimulateETH(t *testing.T) {
	sim := t.TempDir()
	ok(t, "simulate", "eth", "--out", sim, "--blocks", "12", "--txs-per-block", "30", "--token-transfers-per-block", "40")
	raw, err := os.ReadFile(filepath.Join(sim, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var truth struct {
		Actors []struct{ Name, Role, Address string }
		Flows  []struct{ Kind, Asset, From, To, Value string }
	}
	if err := json.Unmarshal(raw, &truth); err != nil {
		t.Fatal(err)
	}
	broker := truth.Actors[0]
	if broker.Role != "precursor-broker" {
		t.Fatalf("first actor %+v, want a broker", broker)
	}
	recv, sent := new(big.Int), new(big.Int)
	poison := 0
	for _, f := range truth.Flows {
		v, _ := new(big.Int).SetString(f.Value, 10)
		switch {
		case f.Kind == "purchase" && f.To == broker.Address:
			recv.Add(recv, v)
		case f.Kind == "cash-out" && f.From == broker.Address:
			sent.Add(sent, v)
		case f.Kind == "poisoning" && f.From == broker.Address:
			poison++
		}
	}
	d := []string{"--data", t.TempDir(), "--store", chserver.TempDatabase(t)}
	ok(t, append(d, "ingest", "eth", "--blocks-dir", sim)...)
	// Senders taken from the node's "from" give the same store.
	dn := []string{"--data", t.TempDir(), "--store", chserver.TempDatabase(t)}
	ok(t, append(dn, "ingest", "eth", "--blocks-dir", sim, "--senders", "node")...)
	for _, q := range [][]string{{"query", "address", broker.Address, "--format", "json"}, {"query", "stats", "--chain", "eth", "--format", "json"}} {
		if got, want := ok(t, append(dn, q...)...), ok(t, append(d, q...)...); got != want {
			t.Errorf("%s with --senders node:\n%s\nwith recovered senders:\n%s", q[:2], got, want)
		}
	}
	var addr struct {
		Assets []struct {
			Asset, Received, Sent string
			ZeroValue             int `json:"zero_value"`
		}
	}
	if err := json.Unmarshal([]byte(ok(t, append(d, "query", "address", broker.Address, "--format", "json")...)), &addr); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range addr.Assets {
		if a.Asset == "0xdac17f958d2ee523a2206206994597c13d831ec7" {
			found = true
			if a.Received != recv.String() || a.Sent != sent.String() || a.ZeroValue != poison {
				t.Errorf("broker USDT: got received %s sent %s zero-value %d; truth %s %s %d", a.Received, a.Sent, a.ZeroValue, recv, sent, poison)
			}
		}
	}
	if !found || recv.Sign() == 0 {
		t.Errorf("no USDT for the broker (truth: received %s): %+v", recv, addr)
	}
}

// `tracer run` with eth.rpc set follows the Ethereum node: a block mined
// while it runs reaches the store.
func TestRunFollowsETH(t *testing.T) {
	n := gethtest.Start(t, gethtest.Config{Accounts: 2})
	n.Send(t, 0, &n.Addrs[1], big.NewInt(12345), nil, 21000)
	n.Commit()
	dsn := chserver.TempDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tracerBinary(t), "--data", t.TempDir(), "--store", dsn, "run")
	cmd.Env = append(cliEnv(t), "TRACER_ETH_RPC="+n.URL, "TRACER_ETH_POLL_INTERVAL=100ms", "TRACER_CLUSTER_ENABLED=false")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	q := []string{"--data", t.TempDir(), "--store", dsn, "query", "stats", "--chain", "eth", "--format", "json"}
	waitTip := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			var s struct {
				TipHeight int64 `json:"tip_height"`
			}
			r := tracer(t, nil, q...)
			if r.code == 0 && json.Unmarshal([]byte(r.stdout), &s) == nil && s.TipHeight >= want {
				return
			}
		}
		t.Fatalf("the store never reached height %d; run's stderr:\n%s", want, stderr.String())
	}
	waitTip(1)
	n.Send(t, 1, &n.Addrs[0], big.NewInt(1), nil, 21000)
	n.Commit()
	waitTip(2)
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run after SIGINT: %v\n%s", err, stderr.String())
	}
}
