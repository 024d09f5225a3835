package simulate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

func writeDir(t *testing.T, cfg Config, xor bool, maxFile int64) string {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := writeBlocksDir(g, dir, xor, maxFile); err != nil {
		t.Fatalf("writing blocks dir: %v", err)
	}
	return dir
}

func blkFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "blk*.dat"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no blk files in %s: %v", dir, err)
	}
	return files
}

type record struct {
	file   int
	offset int64
	block  *wire.MsgBlock
}

// readRecords parses the records of the blk files in order, un-XORing them
// with key, and checks that each file ends in nothing but zeros.
func readRecords(t *testing.T, dir string, key []byte, magic uint32) []record {
	t.Helper()
	var recs []record
	for n, path := range blkFiles(t, dir) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		data := append([]byte(nil), raw...)
		if len(key) == 8 {
			for i := range data {
				data[i] ^= key[i%8]
			}
		}
		var off int64
		for off+8 <= int64(len(data)) {
			if binary.LittleEndian.Uint32(raw[off:]) == 0 {
				// Preallocated space: zeros on disk, not obfuscated.
				if bytes.ContainsFunc(raw[off:], func(r rune) bool { return r != 0 }) {
					t.Fatalf("%s: data after the zeros at %d", path, off)
				}
				break
			}
			if got := binary.LittleEndian.Uint32(data[off:]); got != magic {
				t.Fatalf("%s at %d: magic %08x, want %08x", path, off, got, magic)
			}
			size := int64(binary.LittleEndian.Uint32(data[off+4:]))
			blk := new(wire.MsgBlock)
			if err := blk.Deserialize(bytes.NewReader(data[off+8 : off+8+size])); err != nil {
				t.Fatalf("%s at %d: %v", path, off, err)
			}
			recs = append(recs, record{file: n, offset: off, block: blk})
			off += 8 + size
		}
	}
	return recs
}

// TestWriteBlocksDir checks the layout readers of Core's directory expect:
// the magic and size framing, files capped in size, the newest padded with
// zeros, and blocks that only come in height order by following the headers.
func TestWriteBlocksDir(t *testing.T) {
	cfg := smallConfig()
	const maxFile = 300 << 10
	dir := writeDir(t, cfg, false, maxFile)
	want, _ := generate(t, cfg)

	files := blkFiles(t, dir)
	if len(files) < 3 {
		t.Fatalf("got %d blk files, want several at a %d-byte cap", len(files), maxFile)
	}
	for i, f := range files {
		if want := fmt.Sprintf("blk%05d.dat", i); filepath.Base(f) != want {
			t.Errorf("file %d: got %s, want %s", i, filepath.Base(f), want)
		}
	}
	// On disk the regtest magic reads fa bf b5 da.
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte{0xfa, 0xbf, 0xb5, 0xda}) {
		t.Errorf("blk00000.dat starts %x, want the regtest magic fabfb5da", raw[:4])
	}
	if fi, _ := os.Stat(files[len(files)-1]); fi.Size()%blockFileChunk != 0 {
		t.Errorf("newest file is %d bytes, want a multiple of the %d-byte preallocation chunk", fi.Size(), blockFileChunk)
	}

	recs := readRecords(t, dir, nil, uint32(cfg.Params.Net))
	if len(recs) != cfg.Blocks {
		t.Fatalf("got %d records, want %d", len(recs), cfg.Blocks)
	}
	byParent := make(map[chainhash.Hash]*wire.MsgBlock)
	outOfOrder := 0
	last := make(map[int]int64) // data end of each file
	for i, r := range recs {
		byParent[r.block.Header.PrevBlock] = r.block
		if i > 0 && r.block.Header.PrevBlock != recs[i-1].block.BlockHash() {
			outOfOrder++
		}
		last[r.file] = r.offset
	}
	for f, off := range last {
		if off >= maxFile {
			t.Errorf("file %d has a record at %d, past the cap", f, off)
		}
	}
	if outOfOrder == 0 {
		t.Error("every block follows its parent on disk; want some out of order")
	}
	if recs[0].block.BlockHash() != *cfg.Params.GenesisHash {
		t.Error("the first record is not the genesis block")
	}
	// Following the headers from genesis gives the chain Next makes.
	hash := *cfg.Params.GenesisHash
	for h := 1; h < len(want); h++ {
		blk, ok := byParent[hash]
		if !ok {
			t.Fatalf("no child of %s at height %d", hash, h)
		}
		if blk.BlockHash() != want[h].BlockHash() {
			t.Fatalf("height %d: got %s, want %s", h, blk.BlockHash(), want[h].BlockHash())
		}
		hash = blk.BlockHash()
	}

	truth, err := ReadTruthFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	if truth.Tip != hash.String() || len(truth.Flows) == 0 {
		t.Errorf("truth.json: tip %s with %d flows, want tip %s and flows", truth.Tip, len(truth.Flows), hash)
	}
}

// TestXOR checks Core 28+ obfuscation: the files written with xor are the
// plain ones XORed with xor.dat from offset 0 of each file, the zeros of the
// preallocated tail aside.
func TestXOR(t *testing.T) {
	cfg := smallConfig()
	cfg.Blocks = 30
	plain := writeDir(t, cfg, false, 200<<10)
	obf := writeDir(t, cfg, true, 200<<10)
	key, err := os.ReadFile(filepath.Join(obf, "xor.dat"))
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != 8 || bytes.Equal(key, make([]byte, 8)) {
		t.Fatalf("xor.dat holds %x, want 8 bytes, not all zero", key)
	}
	if _, err := os.Stat(filepath.Join(plain, "xor.dat")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("xor.dat without xor: got %v, want none", err)
	}
	pf, of := blkFiles(t, plain), blkFiles(t, obf)
	if len(pf) != len(of) || len(pf) < 2 {
		t.Fatalf("got %d plain and %d obfuscated files, want the same number, several", len(pf), len(of))
	}
	for i := range pf {
		p, _ := os.ReadFile(pf[i])
		o, _ := os.ReadFile(of[i])
		if len(p) != len(o) {
			t.Fatalf("%s: %d bytes plain, %d obfuscated", filepath.Base(pf[i]), len(p), len(o))
		}
		if bytes.Equal(p[:8], o[:8]) {
			t.Errorf("%s: obfuscated file starts like the plain one", filepath.Base(pf[i]))
		}
		for j := range p {
			if o[j] != p[j]^key[j%8] && !(p[j] == 0 && o[j] == 0) {
				t.Fatalf("%s byte %d: got %02x, want %02x ^ %02x", filepath.Base(pf[i]), j, o[j], p[j], key[j%8])
			}
		}
	}
	if got, want := len(readRecords(t, obf, key, uint32(cfg.Params.Net))), cfg.Blocks; got != want {
		t.Errorf("decoded %d blocks from the obfuscated files, want %d", got, want)
	}
}

// TestDeterminism writes the same Config twice: the same bytes, file by file.
func TestDeterminism(t *testing.T) {
	cfg := smallConfig()
	cfg.Blocks = 40
	a := writeDir(t, cfg, true, MaxBlockFileSize)
	b := writeDir(t, cfg, true, MaxBlockFileSize)
	names := func(dir string) []string {
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, e := range es {
			n = append(n, e.Name())
		}
		return n
	}
	na, nb := names(a), names(b)
	if len(na) != len(nb) || len(na) < 3 {
		t.Fatalf("got files %v and %v", na, nb)
	}
	for i, name := range na {
		if nb[i] != name {
			t.Fatalf("got files %v and %v", na, nb)
		}
		fa, _ := os.ReadFile(filepath.Join(a, name))
		fb, _ := os.ReadFile(filepath.Join(b, name))
		if !bytes.Equal(fa, fb) {
			t.Errorf("%s differs between two runs with seed %d", name, cfg.Seed)
		}
	}

	cfg.Seed++
	c := writeDir(t, cfg, true, MaxBlockFileSize)
	fa, _ := os.ReadFile(filepath.Join(a, "blk00000.dat"))
	fc, _ := os.ReadFile(filepath.Join(c, "blk00000.dat"))
	if bytes.Equal(fa, fc) {
		t.Error("another seed wrote the same blocks")
	}
}

func TestWriteBlocksDirErrors(t *testing.T) {
	cfg := smallConfig()
	cfg.Blocks = 3

	g, _ := New(cfg)
	if _, err := g.Next(); err != nil {
		t.Fatal(err)
	}
	if err := WriteBlocksDir(g, t.TempDir(), false); !errors.Is(err, ErrStarted) {
		t.Errorf("started generator: got %v, want ErrStarted", err)
	}

	endless := cfg
	endless.Blocks = 0
	g, _ = New(endless)
	if err := WriteBlocksDir(g, t.TempDir(), false); !errors.Is(err, ErrNoLimit) {
		t.Errorf("no block limit: got %v, want ErrNoLimit", err)
	}

	dir := t.TempDir()
	g, _ = New(cfg)
	if err := WriteBlocksDir(g, dir, false); err != nil {
		t.Fatal(err)
	}
	g, _ = New(cfg)
	if err := WriteBlocksDir(g, dir, false); !errors.Is(err, ErrDirNotFree) {
		t.Errorf("directory with blk files: got %v, want ErrDirNotFree", err)
	}
}
