package btc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// MaxRecordSize bounds the size field of a blk file record: Core refuses to
// read a block record larger than its MAX_SIZE (0x02000000 bytes, 32 MiB).
const MaxRecordSize = 0x02000000

// recordPrefix is the network magic and the little-endian uint32 size that
// precede every block in a blk file.
const recordPrefix = 8

// XORKey is the obfuscation key of Core 28+ (blocks/xor.dat): byte i of
// every blk and rev file is XORed with key[i%8], i counting from offset 0 of
// the file. The zero key means no obfuscation.
type XORKey [8]byte

// Apply XORs p, which sits at offset off of a file, with the key. It is its
// own inverse.
func (k XORKey) Apply(p []byte, off int64) {
	if k == (XORKey{}) {
		return
	}
	j := int(off & 7)
	for i := range p {
		p[i] ^= k[j]
		j = (j + 1) & 7
	}
}

// ReadXORKey reads DIR/xor.dat. A missing file is the zero key (Core before
// 28, or a node started with -blocksxor=0).
func ReadXORKey(dir string) (XORKey, error) {
	var k XORKey
	path := filepath.Join(dir, "xor.dat")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return k, fmt.Errorf("btc: reading the obfuscation key: %w", err)
	}
	if len(b) != len(k) {
		return k, fmt.Errorf("btc: %s holds %d bytes, want an %d-byte key", path, len(b), len(k))
	}
	copy(k[:], b)
	return k, nil
}

// Networks whose magic a blk file may start with.
var knownNets = []wire.BitcoinNet{wire.MainNet, wire.TestNet3, TestNet4, SigNet, wire.TestNet}

func knownNet(n wire.BitcoinNet) bool {
	for _, k := range knownNets {
		if n == k {
			return true
		}
	}
	return false
}

// Record is one block record of a blk file.
type Record struct {
	Offset int64           // file offset of the record, where its magic is
	Size   uint32          // size of the serialized block after the 8-byte prefix
	Net    wire.BitcoinNet // network magic
	Header [wire.MaxBlockHeaderPayload]byte
}

// Hash is the block's hash.
func (r *Record) Hash() chainhash.Hash { return chainhash.DoubleHashH(r.Header[:]) }

// Prev is the hash of the block's parent.
func (r *Record) Prev() (h chainhash.Hash) {
	copy(h[:], r.Header[4:36])
	return h
}

// Bits is the block's compact difficulty target.
func (r *Record) Bits() uint32 { return binary.LittleEndian.Uint32(r.Header[72:76]) }

// FileReader reads the block records of one blk file. Next walks the
// records reading only their prefix and header; ReadBlock reads one block at
// an offset Next returned. A FileReader is not safe for concurrent use.
//
// Next stops with io.EOF at the end of the file or at a zero magic: Core
// preallocates blk files in chunks, and the unused tail reads as zeros. Those
// zeros are written by fallocate, not through the obfuscation, so the check
// is made on the raw bytes as well as on the de-obfuscated ones.
//
// The first record's magic must be that of mainnet, testnet3, testnet4, the
// default signet or regtest; every later record must have the same.
// Any other problem is a *RecordError naming the file and the offset and
// wrapping ErrTruncatedRecord, ErrBadMagic or ErrRecordSize. Records
// returned before the error are sound: a truncated last record (Core killed
// mid-write) does not make the earlier ones unusable.
type FileReader struct {
	name string
	r    io.ReaderAt
	size int64
	key  XORKey
	net  wire.BitcoinNet // magic of the first record; 0 before it
	next int64           // offset of the next record
	err  error           // sticky, once Next has failed or ended

	// win is a de-obfuscated, page-aligned window of the file at winOff.
	// A scan reads the prefixes and headers of small blocks (the first
	// years of the chain) many to a read, and pays one page per record for
	// big ones instead of reading the block.
	win    []byte
	winOff int64
	buf    []byte
	closer io.Closer
}

const windowSize = 4 << 10

// OpenBlockFile opens a blk file for reading with the obfuscation key of its
// directory (see ReadXORKey).
func OpenBlockFile(path string, key XORKey) (*FileReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("btc: opening block file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("btc: opening block file: %w", err)
	}
	r := NewFileReader(path, f, st.Size(), key)
	r.closer = f
	return r, nil
}

// NewFileReader reads size bytes of blk file data from r; name is used in
// errors.
func NewFileReader(name string, r io.ReaderAt, size int64, key XORKey) *FileReader {
	return &FileReader{name: name, r: r, size: size, key: key}
}

// Close closes the file opened by OpenBlockFile.
func (r *FileReader) Close() error {
	if r.closer == nil {
		return nil
	}
	return r.closer.Close()
}

// Name is the file name errors use.
func (r *FileReader) Name() string { return r.name }

// Net is the network magic of the file's records (0 before the first).
func (r *FileReader) Net() wire.BitcoinNet { return r.net }

func (r *FileReader) recordErr(off int64, format string, args ...any) error {
	return &RecordError{File: r.name, Offset: off, Err: fmt.Errorf(format, args...)}
}

// peek returns n de-obfuscated bytes at off, which the caller has checked
// lie within the file. The slice is valid until the next call.
func (r *FileReader) peek(off int64, n int) ([]byte, error) {
	if off >= r.winOff && off+int64(n) <= r.winOff+int64(len(r.win)) {
		return r.win[off-r.winOff:][:n], nil
	}
	if off < 0 || off+int64(n) > r.size {
		return nil, io.ErrUnexpectedEOF
	}
	start := off &^ (windowSize - 1)
	end := min(max(off+int64(n), start+windowSize), r.size)
	if cap(r.buf) < int(end-start) {
		r.buf = make([]byte, end-start)
	}
	w := r.buf[:end-start]
	r.win = nil
	if _, err := readFullAt(r.r, w, start); err != nil {
		return nil, err
	}
	r.key.Apply(w, start)
	r.win, r.winOff = w, start
	return w[off-start:][:n], nil
}

func readFullAt(r io.ReaderAt, p []byte, off int64) (int, error) {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return n, nil // io.ReaderAt may report io.EOF with a full read
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// isPadding reports whether p, de-obfuscated bytes at off, are zero either
// as read from disk or after removing the key.
func (r *FileReader) isPadding(p []byte, off int64) bool {
	plain, raw := true, true
	for i, b := range p {
		plain = plain && b == 0
		raw = raw && b == r.key[(off+int64(i))&7]
	}
	return plain || raw
}

// Next returns the next record, or io.EOF after the last one.
func (r *FileReader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	rec, err := r.next1()
	if err != nil {
		r.err = err
		return Record{}, err
	}
	r.next = rec.Offset + recordPrefix + int64(rec.Size)
	return rec, nil
}

func (r *FileReader) next1() (Record, error) {
	off := r.next
	rest := r.size - off
	if rest <= 0 {
		return Record{}, io.EOF
	}
	if rest < recordPrefix {
		p, err := r.peek(off, int(rest))
		if err != nil {
			return Record{}, r.recordErr(off, "reading: %w", err)
		}
		if r.isPadding(p, off) {
			return Record{}, io.EOF
		}
		return Record{}, r.recordErr(off, "%w: %d bytes left, a record prefix is %d", ErrTruncatedRecord, rest, recordPrefix)
	}
	rec, err := r.prefix(off)
	if err != nil {
		return Record{}, err
	}
	p, err := r.peek(off+recordPrefix, wire.MaxBlockHeaderPayload)
	if err != nil {
		return Record{}, r.recordErr(off, "reading the block header: %w", err)
	}
	copy(rec.Header[:], p)
	return rec, nil
}

// prefix reads and checks the magic and size of the record at off, where
// at least 8 bytes are left. A zero magic is io.EOF.
func (r *FileReader) prefix(off int64) (Record, error) {
	p, err := r.peek(off, recordPrefix)
	if err != nil {
		return Record{}, r.recordErr(off, "reading: %w", err)
	}
	if r.isPadding(p[:4], off) {
		return Record{}, io.EOF
	}
	rec := Record{Offset: off, Net: wire.BitcoinNet(binary.LittleEndian.Uint32(p[:4])), Size: binary.LittleEndian.Uint32(p[4:8])}
	switch {
	case r.net == 0 && !knownNet(rec.Net):
		return Record{}, r.recordErr(off, "%w: %08x is not the magic of a known network", ErrBadMagic, p[:4])
	case r.net != 0 && rec.Net != r.net:
		return Record{}, r.recordErr(off, "%w: %08x, the file's records so far have %08x", ErrBadMagic, p[:4], magicBytes(r.net))
	}
	if rec.Size < wire.MaxBlockHeaderPayload {
		return Record{}, r.recordErr(off, "%w: %d bytes is smaller than a block header", ErrRecordSize, rec.Size)
	}
	if rec.Size > MaxRecordSize {
		return Record{}, r.recordErr(off, "%w: %d bytes is larger than the %d byte limit", ErrRecordSize, rec.Size, MaxRecordSize)
	}
	if left := r.size - off - recordPrefix; int64(rec.Size) > left {
		return Record{}, r.recordErr(off, "%w: the record says %d bytes, %d are left in the file", ErrTruncatedRecord, rec.Size, left)
	}
	r.net = rec.Net
	return rec, nil
}

func magicBytes(n wire.BitcoinNet) []byte {
	return binary.LittleEndian.AppendUint32(nil, uint32(n))
}

// ReadRecord returns the de-obfuscated block bytes of the record at off.
func (r *FileReader) ReadRecord(off int64) ([]byte, error) {
	if off < 0 || r.size-off < recordPrefix {
		return nil, r.recordErr(off, "%w: no record prefix fits there in a %d byte file", ErrTruncatedRecord, r.size)
	}
	rec, err := r.prefix(off)
	if errors.Is(err, io.EOF) {
		return nil, r.recordErr(off, "%w: zero magic (preallocated space, not a record)", ErrBadMagic)
	}
	if err != nil {
		return nil, err
	}
	data := make([]byte, rec.Size)
	if _, err := readFullAt(r.r, data, off+recordPrefix); err != nil {
		return nil, r.recordErr(off, "reading %d bytes: %w", rec.Size, err)
	}
	r.key.Apply(data, off+recordPrefix)
	return data, nil
}

// ReadBlock reads and decodes the block of the record at off. The block
// must fill the record exactly.
func (r *FileReader) ReadBlock(off int64) (*wire.MsgBlock, error) {
	b, _, err := r.readBlock(off, false)
	return b, err
}

// readBlock is ReadBlock, with the transactions' hashes when withIDs is
// set (decodeBlock).
func (r *FileReader) readBlock(off int64, withIDs bool) (*wire.MsgBlock, *blockIDs, error) {
	data, err := r.ReadRecord(off)
	if err != nil {
		return nil, nil, err
	}
	b, ids, rest, err := decodeBlock(data, withIDs)
	if err != nil {
		return nil, nil, r.recordErr(off, "decoding the block: %w", err)
	}
	if rest != 0 {
		return nil, nil, r.recordErr(off, "%w: the block is %d bytes, the record says %d", ErrRecordSize, len(data)-rest, len(data))
	}
	return b, ids, nil
}
