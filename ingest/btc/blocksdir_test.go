package btc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/tracerproject/tracer/chain"
)

// testChains are the real blocks the directory tests arrange: mainnet
// heights 0 to 255, and btcd's test chain, which forks off the genesis
// block (its blocks 1 to 4, and a branch 3A-4A-5A off its block 2).
type testChains struct {
	mainnet [][]byte // index = height
	fork    [][]byte // btcd's blocks 1..4
	side    [][]byte // 3A, 4A, 5A
}

func loadChains(t testing.TB) testChains {
	t.Helper()
	blk04 := btcdRecords(t, btcdBlk0to4)
	c := testChains{mainnet: append([][]byte{blk04[0]}, btcdRecords(t, btcdBlocks256)...), fork: blk04[1:]}
	for _, f := range []string{btcdBlk3A, btcdBlk4A, btcdBlk5A} {
		c.side = append(c.side, btcdRecords(t, f)[0])
	}
	return c
}

func hashes(raws ...[]byte) []chainhash.Hash {
	out := make([]chainhash.Hash, len(raws))
	for i, r := range raws {
		out[i] = blockHash(r)
	}
	return out
}

// checkChain checks the directory serves exactly want by height from base.
func checkChain(t *testing.T, d *BlocksDir, base int64, want []chainhash.Hash) {
	t.Helper()
	ctx := context.Background()
	best, err := d.BestHeight(ctx)
	if err != nil || best != base+int64(len(want))-1 {
		t.Fatalf("best height: got %d, %v; want %d", best, err, base+int64(len(want))-1)
	}
	for i, w := range want {
		h := base + int64(i)
		got, err := d.BlockHash(ctx, h)
		if err != nil || got != w {
			t.Fatalf("height %d: got %s, %v; want %s", h, got, err, w)
		}
	}
	if _, err := d.BlockHash(ctx, best+1); !errors.Is(err, ErrBlockNotFound) {
		t.Errorf("height %d past the tip: got %v, want ErrBlockNotFound", best+1, err)
	}
}

// TestBlocksDirMainnet lays out mainnet blocks 0-255 and btcd's forked test
// chain as Core could: shuffled over three files, obfuscated, a block
// written twice, preallocation padding, and a truncated record at the end
// of the newest file. It then ingests the best chain through ChainState.
func TestBlocksDirMainnet(t *testing.T) {
	c := loadChains(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var all [][]byte
	all = append(all, c.mainnet...)
	all = append(all, c.fork...)
	all = append(all, c.side...)
	all = append(all, c.mainnet[170]) // written twice
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	third := len(all) / 3
	truncated := framed(c.mainnet[200])
	truncated = truncated[:len(truncated)/2]
	dir := writeBlocksDir(t, testKey,
		blkFile{data: framed(all[:third]...), pad: 1 << 16},
		blkFile{data: framed(all[third : 2*third]...), pad: 12345},
		blkFile{data: append(framed(all[2*third:]...), truncated...)},
	)
	start := time.Now()
	d, err := OpenBlocksDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("indexed %d records in %s", len(all), time.Since(start))
	if d.Params() != &chaincfg.MainNetParams {
		t.Errorf("params: got %s, want mainnet", d.Params().Name)
	}
	checkChain(t, d, 0, hashes(c.mainnet...))
	if w := d.Warnings(); len(w) != 1 || !strings.Contains(w[0], "truncated") || !strings.Contains(w[0], "blk00002.dat") {
		t.Errorf("warnings: got %q, want one about the truncated record of blk00002.dat", w)
	}

	ctx := context.Background()
	// Blocks off the best chain are still there by hash.
	for _, raw := range append(c.fork, c.side...) {
		b, err := d.Block(ctx, blockHash(raw))
		if err != nil || b.BlockHash() != blockHash(raw) {
			t.Errorf("side block %s: got %v", blockHash(raw), err)
		}
	}
	if _, err := d.Block(ctx, chainhash.Hash{1}); !errors.Is(err, ErrBlockNotFound) {
		t.Errorf("unknown hash: got %v, want ErrBlockNotFound", err)
	}

	state, err := OpenChainState(t.TempDir(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer state.Close()
	var total int64
	var txs int
	for h := int64(0); h <= 255; h++ {
		hash, err := d.BlockHash(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := d.Block(ctx, hash)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(serialize(t, mb), c.mainnet[h]) {
			t.Fatalf("height %d: block read back differs from the original", h)
		}
		if err := CheckMerkle(mb); err != nil {
			t.Fatal(err)
		}
		b, err := Normalize(mb, h, d.Params(), state)
		if err != nil {
			t.Fatalf("height %d: %v", h, err)
		}
		if _, err := state.Connect(b, false); err != nil {
			t.Fatalf("height %d: %v", h, err)
		}
		txs += len(b.Txs)
		for _, tx := range b.Txs {
			total += tx.OutputValue()
		}
		if h == 170 {
			in := b.Txs[1].Inputs[0]
			if in.Address != "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S" || in.Value != 50_0000_0000 || in.ScriptType != chain.ScriptP2PK {
				t.Errorf("block 170: Satoshi's spend resolved through the chain state: got %+v", in)
			}
		}
	}
	if want := int64(256*50_0000_0000 + 179_0000_0000); txs != 263 || total != want {
		t.Errorf("best chain: got %d txs paying %d, want 263 paying %d", txs, total, want)
	}
}

func serialize(t testing.TB, b *wire.MsgBlock) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := b.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestBlocksDirBestChain picks between btcd's branches: 0-1-2-3-4 and
// 0-1-2-3A-4A-5A, all at the same difficulty.
func TestBlocksDirBestChain(t *testing.T) {
	c := loadChains(t)
	g := c.mainnet[0]
	b1, b2, b3, b4 := c.fork[0], c.fork[1], c.fork[2], c.fork[3]
	a3, a4, a5 := c.side[0], c.side[1], c.side[2]
	tests := []struct {
		name  string
		files [][][]byte
		want  [][]byte
	}{
		{"longer side branch wins", [][][]byte{{g, b1, b2, b3, b4}, {a3, a4, a5}}, [][]byte{g, b1, b2, a3, a4, a5}},
		{"children before parents", [][][]byte{{a5, b4, a4}, {b3, a3, b2, b1, g}}, [][]byte{g, b1, b2, a3, a4, a5}},
		{"side branch shorter", [][][]byte{{g, b1, b2, b3, b4, a3}}, [][]byte{g, b1, b2, b3, b4}},
		{"tie: first seen wins", [][][]byte{{g, b1, b2}, {b3}, {a3}}, [][]byte{g, b1, b2, b3}},
		{"tie: first seen wins, other order", [][][]byte{{g, b1, b2, a3}, {b3}}, [][]byte{g, b1, b2, a3}},
		{"branch completed by a later file", [][][]byte{{g, a4}, {b1, b2, b3}, {a3}}, [][]byte{g, b1, b2, a3, a4}},
		{"orphans ignored", [][][]byte{{g, b1, a4, a5}}, [][]byte{g, b1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var files []blkFile
			for _, f := range tc.files {
				files = append(files, blkFile{data: framed(f...), pad: 100})
			}
			d, err := OpenBlocksDir(writeBlocksDir(t, XORKey{}, files...))
			if err != nil {
				t.Fatal(err)
			}
			checkChain(t, d, 0, hashes(tc.want...))
		})
	}
}

// TestBlocksDirFileOrder checks files are read in numeric order: Core's
// names have five digits until blk99999.dat, then six.
func TestBlocksDirFileOrder(t *testing.T) {
	c := loadChains(t)
	dir := t.TempDir()
	writeBlkFile(t, filepath.Join(dir, "blk00007.dat"), XORKey{}, blkFile{data: framed(c.mainnet[0], c.fork[0], c.fork[1])})
	writeBlkFile(t, filepath.Join(dir, "blk99999.dat"), XORKey{}, blkFile{data: framed(c.fork[2])})  // b3, seen first
	writeBlkFile(t, filepath.Join(dir, "blk100000.dat"), XORKey{}, blkFile{data: framed(c.side[0])}) // a3, ties with b3
	os.WriteFile(filepath.Join(dir, "rev00000.dat"), []byte("undo data is not read"), 0o644)
	os.WriteFile(filepath.Join(dir, "blk00001.dat.bak"), []byte("not a blk file"), 0o644)
	d, err := OpenBlocksDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkChain(t, d, 0, hashes(c.mainnet[0], c.fork[0], c.fork[1], c.fork[2]))
}

func TestBlocksDirOrphanWarning(t *testing.T) {
	c := loadChains(t)
	d, err := OpenBlocksDir(writeBlocksDir(t, testKey, blkFile{data: framed(c.mainnet[0], c.mainnet[1], c.side[1], c.side[2])}))
	if err != nil {
		t.Fatal(err)
	}
	if w := d.Warnings(); len(w) != 1 || !strings.Contains(w[0], "ignored 2 blocks") {
		t.Errorf("got warnings %q, want one about 2 ignored blocks", w)
	}
}

// TestBlocksDirFromHeightOne reads btcd's blocks1-256 file alone: the chain
// starts at height 1 and the genesis block comes from the parameters.
func TestBlocksDirFromHeightOne(t *testing.T) {
	c := loadChains(t)
	dir := writeBlocksDir(t, XORKey{}, blkFile{data: readData(t, btcdFile(t, btcdBlocks256))})
	d, err := OpenBlocksDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkChain(t, d, 0, hashes(c.mainnet...))
	if d.RootHeight() != 0 {
		t.Errorf("root height: got %d, want 0 (genesis from the parameters)", d.RootHeight())
	}
	g, err := d.Block(context.Background(), *chaincfg.MainNetParams.GenesisHash)
	if err != nil || !bytes.Equal(serialize(t, g), c.mainnet[0]) {
		t.Errorf("genesis from the parameters: got %v, want the real genesis block", err)
	}
	g.Transactions[0].TxOut[0].Value = 1
	if chaincfg.MainNetParams.GenesisBlock.Transactions[0].TxOut[0].Value != 50_0000_0000 {
		t.Error("changing the returned genesis block changed the chain parameters")
	}
}

func TestBlocksDirErrors(t *testing.T) {
	c := loadChains(t)
	truncated := framed(c.mainnet[3])
	truncated = truncated[:100]
	dataDir := t.TempDir()
	os.Mkdir(filepath.Join(dataDir, "blocks"), 0o755)
	tests := []struct {
		name string
		dir  string
		says []string
	}{
		{"no genesis nor its child", writeBlocksDir(t, testKey, blkFile{data: framed(c.mainnet[100:]...)}),
			[]string{"no chain starts at the mainnet genesis block or its child", blockHash(c.mainnet[100]).String(), blockHash(c.mainnet[99]).String()}},
		{"truncated record in an older file", writeBlocksDir(t, testKey, blkFile{data: append(framed(c.mainnet[:3]...), truncated...)}, blkFile{data: framed(c.mainnet[3:]...)}),
			[]string{"blk00000.dat at offset", fmt.Sprint(len(framed(c.mainnet[:3]...))), "truncated"}},
		{"two networks", writeBlocksDir(t, XORKey{}, blkFile{data: framed(c.mainnet[:3]...)}, blkFile{data: frame(wire.TestNet3, c.mainnet[3])}),
			[]string{"blk00001.dat at offset 0", "two networks"}},
		{"no blk files", t.TempDir(), []string{"no blk*.dat files"}},
		{"data directory instead of blocks", dataDir, []string{"the blocks are in " + filepath.Join(dataDir, "blocks")}},
		{"only padding", writeBlocksDir(t, testKey, blkFile{pad: 4096}), []string{"hold no blocks"}},
		{"missing directory", filepath.Join(t.TempDir(), "nope"), []string{"no such file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenBlocksDir(tc.dir)
			if err == nil {
				t.Fatalf("got no error, want one saying %q", tc.says)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("got %q, want it to say %q", err, s)
				}
			}
		})
	}
}

// TestBlocksDirNetworks detects the network from each genesis block
// written with its network's magic.
func TestBlocksDirNetworks(t *testing.T) {
	if SigNet != chaincfg.SigNetParams.Net {
		t.Errorf("SigNet: got %08x, want btcd's %08x", uint32(SigNet), uint32(chaincfg.SigNetParams.Net))
	}
	if got := TestNet4Params.GenesisHash.String(); got != "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043" {
		t.Errorf("testnet4 genesis: got %s, want Core's 00000000da84...f043", got)
	}
	if got := TestNet4Params.GenesisBlock.Header.MerkleRoot.String(); got != "7aa0a7ae1e223414cb807e40cd57e667b718e42aaf9306db9102fe28912b7b4e" {
		t.Errorf("testnet4 genesis merkle root: got %s", got)
	}
	for _, p := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params, &TestNet4Params, &chaincfg.SigNetParams, &chaincfg.RegressionNetParams} {
		t.Run(p.Name, func(t *testing.T) {
			raw := serialize(t, p.GenesisBlock)
			if blockHash(raw) != *p.GenesisHash {
				t.Fatalf("genesis block hashes to %s, params say %s", blockHash(raw), p.GenesisHash)
			}
			d, err := OpenBlocksDir(writeBlocksDir(t, testKey, blkFile{data: frame(p.Net, raw), pad: 8}))
			if err != nil {
				t.Fatal(err)
			}
			if d.Params() != p {
				t.Errorf("got %s, want %s", d.Params().Name, p.Name)
			}
			checkChain(t, d, 0, []chainhash.Hash{*p.GenesisHash})
		})
	}
}

func TestBlocksDirContext(t *testing.T) {
	c := loadChains(t)
	d, err := OpenBlocksDir(writeBlocksDir(t, XORKey{}, blkFile{data: framed(c.mainnet[:3]...)}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.BestHeight(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("BestHeight: got %v, want context.Canceled", err)
	}
	if _, err := d.BlockHash(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("BlockHash: got %v, want context.Canceled", err)
	}
	if _, err := d.Block(ctx, blockHash(c.mainnet[0])); !errors.Is(err, context.Canceled) {
		t.Errorf("Block: got %v, want context.Canceled", err)
	}
}

// TestBlocksDir14131 reads btcd's blk_0_to_14131.dat, a real blk file of
// 14132 mainnet blocks that ends in Core's zero preallocation (16 MiB in
// all). Only btcd's module has it.
func TestBlocksDir14131(t *testing.T) {
	dir := btcdModuleDir()
	if dir == "" {
		t.Skip("btcd's module not found (go list -m github.com/btcsuite/btcd): blk_0_to_14131.dat is only there")
	}
	src := filepath.Join(dir, filepath.FromSlash(btcd14131))
	if _, err := os.Stat(src); err != nil {
		t.Skipf("btcd test file: %v", err)
	}
	blocks := t.TempDir()
	if err := os.Symlink(src, filepath.Join(blocks, "blk00000.dat")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d, err := OpenBlocksDir(blocks)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("indexed 14132 blocks in %s", time.Since(start))
	c := loadChains(t)
	ctx := context.Background()
	if best, _ := d.BestHeight(ctx); best != 14131 {
		t.Fatalf("best height: got %d, want 14131", best)
	}
	for h, raw := range c.mainnet {
		if got, err := d.BlockHash(ctx, int64(h)); err != nil || got != blockHash(raw) {
			t.Fatalf("height %d: got %s, %v; want %s", h, got, err, blockHash(raw))
		}
	}
	tip, _ := d.BlockHash(ctx, 14131)
	mb, err := d.Block(ctx, tip)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckMerkle(mb); err != nil {
		t.Fatal(err)
	}
	if len(d.Warnings()) != 0 {
		t.Errorf("warnings: got %q, want none", d.Warnings())
	}
}
