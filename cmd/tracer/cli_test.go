package main

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/internal/realdata"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/store"
)

// These tests run the tracer binary as a user would, on its embedded
// defaults: NATS in the process and chDB as the store.

type cliResult struct {
	stdout, stderr string
	code           int
}

// cliEnv is the environment of the tracer processes: the test's, without
// TRACER_* settings that would change what the commands do, with the chDB
// library and an embedded NATS on a free port.
func cliEnv(t *testing.T) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRACER_") && !strings.HasPrefix(kv, "CHDB_LIB_PATH=") {
			env = append(env, kv)
		}
	}
	return append(env, "CHDB_LIB_PATH="+chdbLib(t), "TRACER_NATS_LISTEN=127.0.0.1:0", "TRACER_LOG_LEVEL=warn")
}

// chdbLib is $CHDB_LIB_PATH, or the library `make libchdb` puts in the
// module's .cache/chdb; without either the test is skipped.
func chdbLib(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHDB_LIB_PATH"); p != "" {
		return p
	}
	if root, err := filepath.Abs("../.."); err == nil {
		p := filepath.Join(root, ".cache", "chdb", "libchdb.so")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("no libchdb.so for the embedded store: run `make libchdb` or set CHDB_LIB_PATH")
	return ""
}

// tracer runs the binary with args (stdin may be nil) and returns what it
// printed and its exit code.
func tracer(t *testing.T, stdin []byte, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tracerBinary(t), args...)
	cmd.Env = cliEnv(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	start := time.Now()
	err := cmd.Run()
	r := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("tracer %s: still running after 2m\nstderr:\n%s", strings.Join(args, " "), r.stderr)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("tracer %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("tracer %s: exit %d after %v", strings.Join(args, " "), r.code, time.Since(start).Round(time.Millisecond))
	return r
}

// ok runs the binary and fails the test unless it succeeds.
func ok(t *testing.T, args ...string) string {
	t.Helper()
	r := tracer(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("tracer %s: exit %d, want 0\nstderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// fails runs the binary and checks that it fails with a message on stderr
// holding every part.
func fails(t *testing.T, name string, args []string, parts ...string) {
	t.Helper()
	r := tracer(t, nil, args...)
	if r.code == 0 {
		t.Errorf("%s: tracer %s: exit 0, want failure\nstdout:\n%s", name, strings.Join(args, " "), r.stdout)
		return
	}
	msg := lastLine(r.stderr)
	t.Logf("%s: %s", name, msg)
	if !strings.HasPrefix(msg, "tracer: ") {
		t.Errorf("%s: last line of stderr %q, want the error as \"tracer: ...\"", name, msg)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("%s: got message %q, want it to mention %q", name, msg, p)
		}
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// blkRecord is a block of a blk file and the offset of its record.
type blkRecord struct {
	file   string
	offset int64
	block  *wire.MsgBlock
}

// readBlkRecords reads every record of a blocks directory itself (not with
// ingest/btc): the xor.dat key, then per file magic, size and block up to
// the zero padding, which Core writes without the key.
func readBlkRecords(t *testing.T, dir string, net wire.BitcoinNet) []blkRecord {
	t.Helper()
	key, err := os.ReadFile(filepath.Join(dir, "xor.dat"))
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, 8)
	} else if err != nil || len(key) != 8 {
		t.Fatalf("xor.dat: %d bytes, %v", len(key), err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "blk*.dat"))
	slices.Sort(files)
	var recs []blkRecord
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		unxor := func(off, n int) []byte {
			b := slices.Clone(data[off : off+n])
			for i := range b {
				b[i] ^= key[(off+i)%8]
			}
			return b
		}
		for off := 0; off+8 <= len(data) && binary.LittleEndian.Uint32(data[off:]) != 0; {
			hdr := unxor(off, 8)
			if got := wire.BitcoinNet(binary.LittleEndian.Uint32(hdr)); got != net {
				t.Fatalf("%s at %d: magic %08x, want %08x", f, off, uint32(got), uint32(net))
			}
			size := int(binary.LittleEndian.Uint32(hdr[4:]))
			var b wire.MsgBlock
			if err := b.Deserialize(bytes.NewReader(unxor(off+8, size))); err != nil {
				t.Fatalf("%s at %d: %v", f, off, err)
			}
			recs = append(recs, blkRecord{file: f, offset: int64(off), block: &b})
			off += 8 + size
		}
	}
	return recs
}

// bestChain orders the records' blocks from genesis by following parents:
// the simulator, like Core, writes some neighbours out of order.
func bestChain(t *testing.T, recs []blkRecord, genesis chainhash.Hash) []*wire.MsgBlock {
	t.Helper()
	byParent := map[chainhash.Hash]*wire.MsgBlock{}
	var chain []*wire.MsgBlock
	for _, r := range recs {
		if r.block.BlockHash() == genesis {
			chain = append(chain, r.block)
			continue
		}
		if _, dup := byParent[r.block.Header.PrevBlock]; dup {
			t.Fatalf("two blocks on parent %s: the simulator wrote a fork", r.block.Header.PrevBlock)
		}
		byParent[r.block.Header.PrevBlock] = r.block
	}
	if len(chain) != 1 {
		t.Fatalf("genesis %s found %d times", genesis, len(chain))
	}
	for {
		next, ok := byParent[chain[len(chain)-1].BlockHash()]
		if !ok {
			break
		}
		chain = append(chain, next)
	}
	if len(chain) != len(recs) {
		t.Fatalf("best chain has %d of the %d blocks", len(chain), len(recs))
	}
	return chain
}

// chainFrom is the length of the chain from genesis that recs hold.
func chainFrom(recs []blkRecord, genesis chainhash.Hash) int {
	byParent := map[chainhash.Hash]chainhash.Hash{}
	for _, r := range recs {
		byParent[r.block.Header.PrevBlock] = r.block.BlockHash()
	}
	n := 0
	for h, ok := genesis, slices.ContainsFunc(recs, func(r blkRecord) bool { return r.block.BlockHash() == genesis }); ok; h, ok = byParent[h] {
		n++
	}
	return n
}

// outputAddress is the address the store gives an output script, by the
// rules in ingest/btc's package documentation, worked out with txscript.
func outputAddress(t *testing.T, pkScript []byte, params *chaincfg.Params) string {
	class, addrs, _, err := txscript.ExtractPkScriptAddrs(pkScript, params)
	switch {
	case class == txscript.NullDataTy:
		return ""
	case err == nil && class == txscript.PubKeyTy && len(addrs) == 1:
		return addrs[0].(*btcutil.AddressPubKey).AddressPubKeyHash().EncodeAddress()
	case err == nil && len(addrs) == 1 && class != txscript.MultiSigTy:
		return addrs[0].EncodeAddress()
	}
	sum := sha256.Sum256(pkScript)
	return "s-" + hex.EncodeToString(sum[:])
}

func btcString(sat int64) string { return fmt.Sprintf("%d.%08d BTC", sat/1e8, sat%1e8) }

type outRef struct {
	addr  string
	value int64
}

// chainFacts is what the store must say about a chain, from its blocks.
type chainFacts struct {
	stats store.Stats
	outs  map[wire.OutPoint]outRef
	txs   map[chainhash.Hash]*wire.MsgTx
	addr  map[string]*store.AddressSummary
	addrT map[string]map[chainhash.Hash]bool // txs touching an address
}

func factsOf(t *testing.T, chain []*wire.MsgBlock, params *chaincfg.Params) *chainFacts {
	t.Helper()
	f := &chainFacts{
		outs: map[wire.OutPoint]outRef{}, txs: map[chainhash.Hash]*wire.MsgTx{},
		addr: map[string]*store.AddressSummary{}, addrT: map[string]map[chainhash.Hash]bool{},
	}
	f.stats.Blocks = uint64(len(chain))
	f.stats.TipHeight = int64(len(chain) - 1)
	f.stats.TipHash = chain[len(chain)-1].BlockHash().String()
	touch := func(a string, txid chainhash.Hash, when time.Time) *store.AddressSummary {
		s := f.addr[a]
		if s == nil {
			s = &store.AddressSummary{Address: a, FirstSeen: when}
			f.addr[a] = s
			f.addrT[a] = map[chainhash.Hash]bool{}
		}
		s.LastSeen = when
		f.addrT[a][txid] = true
		return s
	}
	for _, b := range chain {
		when := b.Header.Timestamp.UTC()
		for i, tx := range b.Transactions {
			txid := tx.TxHash()
			f.txs[txid] = tx
			f.stats.Txs++
			f.stats.Inputs += uint64(len(tx.TxIn))
			f.stats.Outputs += uint64(len(tx.TxOut))
			if i > 0 {
				for _, in := range tx.TxIn {
					prev, ok := f.outs[in.PreviousOutPoint]
					if !ok {
						t.Fatalf("%s spends %v, which is not on the chain before it", txid, in.PreviousOutPoint)
					}
					if prev.addr != "" {
						s := touch(prev.addr, txid, when)
						s.Sent += prev.value
						s.Inputs++
					}
				}
			}
			for n, o := range tx.TxOut {
				a := outputAddress(t, o.PkScript, params)
				f.outs[wire.OutPoint{Hash: txid, Index: uint32(n)}] = outRef{a, o.Value}
				if a != "" {
					s := touch(a, txid, when)
					s.Received += o.Value
					s.Outputs++
				}
			}
		}
	}
	f.stats.Addresses = uint64(len(f.addr))
	for a, s := range f.addr {
		s.Balance = s.Received - s.Sent
		s.TxCount = uint64(len(f.addrT[a]))
	}
	return f
}

// TestCLIIngestAndQuery simulates a chain, ingests its blocks directory with
// the binary and checks what the query commands say against the blocks.
func TestCLIIngestAndQuery(t *testing.T) {
	dir := t.TempDir()
	blocks, data := filepath.Join(dir, "blocks"), filepath.Join(dir, "data")
	params := &chaincfg.RegressionNetParams

	ok(t, "simulate", "btc", "--blocks", "20", "--out", blocks, "--xor")
	if _, err := os.Stat(filepath.Join(blocks, "xor.dat")); err != nil {
		t.Fatalf("simulate --xor wrote no xor.dat: %v", err)
	}
	recs := readBlkRecords(t, blocks, params.Net)
	best := bestChain(t, recs, *params.GenesisHash)
	facts := factsOf(t, best, params)
	raw, err := os.ReadFile(filepath.Join(blocks, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var truth simulate.Truth
	if err := json.Unmarshal(raw, &truth); err != nil {
		t.Fatalf("truth.json: %v", err)
	}
	if truth.Blocks != 20 || truth.Tip != facts.stats.TipHash || truth.Txs != int64(facts.stats.Txs) {
		t.Fatalf("truth.json says %d blocks, tip %s, %d txs; the blocks say %d, %s, %d",
			truth.Blocks, truth.Tip, truth.Txs, facts.stats.Blocks, facts.stats.TipHash, facts.stats.Txs)
	}

	ok(t, "--data", data, "ingest", "btc", "--blocks-dir", blocks)

	t.Run("stats", func(t *testing.T) {
		var got store.Stats
		if err := json.Unmarshal([]byte(ok(t, "--data", data, "query", "stats", "--chain", "btc", "--format", "json")), &got); err != nil {
			t.Fatalf("stats JSON: %v", err)
		}
		want := facts.stats
		want.Chain, want.Engine = chain.BTC, got.Engine
		if got != want {
			t.Errorf("stats:\ngot  %+v\nwant %+v", got, want)
		}
		if !strings.HasPrefix(got.Engine, "chdb") {
			t.Errorf("engine: got %q, want embedded chdb", got.Engine)
		}
	})

	t.Run("store optimize", func(t *testing.T) {
		var res []store.OptimizeResult
		if err := json.Unmarshal([]byte(ok(t, "--data", data, "store", "optimize", "--format", "json")), &res); err != nil {
			t.Fatalf("store optimize JSON: %v", err)
		}
		merged := 0
		for _, r := range res {
			if r.PartsAfter > 1 {
				t.Errorf("%s: %d parts after optimizing", r.Table, r.PartsAfter)
			}
			if r.PartsBefore > 1 {
				merged++
			}
		}
		// (Background merges may have merged the parts of so small a
		// store already; the store's tests check the merging itself.)
		if len(res) != len(store.LookupTableNames()) {
			t.Errorf("optimized %d tables, want the %d tables read by key", len(res), len(store.LookupTableNames()))
		}
		t.Logf("%d tables had several parts", merged)
		// The store says what it said before.
		var got store.Stats
		if err := json.Unmarshal([]byte(ok(t, "--data", data, "query", "stats", "--chain", "btc", "--format", "json")), &got); err != nil {
			t.Fatal(err)
		}
		if want := facts.stats; got.Txs != want.Txs || got.Outputs != want.Outputs || got.Inputs != want.Inputs || got.Addresses != want.Addresses {
			t.Errorf("stats after optimizing: %+v, want %+v", got, want)
		}
		// --rewrite rewrites tables of one part too.
		res = nil
		if err := json.Unmarshal([]byte(ok(t, "--data", data, "store", "optimize", "--tables", "btc_spends", "--rewrite", "--format", "json")), &res); err != nil {
			t.Fatalf("store optimize --rewrite JSON: %v", err)
		}
		if len(res) != 1 || res[0].SkippedSingle || res[0].PartsBefore != 1 || res[0].PartsAfter != 1 {
			t.Errorf("store optimize --rewrite of btc_spends: %+v, want its one part rewritten", res)
		}
		fails(t, "unknown table", []string{"--data", data, "store", "optimize", "--tables", "btc_outputs,nope"}, `"nope" is not a table`)
	})

	t.Run("address", func(t *testing.T) {
		// The broker address that received the most outputs.
		var addr string
		for _, e := range truth.Entities {
			if e.Kind != simulate.KindBroker {
				continue
			}
			for _, a := range e.Addresses {
				if s := facts.addr[a]; s != nil && (addr == "" || s.Outputs > facts.addr[addr].Outputs) {
					addr = a
				}
			}
		}
		if addr == "" {
			t.Fatal("no broker address of truth.json received anything on the chain")
		}
		var got store.AddressSummary
		if err := json.Unmarshal([]byte(ok(t, "--data", data, "query", "address", addr, "--format", "json")), &got); err != nil {
			t.Fatalf("address JSON: %v", err)
		}
		want := *facts.addr[addr]
		want.Chain = chain.BTC
		got.FirstSeen, got.LastSeen = got.FirstSeen.UTC(), got.LastSeen.UTC()
		if got != want {
			t.Errorf("address %s:\ngot  %+v\nwant %+v", addr, got, want)
		}
	})

	t.Run("tx", func(t *testing.T) {
		if len(truth.Flows) == 0 {
			t.Fatal("truth.json has no planted flows")
		}
		txid := truth.Flows[0].Txid
		h, err := chainhash.NewHashFromStr(txid)
		if err != nil {
			t.Fatal(err)
		}
		tx := facts.txs[*h]
		if tx == nil {
			t.Fatalf("planted tx %s is not on the chain", txid)
		}
		out := ok(t, "--data", data, "query", "tx", txid)
		var inValue, outValue int64
		for _, in := range tx.TxIn {
			prev := facts.outs[in.PreviousOutPoint]
			inValue += prev.value
			if row := fmt.Sprintf("%s:%d  %s", in.PreviousOutPoint.Hash, in.PreviousOutPoint.Index, prev.addr); !strings.Contains(out, row) {
				t.Errorf("tx %s: no input row with %q in\n%s", txid, row, out)
			}
		}
		// Who spends each output, from the chain itself.
		spentBy := map[wire.OutPoint]string{}
		for id, mtx := range facts.txs {
			for i, in := range mtx.TxIn {
				spentBy[in.PreviousOutPoint] = fmt.Sprintf("%s:%d", id, i)
			}
		}
		for n, o := range tx.TxOut {
			outValue += o.Value
			op := wire.OutPoint{Hash: *h, Index: uint32(n)}
			spender := spentBy[op]
			if spender == "" {
				spender = "unspent"
			}
			row := fmt.Sprintf("%d %s * %s %s", n, facts.outs[op].addr, btcString(o.Value), spender)
			if !containsRow(out, row) {
				t.Errorf("tx %s: no output row %q in\n%s", txid, row, out)
			}
		}
		for _, want := range []string{
			"txid          " + txid,
			fmt.Sprintf("inputs (%d, %s)", len(tx.TxIn), btcString(inValue)),
			fmt.Sprintf("outputs (%d, %s)", len(tx.TxOut), btcString(outValue)),
			"fee           " + btcString(inValue-outValue),
		} {
			if !strings.Contains(out, want) {
				t.Errorf("tx %s: output lacks %q:\n%s", txid, want, out)
			}
		}
	})

	t.Run("bad input", func(t *testing.T) {
		d := []string{"--data", data}
		fails(t, "not an address", append(d, "query", "address", "notanaddress"),
			`"notanaddress" is not a Bitcoin address`)
		fails(t, "bad checksum", append(d, "query", "address", "bcrt1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"),
			`is not a Bitcoin address`)
		unused, err := btcutil.NewAddressWitnessPubKeyHash(make([]byte, 20), params)
		if err != nil {
			t.Fatal(err)
		}
		fails(t, "unknown address", append(d, "query", "address", unused.EncodeAddress()),
			"address "+unused.EncodeAddress()+" not found")
		txid := truth.Flows[0].Txid
		fails(t, "63-digit txid", append(d, "query", "tx", txid[:63]),
			txid[:63], "is not a transaction id (64 hex digits)")
		fails(t, "non-hex txid", append(d, "query", "tx", strings.Repeat("g", 64)),
			"is not a transaction id (64 hex digits)")
		fails(t, "unknown txid", append(d, "query", "tx", strings.Repeat("ab", 32)),
			"transaction "+strings.Repeat("ab", 32)+" not found")
		fails(t, "bad format", append(d, "query", "stats", "--format", "xml"), "xml")
		fails(t, "missing blocks dir", append(d, "ingest", "btc", "--blocks-dir", "/nonexistent"),
			"blocks directory", "/nonexistent", "no such file or directory")
		fails(t, "no source", append(d, "ingest", "btc"), "--rpc", "--blocks-dir")
		fails(t, "both sources", append(d, "ingest", "btc", "--blocks-dir", blocks, "--rpc", "127.0.0.1:1"), "--rpc", "--blocks-dir")
	})

	t.Run("truncated blk file", func(t *testing.T) {
		// blk00000.dat ends inside the record of the 6th block it holds;
		// blk00001.dat after it is Core's preallocated, unused space.
		trunc := filepath.Join(dir, "truncated")
		if err := os.MkdirAll(trunc, 0o755); err != nil {
			t.Fatal(err)
		}
		cut := recs[5]
		src, err := os.ReadFile(filepath.Join(blocks, "blk00000.dat"))
		if err != nil {
			t.Fatal(err)
		}
		key, _ := os.ReadFile(filepath.Join(blocks, "xor.dat"))
		for name, b := range map[string][]byte{
			"blk00000.dat": src[:cut.offset+8+40], // magic, size and half a header
			"blk00001.dat": make([]byte, 4096),
			"xor.dat":      key,
		} {
			if err := os.WriteFile(filepath.Join(trunc, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		fails(t, "truncated", []string{"--data", filepath.Join(dir, "data-truncated"), "ingest", "btc", "--blocks-dir", trunc},
			filepath.Join(trunc, "blk00000.dat"), fmt.Sprintf("offset %d", cut.offset), "truncated")

		// In the newest file the same cut is what Core leaves when it is
		// stopped while writing: the blocks before it are ingested, with
		// a warning.
		if err := os.Remove(filepath.Join(trunc, "blk00001.dat")); err != nil {
			t.Fatal(err)
		}
		tdata := filepath.Join(dir, "data-truncated-newest")
		r := tracer(t, nil, "--data", tdata, "ingest", "btc", "--blocks-dir", trunc)
		if r.code != 0 {
			t.Fatalf("ingest of a blocks directory whose newest file is truncated: exit %d\nstderr:\n%s", r.code, r.stderr)
		}
		for _, want := range []string{"truncated", filepath.Join(trunc, "blk00000.dat"), fmt.Sprintf("offset %d", cut.offset)} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("ingest of a truncated newest file: stderr does not mention %q:\n%s", want, r.stderr)
			}
		}
		var got store.Stats
		if err := json.Unmarshal([]byte(ok(t, "--data", tdata, "query", "stats", "--chain", "btc", "--format", "json")), &got); err != nil {
			t.Fatalf("stats JSON: %v", err)
		}
		t.Logf("truncated newest file: %d blocks stored; stderr:\n%s", got.Blocks, r.stderr)
		if want := chainFrom(recs[:5], *params.GenesisHash); got.Blocks != uint64(want) || got.TipHeight != int64(want-1) {
			t.Errorf("after the truncated newest file: got %d blocks, tip %d, want %d blocks before the cut", got.Blocks, got.TipHeight, want)
		}
	})

	t.Run("data directory in use", func(t *testing.T) {
		// `run` without a node runs the loader until stopped, holding the
		// data directory. It says so once the loader is up.
		cmd := exec.Command(tracerBinary(t), "--data", data, "run")
		cmd.Env = cliEnv(t)
		pr, pw := io.Pipe()
		cmd.Stderr = pw
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder // read after exited
		up := make(chan struct{})
		scanned := make(chan struct{})
		go func() {
			defer close(scanned)
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				stderr.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), "only the consumers run") {
					close(up)
				}
			}
		}()
		exited := make(chan error, 1)
		go func() {
			err := cmd.Wait()
			pw.Close()
			<-scanned
			exited <- err
		}()
		stopped := false
		stop := func() {
			if stopped {
				return
			}
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("tracer run: %v after SIGTERM\nstderr:\n%s", err, stderr.String())
				}
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-exited
				t.Errorf("tracer run: still running 30s after SIGTERM, killed")
			}
		}
		defer stop()
		select {
		case <-up:
		case err := <-exited:
			stopped = true
			t.Fatalf("tracer run exited: %v\nstderr:\n%s", err, stderr.String())
		case <-time.After(30 * time.Second):
			t.Fatal("tracer run: loader not running within 30s")
		}
		pid := strconv.Itoa(cmd.Process.Pid)
		if owner, _ := os.ReadFile(filepath.Join(data, "LOCK")); strings.TrimSpace(string(owner)) != pid {
			t.Fatalf("LOCK holds %q, want the pid of tracer run, %s", owner, pid)
		}
		fails(t, "second process", []string{"--data", data, "query", "stats"},
			"data directory in use", data, "pid "+pid)
		stop()
		// The lock goes with the process.
		ok(t, "--data", data, "query", "stats")
	})
}

// containsRow reports whether a line of out has row's words, whatever
// the padding between them; "*" in row matches any word.
func containsRow(out, row string) bool {
	want := strings.Fields(row)
	for _, line := range strings.Split(out, "\n") {
		if slices.EqualFunc(strings.Fields(line), want, func(got, w string) bool { return w == "*" || got == w }) {
			return true
		}
	}
	return false
}

// btcdTestBlock is mainnet block 277647 from btcd's testdata: a blk-file
// record (magic, size, block), bzip2-compressed.
const btcdTestBlock = "blockchain/testdata/277647.dat.bz2"

// findBtcdTestBlock looks in btcd's module, then in the shared real-data
// copy ($TRACER_REALDATA/btc/btcd).
func findBtcdTestBlock(t *testing.T) string {
	t.Helper()
	var tried []string
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/btcsuite/btcd").Output()
	if dir := strings.TrimSpace(string(out)); err == nil && dir != "" {
		p := filepath.Join(dir, filepath.FromSlash(btcdTestBlock))
		if _, err := os.Stat(p); err == nil {
			return p
		}
		tried = append(tried, p)
	}
	p := filepath.Join(realdata.Dir(), "btc", "btcd", filepath.Base(btcdTestBlock))
	if _, err := os.Stat(p); err == nil {
		return p
	}
	t.Skipf("mainnet block 277647 not found (tried %s and %s)", strings.Join(tried, ", "), p)
	return ""
}

// TestCLIInspectBlock decodes a real mainnet block given as binary, framed
// binary, hex and hex on stdin: the JSON must be the same and match the
// block.
func TestCLIInspectBlock(t *testing.T) {
	f, err := os.Open(findBtcdTestBlock(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	framed, err := io.ReadAll(bzip2.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	if len(framed) < 8 || wire.BitcoinNet(binary.LittleEndian.Uint32(framed)) != wire.MainNet ||
		int(binary.LittleEndian.Uint32(framed[4:])) != len(framed)-8 {
		t.Fatalf("%s: not one mainnet blk record", btcdTestBlock)
	}
	raw := framed[8:]
	var mb wire.MsgBlock
	if err := mb.Deserialize(bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	const wantHash = "0000000000000000054a714e580b16c583701712ab91060e92dbde6eb1e052a8"
	if mb.BlockHash().String() != wantHash || len(mb.Transactions) != 213 {
		t.Fatalf("%s: block %s with %d txs, want %s with 213", btcdTestBlock, mb.BlockHash(), len(mb.Transactions), wantHash)
	}

	dir := t.TempDir()
	hexText := []byte(hex.EncodeToString(raw) + "\n")
	files := map[string][]byte{
		"block.bin": raw, "framed.bin": framed, "block.hex": hexText,
		"half.hex": []byte(hex.EncodeToString(raw[:len(raw)/2])),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inspect := func(name string, stdin []byte, args ...string) string {
		t.Helper()
		r := tracer(t, stdin, append([]string{"--data", filepath.Join(dir, "data"), "inspect", "btc-block", "--format", "json"}, args...)...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\nstderr:\n%s", name, r.code, r.stderr)
		}
		return r.stdout
	}
	ref := inspect("binary", nil, filepath.Join(dir, "block.bin"))
	for name, got := range map[string]string{
		"framed binary": inspect("framed binary", nil, filepath.Join(dir, "framed.bin")),
		"hex":           inspect("hex", nil, filepath.Join(dir, "block.hex")),
		"hex on stdin":  inspect("hex on stdin", hexText, "-"),
	} {
		if got != ref {
			t.Errorf("%s: JSON differs from the binary block's", name)
		}
	}
	var b chain.Block
	if err := json.Unmarshal([]byte(ref), &b); err != nil {
		t.Fatalf("inspect JSON: %v", err)
	}
	if b.Hash != wantHash || b.Height != 277647 || b.Size != len(raw) || len(b.Txs) != len(mb.Transactions) {
		t.Errorf("inspect: got block %s height %d size %d with %d txs, want %s height 277647 size %d with %d",
			b.Hash, b.Height, b.Size, len(b.Txs), wantHash, len(raw), len(mb.Transactions))
	}
	for i, tx := range mb.Transactions {
		if i < len(b.Txs) && (b.Txs[i].Txid != tx.TxHash().String() || len(b.Txs[i].Outputs) != len(tx.TxOut) || len(b.Txs[i].Inputs) != len(tx.TxIn)) {
			t.Errorf("inspect: tx %d is %s with %d inputs and %d outputs, want %s with %d and %d",
				i, b.Txs[i].Txid, len(b.Txs[i].Inputs), len(b.Txs[i].Outputs), tx.TxHash(), len(tx.TxIn), len(tx.TxOut))
		}
	}

	// testnet4 is one of the networks --network lists.
	inspect("testnet4", nil, "--network", "testnet4", filepath.Join(dir, "block.bin"))
	fails(t, "unknown network", []string{"inspect", "btc-block", "--network", "testnet5", filepath.Join(dir, "block.bin")},
		`--network "testnet5"`, "testnet4")
	fails(t, "empty stdin", []string{"inspect", "btc-block", "-"}, "standard input", "empty input")
	fails(t, "half a block", []string{"inspect", "btc-block", filepath.Join(dir, "half.hex")},
		filepath.Join(dir, "half.hex"), fmt.Sprintf("%d bytes", len(raw)/2), "unexpected EOF")
}
