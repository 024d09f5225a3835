package btc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

var testKey = XORKey{0x3c, 0xa1, 0x00, 0x7f, 0xee, 0x12, 0x95, 0x4d} // one zero byte: zero-magic checks must not rely on it

// blkFile is the content of a test blk file: records, written through the
// obfuscation key, then pad bytes of raw zeros as Core's preallocation
// leaves them.
type blkFile struct {
	data []byte
	pad  int
}

// writeBlkFile writes one blk file obfuscated with key.
func writeBlkFile(t testing.TB, path string, key XORKey, f blkFile) {
	t.Helper()
	b := bytes.Clone(f.data)
	key.Apply(b, 0)
	b = append(b, make([]byte, f.pad)...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeBlocksDir writes files as blk00000.dat, blk00001.dat... and xor.dat
// when key is not zero.
func writeBlocksDir(t testing.TB, key XORKey, files ...blkFile) string {
	t.Helper()
	dir := t.TempDir()
	if key != (XORKey{}) {
		if err := os.WriteFile(filepath.Join(dir, "xor.dat"), key[:], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, f := range files {
		writeBlkFile(t, filepath.Join(dir, fmt.Sprintf("blk%05d.dat", i)), key, f)
	}
	return dir
}

// framed concatenates raw blocks as mainnet records.
func framed(blocks ...[]byte) []byte {
	var out []byte
	for _, b := range blocks {
		out = append(out, frame(wire.MainNet, b)...)
	}
	return out
}

func blockHash(raw []byte) chainhash.Hash {
	return chainhash.DoubleHashH(raw[:wire.MaxBlockHeaderPayload])
}

func TestXORKey(t *testing.T) {
	data := []byte("the obfuscation key repeats every eight bytes of the file")
	for _, off := range []int64{0, 1, 7, 8, 13, 1 << 20} {
		b := bytes.Clone(data)
		testKey.Apply(b, off)
		for i := range b {
			if want := data[i] ^ testKey[(off+int64(i))%8]; b[i] != want {
				t.Fatalf("offset %d byte %d: got %02x, want %02x", off, i, b[i], want)
			}
		}
		// Applying in two pieces at their own offsets is the same.
		c := bytes.Clone(data)
		testKey.Apply(c[:5], off)
		testKey.Apply(c[5:], off+5)
		if !bytes.Equal(b, c) {
			t.Errorf("offset %d: piecewise application differs", off)
		}
	}

	dir := t.TempDir()
	if k, err := ReadXORKey(dir); err != nil || k != (XORKey{}) {
		t.Errorf("no xor.dat: got %x, %v, want the zero key", k, err)
	}
	os.WriteFile(filepath.Join(dir, "xor.dat"), testKey[:], 0o644)
	if k, err := ReadXORKey(dir); err != nil || k != testKey {
		t.Errorf("xor.dat: got %x, %v, want %x", k, err, testKey)
	}
	os.WriteFile(filepath.Join(dir, "xor.dat"), testKey[:7], 0o644)
	if _, err := ReadXORKey(dir); err == nil || !strings.Contains(err.Error(), "7 bytes") {
		t.Errorf("7-byte xor.dat: got %v, want an error", err)
	}
}

func TestFileReaderRecords(t *testing.T) {
	raws := append(btcdRecords(t, btcdBlk0to4), btcdRecords(t, btcdBlk3A)...)
	data := framed(raws...)
	tests := []struct {
		name     string
		key      XORKey
		pad      int  // raw zeros, as fallocate leaves them
		padPlain bool // zeros written through the key instead
	}{
		{"plain", XORKey{}, 0, false},
		{"plain with padding", XORKey{}, 4096, false},
		{"obfuscated", testKey, 0, false},
		{"obfuscated with raw zero padding", testKey, 1000, false},
		{"obfuscated with obfuscated zero padding", testKey, 1000, true},
		{"padding shorter than a prefix", testKey, 3, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "blk00000.dat")
			f := blkFile{data: data, pad: tc.pad}
			if tc.padPlain {
				f = blkFile{data: append(bytes.Clone(data), make([]byte, tc.pad)...)}
			}
			writeBlkFile(t, path, tc.key, f)
			r, err := OpenBlockFile(path, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			off := int64(0)
			for i, raw := range raws {
				rec, err := r.Next()
				if err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				if rec.Offset != off || int(rec.Size) != len(raw) || rec.Net != wire.MainNet || rec.Hash() != blockHash(raw) {
					t.Fatalf("record %d: got offset %d size %d net %v hash %s, want %d %d mainnet %s",
						i, rec.Offset, rec.Size, rec.Net, rec.Hash(), off, len(raw), blockHash(raw))
				}
				off += 8 + int64(len(raw))
			}
			if _, err := r.Next(); err != io.EOF {
				t.Fatalf("after the last record: got %v, want io.EOF", err)
			}
			// Blocks read back at their offsets, out of order.
			off = 0
			offsets := make([]int64, len(raws))
			for i, raw := range raws {
				offsets[i] = off
				off += 8 + int64(len(raw))
			}
			for i := len(raws) - 1; i >= 0; i-- {
				b, err := r.ReadBlock(offsets[i])
				if err != nil {
					t.Fatalf("block %d at %d: %v", i, offsets[i], err)
				}
				if b.BlockHash() != blockHash(raws[i]) {
					t.Errorf("block %d: got %s, want %s", i, b.BlockHash(), blockHash(raws[i]))
				}
			}
		})
	}
}

func TestFileReaderErrors(t *testing.T) {
	raws := btcdRecords(t, btcdBlk0to4)
	good := framed(raws...)
	lastOff := int64(len(good) - 8 - len(raws[4]))
	testnet := append(framed(raws[0]), frame(wire.TestNet3, raws[1])...)
	withSize := func(size uint32) []byte {
		b := framed(raws[0], raws[1])
		binary.LittleEndian.PutUint32(b[8+len(raws[0])+4:], size)
		return b
	}
	tests := []struct {
		name    string
		data    []byte
		records int   // read fine before the error
		offset  int64 // of the bad record
		want    error
		says    string
	}{
		{"truncated last record", good[:len(good)-100], 4, lastOff, ErrTruncatedRecord, "the record says 371 bytes, 271 are left"},
		{"truncated record prefix", good[:lastOff+5], 4, lastOff, ErrTruncatedRecord, "5 bytes left"},
		{"truncated header", good[:lastOff+8+40], 4, lastOff, ErrTruncatedRecord, "40 are left"},
		{"network changes", testnet, 1, 8 + int64(len(raws[0])), ErrBadMagic, "0b110907"},
		{"unknown magic", append([]byte{1, 2, 3, 4}, good[4:]...), 0, 0, ErrBadMagic, "01020304 is not the magic of a known network"},
		{"size below a header", withSize(79), 1, 8 + int64(len(raws[0])), ErrRecordSize, "79 bytes is smaller than a block header"},
		{"size above 32 MiB", withSize(MaxRecordSize + 1), 1, 8 + int64(len(raws[0])), ErrRecordSize, "larger than the 33554432 byte limit"},
		{"garbage after the records", append(bytes.Clone(good), 0, 0, 0, 1, 0, 0, 0, 0), 5, int64(len(good)), ErrBadMagic, "00000001"},
	}
	for _, tc := range tests {
		for _, key := range []XORKey{{}, testKey} {
			t.Run(fmt.Sprintf("%s/key %x", tc.name, key[:2]), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "blk00042.dat")
				writeBlkFile(t, path, key, blkFile{data: tc.data})
				r, err := OpenBlockFile(path, key)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				for i := range tc.records {
					if _, err := r.Next(); err != nil {
						t.Fatalf("record %d before the bad one: %v", i, err)
					}
				}
				_, err = r.Next()
				var re *RecordError
				if !errors.Is(err, tc.want) || !errors.As(err, &re) {
					t.Fatalf("got %v, want a *RecordError wrapping %v", err, tc.want)
				}
				if re.File != path || re.Offset != tc.offset {
					t.Errorf("got file %s offset %d, want %s %d", re.File, re.Offset, path, tc.offset)
				}
				for _, s := range []string{path, fmt.Sprintf("offset %d", tc.offset), tc.says} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
				if _, again := r.Next(); again != err {
					t.Errorf("Next after an error: got %v, want the same error", again)
				}
			})
		}
	}
}

func TestFileReaderReadBlockErrors(t *testing.T) {
	raws := btcdRecords(t, btcdBlk0to4)
	// A record whose size says 4 bytes more than its block.
	long := frame(wire.MainNet, append(bytes.Clone(raws[1]), 0xde, 0xad, 0xbe, 0xef))
	// A record whose block does not decode.
	broken := frame(wire.MainNet, raws[2][:100])
	data := append(framed(raws[0]), long...)
	data = append(data, broken...)
	path := filepath.Join(t.TempDir(), "blk00000.dat")
	writeBlkFile(t, path, testKey, blkFile{data: data, pad: 64})
	r, err := OpenBlockFile(path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	longOff := int64(8 + len(raws[0]))
	brokenOff := longOff + int64(len(long))
	tests := []struct {
		name string
		off  int64
		says string
	}{
		{"block shorter than its record", longOff, "the block is 212 bytes, the record says 216"},
		{"block does not decode", brokenOff, "decoding the block"},
		{"offset inside a record", 3, "bad network magic"},
		{"offset in the padding", int64(len(data)), "zero magic"},
		{"offset past the end", int64(len(data)) + 1000, "no record prefix fits"},
		{"negative offset", -8, "no record prefix fits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.ReadBlock(tc.off)
			if err == nil || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), path) ||
				!strings.Contains(err.Error(), fmt.Sprintf("offset %d", tc.off)) {
				t.Errorf("got %v, want an error naming the file and offset %d and saying %q", err, tc.off, tc.says)
			}
		})
	}
}

// boundedReader fails the test on any read outside its data.
type boundedReader struct {
	t    *testing.T
	data []byte
}

func (b boundedReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(b.data)) {
		b.t.Fatalf("read of %d bytes at %d outside the %d-byte file", len(p), off, len(b.data))
	}
	return copy(p, b.data[off:]), nil
}

func FuzzBlkFraming(f *testing.F) {
	good := framed(append(seedBlocks(f, btcdBlk0to4), seedBlocks(f, btcdBlk5A)...)...)
	if len(good) == 0 {
		good = frame(wire.MainNet, serialize(f, chaincfg.MainNetParams.GenesisBlock))
	}
	f.Add(good, uint64(0), int64(0))
	f.Add(good, binary.LittleEndian.Uint64(testKey[:]), int64(293))
	f.Add(good[:len(good)-7], uint64(0), int64(len(good)-200))
	f.Add(append(bytes.Clone(good), make([]byte, 13)...), uint64(0), int64(5))
	// Small blocks only: framing does not depend on block size, and the
	// fuzzer minimizes every new input, which takes long for big ones.
	if blocks := seedBlocks(f, btcdBlocks256); len(blocks) > 175 {
		f.Add(framed(blocks[165:175]...), uint64(1), int64(0))
	}
	f.Add([]byte{0xf9, 0xbe, 0xb4, 0xd9, 0xff, 0xff, 0xff, 0xff}, uint64(0), int64(0))
	f.Add([]byte{}, uint64(0), int64(-1))
	f.Fuzz(func(t *testing.T, data []byte, k uint64, at int64) {
		var key XORKey
		binary.LittleEndian.PutUint64(key[:], k)
		plain := bytes.Clone(data)
		key.Apply(plain, 0)
		r := NewFileReader("fuzz.dat", boundedReader{t, data}, int64(len(data)), key)
		end := int64(0)
		for range 10000 {
			rec, err := r.Next()
			if err != nil {
				var re *RecordError
				if err != io.EOF && !errors.As(err, &re) {
					t.Fatalf("got %T %v, want io.EOF or a *RecordError", err, err)
				}
				break
			}
			if rec.Offset != end || rec.Offset+8+int64(rec.Size) > int64(len(data)) || rec.Size < 80 || rec.Size > MaxRecordSize {
				t.Fatalf("record at %d of %d bytes: does not follow the previous one (%d) or leaves the %d-byte file", rec.Offset, rec.Size, end, len(data))
			}
			if !bytes.Equal(rec.Header[:], plain[rec.Offset+8:rec.Offset+88]) {
				t.Fatalf("record at %d: header is not the de-obfuscated bytes", rec.Offset)
			}
			block, err := r.ReadRecord(rec.Offset)
			if err != nil || !bytes.Equal(block, plain[rec.Offset+8:rec.Offset+8+int64(rec.Size)]) {
				t.Fatalf("record at %d: ReadRecord got %d bytes, %v; want the record's de-obfuscated bytes", rec.Offset, len(block), err)
			}
			_, _ = r.ReadBlock(rec.Offset)
			end = rec.Offset + 8 + int64(rec.Size)
		}
		_, _ = r.ReadBlock(at)
	})
}
