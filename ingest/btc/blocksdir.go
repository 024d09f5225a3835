package btc

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// BlocksDir serves the best chain of a Bitcoin Core blocks directory
// (blk*.dat, and xor.dat for Core 28+) by height, without a node.
//
// OpenBlocksDir reads only the record prefixes and 80-byte headers, in file
// order, and builds the header tree: Core writes blocks in the order they
// arrive, not by height, may write a block twice and keeps stale branches.
// The best chain ends at the block with the most cumulative work (ties go
// to the block seen first) among those that descend from the network's
// genesis block, or, when the genesis block is not in the directory, from a
// block whose parent is the genesis block (the chain then starts at height
// 1, and height 0 is served from the network parameters). Blocks whose
// ancestry does not reach that root are ignored and counted in Warnings.
//
// A truncated record at the end of the newest blk file (Core stopped
// mid-write, or a copy of a running node) is skipped with a warning: the
// blocks before it are served. Anything else wrong in a file fails
// OpenBlocksDir with an error naming the file and the offset.
//
// The index keeps 48 bytes per block (hash, parent, file, offset, place in
// the hash order) and 4 more per best-chain block: about 45 MB for
// mainnet's ~900k blocks. Building it needs about 75 bytes per block more
// (parent hashes, chain work) for the time of OpenBlocksDir. Methods are
// safe for concurrent use; each Block call opens the file it reads.
type BlocksDir struct {
	dir      string
	key      XORKey
	params   *chaincfg.Params
	files    []string
	entries  []dirEntry
	byHash   []int32 // entries with a distinct hash, sorted by hash
	chain    []int32 // best chain, by height - base
	base     int64   // height of chain[0]: 0 or 1
	warnings []string
}

var _ Source = (*BlocksDir)(nil)

type dirEntry struct {
	hash   chainhash.Hash
	parent int32  // entry of the parent, noParent or duplicate
	file   uint32 // index in files
	offset uint32 // Core caps blk files at 128 MiB
}

const (
	noParent  = -1
	duplicate = -2
)

// OpenBlocksDir indexes the blocks directory dir (Core's DATADIR/blocks).
func OpenBlocksDir(dir string) (*BlocksDir, error) {
	files, err := blockFiles(dir)
	if err != nil {
		return nil, err
	}
	key, err := ReadXORKey(dir)
	if err != nil {
		return nil, err
	}
	d := &BlocksDir{dir: dir, key: key, files: files}

	// What the tree needs only while it is built, kept apart from entries.
	var (
		prevs   []chainhash.Hash
		targets []uint32 // compact difficulty targets (nBits)
		net     wire.BitcoinNet
	)
	for fi, path := range files {
		fr, err := OpenBlockFile(path, key)
		if err != nil {
			return nil, err
		}
		for {
			rec, err := fr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				fr.Close()
				if errors.Is(err, ErrTruncatedRecord) && fi == len(files)-1 {
					d.warnings = append(d.warnings, fmt.Sprintf("ignored the truncated last record of the newest file: %v", err))
					break
				}
				return nil, err
			}
			if net == 0 {
				net = rec.Net
			} else if rec.Net != net {
				fr.Close()
				return nil, &RecordError{File: path, Offset: rec.Offset,
					Err: fmt.Errorf("%w: %08x, earlier files have %08x (blocks of two networks)", ErrBadMagic, magicBytes(rec.Net), magicBytes(net))}
			}
			if rec.Offset > math.MaxUint32 || len(d.entries) == math.MaxInt32 {
				fr.Close()
				return nil, &RecordError{File: path, Offset: rec.Offset, Err: errors.New("btc: block files this large are not supported")}
			}
			d.entries = append(d.entries, dirEntry{hash: rec.Hash(), file: uint32(fi), offset: uint32(rec.Offset)})
			prevs = append(prevs, rec.Prev())
			targets = append(targets, rec.Bits())
		}
		fr.Close()
	}
	if len(d.entries) == 0 {
		return nil, fmt.Errorf("btc: %s: the blk files hold no blocks", dir)
	}
	d.params = paramsForNet(net)
	if err := d.index(prevs, targets); err != nil {
		return nil, err
	}
	return d, nil
}

// blockFiles lists DIR/blk<n>.dat in numeric order.
func blockFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("btc: blocks directory: %w", err)
	}
	type file struct {
		n    uint64
		name string
	}
	var fs []file
	for _, e := range ents {
		name := e.Name()
		num, ok := strings.CutPrefix(name, "blk")
		if !ok || e.IsDir() {
			continue
		}
		num, ok = strings.CutSuffix(num, ".dat")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			continue
		}
		fs = append(fs, file{n, name})
	}
	if len(fs) == 0 {
		hint := ""
		if st, err := os.Stat(filepath.Join(dir, "blocks")); err == nil && st.IsDir() {
			hint = fmt.Sprintf(" (is it the data directory? the blocks are in %s)", filepath.Join(dir, "blocks"))
		}
		return nil, fmt.Errorf("btc: no blk*.dat files in %s%s", dir, hint)
	}
	slices.SortFunc(fs, func(a, b file) int { return cmp.Compare(a.n, b.n) })
	paths := make([]string, len(fs))
	for i, f := range fs {
		paths[i] = filepath.Join(dir, f.name)
	}
	return paths, nil
}

// index builds the header tree and picks the best chain.
func (d *BlocksDir) index(prevs []chainhash.Hash, targets []uint32) error {
	n := len(d.entries)
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := bytes.Compare(d.entries[a].hash[:], d.entries[b].hash[:]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	// Keep the first record of a block written more than once.
	d.byHash = order[:0]
	for k, i := range order {
		if k > 0 && d.entries[i].hash == d.entries[d.byHash[len(d.byHash)-1]].hash {
			d.entries[i].parent = duplicate
			continue
		}
		d.byHash = append(d.byHash, i)
	}
	d.byHash = slices.Clip(d.byHash)
	for i := range d.entries {
		if d.entries[i].parent == duplicate {
			continue
		}
		d.entries[i].parent = d.lookup(&prevs[i])
	}

	// Cumulative work and root of every block, parents first.
	var (
		work     = make([]uint256, n)
		root     = make([]int32, n)
		done     = make([]bool, n)
		stack    []int32
		workMemo = map[uint32]uint256{}
	)
	for i := range d.entries {
		if done[i] || d.entries[i].parent == duplicate {
			continue
		}
		for j := int32(i); ; {
			stack = append(stack, j)
			p := d.entries[j].parent
			if p < 0 || done[p] {
				break
			}
			if len(stack) > n {
				return fmt.Errorf("btc: %s: the block headers form a cycle", d.dir)
			}
			j = p
		}
		for k := len(stack) - 1; k >= 0; k-- {
			e := stack[k]
			w, ok := workMemo[targets[e]]
			if !ok {
				w = uint256FromBig(blockchain.CalcWork(targets[e]))
				workMemo[targets[e]] = w
			}
			if p := d.entries[e].parent; p >= 0 {
				work[e], root[e] = work[p].add(w), root[p]
			} else {
				work[e], root[e] = w, e
			}
			done[e] = true
		}
		stack = stack[:0]
	}

	genesis := *d.params.GenesisHash
	rootOK := func(r int32) bool { return d.entries[r].hash == genesis || prevs[r] == genesis }
	best, most := int32(-1), int32(-1)
	for i := range d.entries {
		e := int32(i)
		if d.entries[e].parent == duplicate {
			continue
		}
		if most < 0 || work[e].cmp(work[most]) > 0 {
			most = e
		}
		if rootOK(root[e]) && (best < 0 || work[e].cmp(work[best]) > 0) {
			best = e
		}
	}
	if best < 0 {
		r := root[most]
		return fmt.Errorf("btc: %s: no chain starts at the %s genesis block or its child: the chain with the most work starts at block %s, whose parent %s is not in the directory (pruned node or partial copy?)",
			d.dir, d.params.Name, d.entries[r].hash, prevs[r])
	}
	for e := best; e >= 0; e = d.entries[e].parent {
		d.chain = append(d.chain, e)
	}
	slices.Reverse(d.chain)
	if d.entries[d.chain[0]].hash != genesis {
		d.base = 1
	}
	var orphans int
	for i := range d.entries {
		if d.entries[i].parent != duplicate && !rootOK(root[i]) {
			orphans++
		}
	}
	if orphans > 0 {
		d.warnings = append(d.warnings, fmt.Sprintf("ignored %d blocks whose ancestors are not in the directory", orphans))
	}
	return nil
}

// lookup finds the entry of a block by hash, or returns noParent.
func (d *BlocksDir) lookup(h *chainhash.Hash) int32 {
	k, ok := slices.BinarySearchFunc(d.byHash, h, func(i int32, h *chainhash.Hash) int {
		return bytes.Compare(d.entries[i].hash[:], h[:])
	})
	if !ok {
		return noParent
	}
	return d.byHash[k]
}

// Params is the network of the directory, from its records' magic.
func (d *BlocksDir) Params() *chaincfg.Params { return d.params }

// Warnings lists what OpenBlocksDir tolerated: a truncated record at the
// end of the newest file, blocks whose ancestry is missing.
func (d *BlocksDir) Warnings() []string { return slices.Clone(d.warnings) }

// RootHeight is the first height BlockHash serves, which the Ingestor asks
// sources for: always 0, since a directory that starts at height 1 gets its
// genesis block from the network parameters.
func (d *BlocksDir) RootHeight() int64 { return 0 }

// BestHeight is the height of the best chain's tip.
func (d *BlocksDir) BestHeight(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return d.base + int64(len(d.chain)) - 1, nil
}

// BlockHash is the hash of the best-chain block at height.
func (d *BlocksDir) BlockHash(ctx context.Context, height int64) (chainhash.Hash, error) {
	if err := ctx.Err(); err != nil {
		return chainhash.Hash{}, err
	}
	if height == 0 && d.base == 1 {
		return *d.params.GenesisHash, nil
	}
	i := height - d.base
	if i < 0 || i >= int64(len(d.chain)) {
		return chainhash.Hash{}, fmt.Errorf("btc: %s: no block at height %d, the best chain has 0 to %d: %w",
			d.dir, height, d.base+int64(len(d.chain))-1, ErrBlockNotFound)
	}
	return d.entries[d.chain[i]].hash, nil
}

// Block reads the block with the given hash: any block of the directory,
// on the best chain or not.
func (d *BlocksDir) Block(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, error) {
	b, _, err := d.block(ctx, hash, false)
	return b, err
}

// blockHashed is Block with the transactions' hashes when it read the
// block from a file (nil for the genesis block of the params).
func (d *BlocksDir) blockHashed(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, *blockIDs, error) {
	return d.block(ctx, hash, true)
}

func (d *BlocksDir) block(ctx context.Context, hash chainhash.Hash, withIDs bool) (*wire.MsgBlock, *blockIDs, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	i := d.lookup(&hash)
	if i < 0 {
		if d.base == 1 && hash == *d.params.GenesisHash {
			b, err := copyBlock(d.params.GenesisBlock)
			return b, nil, err
		}
		return nil, nil, fmt.Errorf("btc: %s: block %s: %w", d.dir, hash, ErrBlockNotFound)
	}
	e := &d.entries[i]
	fr, err := OpenBlockFile(d.files[e.file], d.key)
	if err != nil {
		return nil, nil, err
	}
	defer fr.Close()
	b, ids, err := fr.readBlock(int64(e.offset), withIDs)
	if err != nil {
		return nil, nil, fmt.Errorf("btc: block %s: %w", hash, err)
	}
	if got := b.BlockHash(); got != hash {
		return nil, nil, fmt.Errorf("btc: %s at offset %d holds block %s, the index says %s (file changed since it was opened?)",
			d.files[e.file], e.offset, got, hash)
	}
	return b, ids, nil
}

// copyBlock deep-copies a block so callers cannot change shared params.
func copyBlock(b *wire.MsgBlock) (*wire.MsgBlock, error) {
	var buf bytes.Buffer
	if err := b.Serialize(&buf); err != nil {
		return nil, err
	}
	var c wire.MsgBlock
	if err := c.Deserialize(&buf); err != nil {
		return nil, err
	}
	return &c, nil
}

// uint256 is an unsigned 256-bit integer, most significant limb first:
// chain work without a big.Int per block. Sums saturate; real chains are
// far below 2^256 (mainnet is near 2^96).
type uint256 [4]uint64

func uint256FromBig(x *big.Int) uint256 {
	var u uint256
	if x.Sign() <= 0 {
		return u
	}
	if x.BitLen() > 256 {
		return uint256{math.MaxUint64, math.MaxUint64, math.MaxUint64, math.MaxUint64}
	}
	var b [32]byte
	x.FillBytes(b[:])
	for i := range u {
		u[i] = binary.BigEndian.Uint64(b[8*i:])
	}
	return u
}

func (a uint256) add(b uint256) uint256 {
	var s uint256
	var carry uint64
	for i := 3; i >= 0; i-- {
		s[i], carry = bits.Add64(a[i], b[i], carry)
	}
	if carry != 0 {
		return uint256{math.MaxUint64, math.MaxUint64, math.MaxUint64, math.MaxUint64}
	}
	return s
}

func (a uint256) cmp(b uint256) int {
	for i := range a {
		if c := cmp.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}
