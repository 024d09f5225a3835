package btc

import (
	"bytes"
	"compress/bzip2"
	"context"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/tracerproject/tracer/internal/realdata"
)

// Real mainnet data for the tests comes from two places, never copied into
// the project: btcd's module testdata (found with `go list -m`), and the
// shared real-data directory ($TRACER_REALDATA, default ../shared/realdata from the module root)
// which also holds byte-identical copies of btcd's files in btc/btcd/.
// Tests skip, saying what is missing, when neither has a file.

const (
	btcdBlk0to4   = "blockchain/testdata/blk_0_to_4.dat.bz2" // genesis + btcd's 4-block test chain
	btcdBlk3A     = "blockchain/testdata/blk_3A.dat.bz2"     // side branch off blk_0_to_4's block 2
	btcdBlk4A     = "blockchain/testdata/blk_4A.dat.bz2"
	btcdBlk5A     = "blockchain/testdata/blk_5A.dat.bz2"
	btcdBlocks256 = "database/testdata/blocks1-256.bz2" // mainnet heights 1..255, framed
	btcd277647    = "blockchain/testdata/277647.dat.bz2"
	btcd14131     = "blockchain/testdata/blk_0_to_14131.dat" // only in the module: 16 MiB with Core's zero padding
	btcd574200    = "wire/testdata/block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk"
	btcd540107    = "wire/testdata/block-00000000000000000021868c2cefc52a480d173c849412fe81c4e5ab806f94ab.blk"
)

var btcdModuleDir = sync.OnceValue(func() string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/btcsuite/btcd").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
})

func realDataDir() string { return realdata.Dir() }

// findBtcdFile is the path of a file of btcd's testdata, from the module
// cache or the real-data copy.
func findBtcdFile(rel string) (string, bool) {
	if dir := btcdModuleDir(); dir != "" {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	p := filepath.Join(realDataDir(), "btc", "btcd", filepath.Base(rel))
	if _, err := os.Stat(p); err == nil {
		return p, true
	}
	return "", false
}

// btcdFile is findBtcdFile, skipping the test when the file is nowhere.
func btcdFile(t testing.TB, rel string) string {
	t.Helper()
	p, ok := findBtcdFile(rel)
	if !ok {
		t.Skipf("btcd test data %s not found: neither in btcd's module (go list -m github.com/btcsuite/btcd) nor in %s",
			rel, filepath.Join(realDataDir(), "btc", "btcd"))
	}
	return p
}

// realDataFile is the path of a file of the shared real-data directory.
func realDataFile(t testing.TB, rel string) string {
	t.Helper()
	return realdata.Path(t, rel)
}

// readData reads a test data file, decompressing .bz2.
func readData(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".bz2") {
		r = bzip2.NewReader(f)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return b
}

// records splits blk-framed data into its raw blocks, up to the end or to
// zero padding.
func records(t testing.TB, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(data) > 0 && !(len(data) >= 4 && binary.LittleEndian.Uint32(data) == 0) {
		if len(data) < 8 {
			t.Fatalf("framed test data: %d stray bytes", len(data))
		}
		n := int(binary.LittleEndian.Uint32(data[4:8]))
		out = append(out, data[8:8+n])
		data = data[8+n:]
	}
	return out
}

// btcdRecords reads the raw blocks of a framed btcd test file.
func btcdRecords(t testing.TB, rel string) [][]byte {
	t.Helper()
	return records(t, readData(t, btcdFile(t, rel)))
}

// seedBlocks returns the raw blocks of a btcd test file for fuzz seeds,
// or nothing when it is not available: a fuzz target still runs without.
func seedBlocks(f *testing.F, rel string) [][]byte {
	f.Helper()
	p, ok := findBtcdFile(rel)
	if !ok {
		return nil
	}
	data := readData(f, p)
	if strings.HasSuffix(rel, ".blk") {
		return [][]byte{data}
	}
	return records(f, data)
}

// frame prefixes a raw block with a network magic and its size.
func frame(net wire.BitcoinNet, block []byte) []byte {
	out := binary.LittleEndian.AppendUint32(nil, uint32(net))
	out = binary.LittleEndian.AppendUint32(out, uint32(len(block)))
	return append(out, block...)
}

// decode decodes a raw block.
func decode(t testing.TB, raw []byte) *wire.MsgBlock {
	t.Helper()
	var b wire.MsgBlock
	if err := b.Deserialize(bytes.NewReader(raw)); err != nil {
		t.Fatalf("decoding test block: %v", err)
	}
	return &b
}

// realBlock is one of the real raw blocks with facts about it checked by
// an independent parser: hash, transaction count, serialized size, first
// and last txid, number of inputs and outputs, sum of output values, sum of
// transaction vsizes, and inputs spending an output of the same block.
type realBlock struct {
	name         string
	raw          func(t testing.TB) []byte
	hash         string
	txs          int
	size         int
	firstTxid    string
	lastTxid     string
	inputs       int
	outputs      int
	outputValue  int64
	vsize        int
	intraSpends  int
	coinbaseOuts int64
	// badMerkle: the transactions do not hash to the header's merkle root.
	badMerkle bool
}

var realBlocks = []realBlock{
	{
		name: "277647", raw: func(t testing.TB) []byte { return btcdRecords(t, btcd277647)[0] },
		hash: "0000000000000000054a714e580b16c583701712ab91060e92dbde6eb1e052a8", txs: 213, size: 149164,
		firstTxid: "0fc1f998e6fc1fa43a879cea4a54fe9947e02b925ebc46237a2406c50e0f07ea",
		lastTxid:  "19808b177b72ec2e7043bb5ac468b7e6e90085853d1c5051788d522a11223ce6",
		inputs:    733, outputs: 769, outputValue: 177966312176, vsize: 149083, intraSpends: 62, coinbaseOuts: 2504737355,
	},
	{
		name: "574200", raw: func(t testing.TB) []byte { return readData(t, btcdFile(t, btcd574200)) },
		hash: "0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2", txs: 3315, size: 1245250,
		firstTxid: "57233bf44b82ef3662479e5c80f71ba00c1ae82e8c9739213841f27a2f3d0d79",
		lastTxid:  "901ca7595f7ed1deaeb59d83fd98ff0999f1a7caa6533c51ac7a0def312682ea",
		inputs:    5055, outputs: 8150, outputValue: 1168464839990, vsize: 998898, intraSpends: 971, coinbaseOuts: 1300076961,
	},
	{
		name: "540107", raw: func(t testing.TB) []byte { return readData(t, btcdFile(t, btcd540107)) },
		hash: "00000000000000000021868c2cefc52a480d173c849412fe81c4e5ab806f94ab", txs: 230, size: 2259447,
		firstTxid: "5301a7831d21d8395e511ba4786ddcd71b630148bd6bb902f4b1c71b7df563ed",
		lastTxid:  "9c97cf68319da27bb6a54be63c6eb2f2a8d85eba408b4da2fda0abb7a12754e5",
		inputs:    7033, outputs: 472, outputValue: 54447454297, vsize: 998304, intraSpends: 35, coinbaseOuts: 1254491058,
	},
	{
		name: "413567", raw: func(t testing.TB) []byte { return readData(t, realDataFile(t, "btc/block413567.raw")) },
		hash: "0000000000000000025aff8be8a55df8f89c77296db6198f272d6577325d4069", txs: 1557, size: 999887,
		firstTxid: "5b4aaef3f4e4625d70385ddf0bd2a0b7d7141e4c2fd36d2ff2cad37fff3deb0f",
		lastTxid:  "63434bb06525615f43954598d281d03feaae70658c4187ccb3ba7fa7b093a0b8",
		inputs:    4887, outputs: 3581, outputValue: 914705170223, vsize: 999804, intraSpends: 287, coinbaseOuts: 2531310238,
		// This copy (from a fork of Core, see the real-data README) does not
		// match its header: its transactions hash to 54aa6d9c...deb0a3, the
		// header says 64a50c64...7dce05 (checked with an independent Python
		// parser). The coinbase does carry height 413567.
		badMerkle: true,
	},
}
