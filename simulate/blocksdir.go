package simulate

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/btcsuite/btcd/wire"
)

// Layout of Bitcoin Core's blocks directory.
const (
	// MaxBlockFileSize is where Core starts a new blk file
	// (MAX_BLOCKFILE_SIZE).
	MaxBlockFileSize = 128 << 20
	// blockFileChunk is the unit in which Core preallocates blk files
	// (BLOCKFILE_CHUNK_SIZE); the newest file ends in zeros up to it.
	blockFileChunk = 16 << 20
)

// Errors of WriteBlocksDir.
var (
	ErrNoLimit    = errors.New("simulate: Config.Blocks is 0: no end to write")
	ErrStarted    = errors.New("simulate: the generator has already made blocks")
	ErrDirNotFree = errors.New("simulate: directory already holds blk files")
)

// WriteBlocksDir runs g to the end and writes what Bitcoin Core would keep
// in DATADIR/blocks: blk00000.dat, blk00001.dat, ... of at most
// MaxBlockFileSize, each block a record of the network magic, its size
// (both little-endian uint32) and the block. Like Core, which stores blocks
// as they arrive, it writes some neighbours in swapped order, so readers must
// follow the header chain; and the newest file ends in zeros, the unused rest
// of Core's preallocated chunk.
//
// With xor, it writes xor.dat with an 8-byte key (from the seed) and XORs byte
// i of every blk file with key[i%8], as Core 28+ does. DIR/truth.json gets
// g's Truth.
func WriteBlocksDir(g *Generator, dir string, xor bool) error {
	return writeBlocksDir(g, dir, xor, MaxBlockFileSize)
}

func writeBlocksDir(g *Generator, dir string, xor bool, maxFile int64) error {
	if g.cfg.Blocks == 0 {
		return ErrNoLimit
	}
	if g.next != 0 {
		return fmt.Errorf("%w: %d", ErrStarted, g.next)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	if old, _ := filepath.Glob(filepath.Join(dir, "blk*.dat")); len(old) > 0 {
		return fmt.Errorf("%w: %s", ErrDirNotFree, dir)
	}
	// The writer's own randomness, so that writing leaves the chain alone.
	rng := rand.New(rand.NewPCG(uint64(g.cfg.Seed), 0x626c6b2d66696c65))
	w := &blkWriter{dir: dir, max: maxFile, net: uint32(g.params.Net)}
	if xor {
		// Its own stream too, so that the files hold the same blocks in the
		// same order with and without obfuscation.
		keys := rand.New(rand.NewPCG(uint64(g.cfg.Seed), 0x786f722e646174))
		for w.key == ([8]byte{}) {
			binary.LittleEndian.PutUint64(w.key[:], keys.Uint64())
		}
		if err := os.WriteFile(filepath.Join(dir, "xor.dat"), w.key[:], 0o644); err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
	}
	var held *wire.MsgBlock
	for {
		blk, err := g.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		switch {
		case held == nil && g.next > 1 && rng.IntN(20) == 0:
			held = blk // written after its child (never the genesis block)
			continue
		case held != nil:
			err = w.write(blk)
			if err == nil {
				err = w.write(held)
			}
			held = nil
		default:
			err = w.write(blk)
		}
		if err != nil {
			w.close(false)
			return err
		}
	}
	if held != nil {
		if err := w.write(held); err != nil {
			w.close(false)
			return err
		}
	}
	if err := w.close(true); err != nil {
		return err
	}
	return g.Truth().WriteFile(filepath.Join(dir, "truth.json"))
}

// blkWriter appends records to blk files.
type blkWriter struct {
	dir string
	max int64
	net uint32
	key [8]byte
	n   int // number of the open file
	f   *os.File
	bw  *bufio.Writer
	off int64
	rec []byte
}

func (w *blkWriter) write(blk *wire.MsgBlock) error {
	w.rec = binary.LittleEndian.AppendUint32(w.rec[:0], w.net)
	w.rec = append(w.rec, 0, 0, 0, 0)
	w.rec = appendBlock(w.rec, blk)
	binary.LittleEndian.PutUint32(w.rec[4:], uint32(len(w.rec)-8))
	// Core moves on to a new file when the record would reach the cap.
	if w.f != nil && w.off+int64(len(w.rec)) >= w.max {
		if err := w.close(false); err != nil {
			return err
		}
		w.n++
	}
	if w.f == nil {
		f, err := os.Create(filepath.Join(w.dir, fmt.Sprintf("blk%05d.dat", w.n)))
		if err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
		w.f, w.bw, w.off = f, bufio.NewWriterSize(f, 1<<20), 0
	}
	if w.key != ([8]byte{}) {
		for i := range w.rec {
			w.rec[i] ^= w.key[(w.off+int64(i))%8]
		}
	}
	if _, err := w.bw.Write(w.rec); err != nil {
		return fmt.Errorf("simulate: writing %s: %w", w.f.Name(), err)
	}
	w.off += int64(len(w.rec))
	return nil
}

// close flushes and closes the open file; the last one is padded with zeros
// to the preallocation chunk, as Core leaves its newest file.
func (w *blkWriter) close(last bool) error {
	if w.f == nil {
		return nil
	}
	f := w.f
	w.f = nil
	err := w.bw.Flush()
	if err == nil && last {
		if pad := (w.off + blockFileChunk - 1) / blockFileChunk * blockFileChunk; pad > w.off {
			err = f.Truncate(pad) // sparse: the zeros cost no disk
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("simulate: writing %s: %w", f.Name(), err)
	}
	return nil
}
