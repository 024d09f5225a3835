package payload

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/tracerproject/tracer/chain"
)

// Payload format v2 is a binary encoding of the same Event, several times
// faster to encode and to decode than v1 (JSON and S2) and smaller even
// uncompressed: hashes and txids travel as raw bytes. After the tag byte
// 0x02:
//
//	event    := kind:str seq:uvarint chain:str height:varint hash:str
//	            hasBlock:byte(0|1) [block]
//	block    := chain:str height:varint hash:str parent:str time:varint
//	            size:varint ntx:uvarint nin:uvarint nout:uvarint tx*ntx
//	            ntransfer:uvarint transfer*ntransfer
//	tx       := txid:str index:varint flags:byte(1 coinbase) size:varint
//	            vsize:varint nin:uvarint input*nin nout:uvarint output*nout
//	input    := n:uvarint prevTxid:str prevN:uvarint flags:byte(1 coinbase)
//	            address:str scriptType:str value:varint
//	output   := n:uvarint address:str scriptType:str value:varint
//	transfer := kind:str asset:str from:str to:str value:amount txid:str
//	            txIndex:varint index:varint
//	            flags:byte(1 success, 2 zero) fee:amount
//	amount   := len:uvarint big-endian magnitude (len 0: zero; at most 64)
//	str      := tag:uvarint, then by tag&3, with n = tag>>2:
//	              0  n bytes, the string itself
//	              1  n bytes whose lower-case hex is the string
//	              2  n bytes; the string is "0x" and their lower-case hex
//	              3  no bytes; the string is constant n of payloadConsts
//
// uvarint and varint are those of encoding/binary (varint zig-zag). The
// block's nin and nout are the totals over its transactions. Every string
// decodes to exactly the string encoded (hex is used only for lower-case hex
// of even length), so v1 and v2 carry the same events. Nothing may follow
// the event.
const payloadV2Tag = 0x02

// payloadConsts are the strings that v2 encodes as one byte. The order is
// part of the format: append only.
var payloadConsts = [...]string{
	"", chain.BTC, chain.ETH, string(chain.KindBlock), string(chain.KindUndo),
	chain.ScriptP2PKH, chain.ScriptP2SH, chain.ScriptP2WPKH, chain.ScriptP2WSH, chain.ScriptP2TR, chain.ScriptP2PK,
	chain.ScriptMultisig, chain.ScriptNullData, chain.ScriptNonStd, chain.ScriptWitnessUn,
	chain.TransferNative, chain.TransferToken, chain.TransferInternal, chain.AssetETH,
}

const maxAmountBytes = 64

// constIndex is the index of s in payloadConsts, or -1. A switch, as the
// encoder asks for every string.
func constIndex(s string) int {
	if len(s) > 16 {
		return -1
	}
	switch s {
	case "":
		return 0
	case chain.BTC:
		return 1
	case chain.ETH:
		return 2
	case string(chain.KindBlock):
		return 3
	case string(chain.KindUndo):
		return 4
	case chain.ScriptP2PKH:
		return 5
	case chain.ScriptP2SH:
		return 6
	case chain.ScriptP2WPKH:
		return 7
	case chain.ScriptP2WSH:
		return 8
	case chain.ScriptP2TR:
		return 9
	case chain.ScriptP2PK:
		return 10
	case chain.ScriptMultisig:
		return 11
	case chain.ScriptNullData:
		return 12
	case chain.ScriptNonStd:
		return 13
	case chain.ScriptWitnessUn:
		return 14
	case chain.TransferNative:
		return 15
	case chain.TransferToken:
		return 16
	case chain.TransferInternal:
		return 17
	case chain.AssetETH:
		return 18
	}
	return -1
}

// eventSizeHint is about the encoded size of ev, to allocate once.
func eventSizeHint(ev *chain.Event) int {
	n := 128
	if b := ev.Block; b != nil {
		for i := range b.Txs {
			n += 48 + 100*len(b.Txs[i].Inputs) + 64*len(b.Txs[i].Outputs)
		}
		n += 160 * len(b.Transfers)
	}
	return n
}

func appendStr(dst []byte, s string) []byte {
	if i := constIndex(s); i >= 0 {
		return binary.AppendUvarint(dst, uint64(i)<<2|3)
	}
	if len(s) >= 2 && len(s)%2 == 0 {
		hexPart, kind := s, uint64(1)
		if s[0] == '0' && s[1] == 'x' {
			hexPart, kind = s[2:], 2
		}
		if len(hexPart) > 0 {
			mark := len(dst)
			dst = binary.AppendUvarint(dst, uint64(len(hexPart)/2)<<2|kind)
			if out, ok := appendUnhex(dst, hexPart); ok {
				return out
			}
			dst = dst[:mark]
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(s))<<2)
	return append(dst, s...)
}

// unhex maps lower-case hex digits to their value and everything else to
// 0xff.
var unhex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
	}
	return t
}()

// appendUnhex appends the bytes whose lower-case hex s is (of even
// length); ok is false when s is not that.
func appendUnhex(dst []byte, s string) (_ []byte, ok bool) {
	n := len(s) / 2
	dst = slices.Grow(dst, n)
	out := dst[len(dst) : len(dst)+n]
	for i := range out {
		hi, lo := unhex[s[2*i]], unhex[s[2*i+1]]
		if hi > 15 || lo > 15 {
			return dst, false
		}
		out[i] = hi<<4 | lo
	}
	return dst[:len(dst)+n], true
}

func appendAmount(dst []byte, a chain.Amount) []byte {
	if a.IsZero() {
		return append(dst, 0)
	}
	n := (a.BitLen() + 7) / 8
	dst = binary.AppendUvarint(dst, uint64(n))
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	a.FillBytes(dst[start:])
	return dst
}

func b2flag(b bool, f byte) byte {
	if b {
		return f
	}
	return 0
}

func appendEventV2(dst []byte, ev *chain.Event) ([]byte, error) {
	dst = append(dst, payloadV2Tag)
	dst = appendStr(dst, string(ev.Kind))
	dst = binary.AppendUvarint(dst, ev.Seq)
	dst = appendStr(dst, ev.Chain)
	dst = binary.AppendVarint(dst, ev.Height)
	dst = appendStr(dst, ev.Hash)
	b := ev.Block
	if b == nil {
		return append(dst, 0), nil
	}
	dst = append(dst, 1)
	dst = appendStr(dst, b.Chain)
	dst = binary.AppendVarint(dst, b.Height)
	dst = appendStr(dst, b.Hash)
	dst = appendStr(dst, b.Parent)
	dst = binary.AppendVarint(dst, b.Time)
	dst = binary.AppendVarint(dst, int64(b.Size))
	var nin, nout int
	for i := range b.Txs {
		nin += len(b.Txs[i].Inputs)
		nout += len(b.Txs[i].Outputs)
	}
	dst = binary.AppendUvarint(dst, uint64(len(b.Txs)))
	dst = binary.AppendUvarint(dst, uint64(nin))
	dst = binary.AppendUvarint(dst, uint64(nout))
	for i := range b.Txs {
		tx := &b.Txs[i]
		dst = appendStr(dst, tx.Txid)
		dst = binary.AppendVarint(dst, int64(tx.Index))
		dst = append(dst, b2flag(tx.Coinbase, 1))
		dst = binary.AppendVarint(dst, int64(tx.Size))
		dst = binary.AppendVarint(dst, int64(tx.Vsize))
		dst = binary.AppendUvarint(dst, uint64(len(tx.Inputs)))
		for j := range tx.Inputs {
			in := &tx.Inputs[j]
			dst = binary.AppendUvarint(dst, uint64(in.Index))
			dst = appendStr(dst, in.PrevTxid)
			dst = binary.AppendUvarint(dst, uint64(in.PrevIndex))
			dst = append(dst, b2flag(in.Coinbase, 1))
			dst = appendStr(dst, in.Address)
			dst = appendStr(dst, in.ScriptType)
			dst = binary.AppendVarint(dst, in.Value)
		}
		dst = binary.AppendUvarint(dst, uint64(len(tx.Outputs)))
		for j := range tx.Outputs {
			o := &tx.Outputs[j]
			dst = binary.AppendUvarint(dst, uint64(o.Index))
			dst = appendStr(dst, o.Address)
			dst = appendStr(dst, o.ScriptType)
			dst = binary.AppendVarint(dst, o.Value)
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(b.Transfers)))
	for i := range b.Transfers {
		t := &b.Transfers[i]
		if t.Value.Sign() < 0 || t.Fee.Sign() < 0 {
			return nil, fmt.Errorf("transfer %s/%d: negative amount", t.Txid, t.Index)
		}
		if t.Value.BitLen() > 8*maxAmountBytes || t.Fee.BitLen() > 8*maxAmountBytes {
			return nil, fmt.Errorf("transfer %s/%d: amount of more than %d bytes", t.Txid, t.Index, maxAmountBytes)
		}
		dst = appendStr(dst, t.Kind)
		dst = appendStr(dst, t.Asset)
		dst = appendStr(dst, t.From)
		dst = appendStr(dst, t.To)
		dst = appendAmount(dst, t.Value)
		dst = appendStr(dst, t.Txid)
		dst = binary.AppendVarint(dst, int64(t.TxIndex))
		dst = binary.AppendVarint(dst, int64(t.Index))
		dst = append(dst, b2flag(t.Success, 1)|b2flag(t.Zero, 2))
		dst = appendAmount(dst, t.Fee)
	}
	return dst, nil
}

// v2reader reads the v2 encoding; the first error sticks and later reads
// return zero values.
type v2reader struct {
	b   []byte
	off int
	err error
}

var errTruncated = errors.New("truncated")

func (r *v2reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("at byte %d: %s", r.off+1, fmt.Sprintf(format, args...))
	}
}

func (r *v2reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad or truncated uvarint")
		return 0
	}
	r.off += n
	return v
}

func (r *v2reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad or truncated varint")
		return 0
	}
	r.off += n
	return v
}

func (r *v2reader) int() int {
	v := r.varint()
	if v < math.MinInt || v > math.MaxInt {
		r.fail("integer %d out of range", v)
		return 0
	}
	return int(v)
}

func (r *v2reader) uint32() uint32 {
	v := r.uvarint()
	if v > math.MaxUint32 {
		r.fail("value %d above 2^32-1", v)
		return 0
	}
	return uint32(v)
}

func (r *v2reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("%v", errTruncated)
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *v2reader) flags(allowed byte) byte {
	f := r.byte()
	if f&^allowed != 0 {
		r.fail("unknown flags %#02x", f)
	}
	return f
}

func (r *v2reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.off) {
		r.fail("%d bytes announced, %d left", n, len(r.b)-r.off)
		return nil
	}
	v := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return v
}

// count reads a number of elements, each at least min bytes long, so a
// corrupt count cannot make the decoder allocate more than the input
// could hold.
func (r *v2reader) count(what string, min int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)-r.off)/uint64(min) {
		r.fail("%d %s announced in %d bytes", n, what, len(r.b)-r.off)
		return 0
	}
	return int(n)
}

func (r *v2reader) str() string {
	tag := r.uvarint()
	n := tag >> 2
	switch tag & 3 {
	case 0:
		return string(r.bytes(n))
	case 1:
		return hexString("", r.bytes(n))
	case 2:
		return hexString("0x", r.bytes(n))
	default:
		if n >= uint64(len(payloadConsts)) {
			r.fail("unknown string constant %d", n)
			return ""
		}
		return payloadConsts[n]
	}
}

// hexString is prefix followed by the lower-case hex of b, with one
// allocation.
func hexString(prefix string, b []byte) string {
	var stack [2 + 2*64]byte
	var buf []byte
	if need := len(prefix) + 2*len(b); need <= len(stack) {
		buf = stack[:0]
	} else {
		buf = make([]byte, 0, need)
	}
	buf = append(buf, prefix...)
	buf = hex.AppendEncode(buf, b)
	return string(buf)
}

func (r *v2reader) amount() chain.Amount {
	n := r.uvarint()
	if n > maxAmountBytes {
		r.fail("amount of %d bytes (at most %d)", n, maxAmountBytes)
		return chain.Amount{}
	}
	b := r.bytes(n)
	if r.err != nil || len(b) == 0 {
		return chain.Amount{}
	}
	return chain.AmountFromBytes(b)
}

func decodeEventV2(raw []byte) (*chain.Event, error) {
	r := &v2reader{b: raw}
	ev := &chain.Event{
		Kind:   chain.EventKind(r.str()),
		Seq:    r.uvarint(),
		Chain:  r.str(),
		Height: r.varint(),
		Hash:   r.str(),
	}
	switch r.flags(1) {
	case 0:
	case 1:
		ev.Block = r.block()
	}
	if r.err == nil && r.off != len(raw) {
		r.fail("%d bytes after the event", len(raw)-r.off)
	}
	if r.err != nil {
		return nil, r.err
	}
	return ev, nil
}

// Smallest encodings, to bound counts: a tx is at least 7 bytes, an input
// 7, an output 4, a transfer 10.
const (
	minTxBytes       = 7
	minInputBytes    = 7
	minOutputBytes   = 4
	minTransferBytes = 10
)

func (r *v2reader) block() *chain.Block {
	b := &chain.Block{
		Chain:  r.str(),
		Height: r.varint(),
		Hash:   r.str(),
		Parent: r.str(),
		Time:   r.varint(),
		Size:   r.int(),
	}
	ntx := r.count("transactions", minTxBytes)
	nin := r.count("inputs", minInputBytes)
	nout := r.count("outputs", minOutputBytes)
	if r.err != nil {
		return nil
	}
	if ntx > 0 {
		b.Txs = make([]chain.Tx, ntx)
	}
	// One backing array for the inputs and one for the outputs of the
	// block, as Normalize makes them.
	ins := make([]chain.Input, nin)
	outs := make([]chain.Output, nout)
	for i := 0; i < ntx && r.err == nil; i++ {
		tx := &b.Txs[i]
		tx.Txid = r.str()
		tx.Index = r.int()
		tx.Coinbase = r.flags(1) == 1
		tx.Size = r.int()
		tx.Vsize = r.int()
		k := r.count("inputs", minInputBytes)
		if k > len(ins) {
			r.fail("tx %d has more inputs than the block's total", i)
			break
		}
		tx.Inputs, ins = ins[:k:k], ins[k:]
		for j := range tx.Inputs {
			in := &tx.Inputs[j]
			in.Index = r.uint32()
			in.PrevTxid = r.str()
			in.PrevIndex = r.uint32()
			in.Coinbase = r.flags(1) == 1
			in.Address = r.str()
			in.ScriptType = r.str()
			in.Value = r.varint()
		}
		k = r.count("outputs", minOutputBytes)
		if k > len(outs) {
			r.fail("tx %d has more outputs than the block's total", i)
			break
		}
		tx.Outputs, outs = outs[:k:k], outs[k:]
		for j := range tx.Outputs {
			o := &tx.Outputs[j]
			o.Index = r.uint32()
			o.Address = r.str()
			o.ScriptType = r.str()
			o.Value = r.varint()
		}
	}
	if r.err == nil && (len(ins) != 0 || len(outs) != 0) {
		r.fail("the block announces %d inputs and %d outputs more than its transactions hold", len(ins), len(outs))
	}
	n := r.count("transfers", minTransferBytes)
	if r.err != nil {
		return nil
	}
	if n > 0 {
		b.Transfers = make([]chain.Transfer, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		t := &b.Transfers[i]
		t.Kind = r.str()
		t.Asset = r.str()
		t.From = r.str()
		t.To = r.str()
		t.Value = r.amount()
		t.Txid = r.str()
		t.TxIndex = r.int()
		t.Index = r.int()
		f := r.flags(3)
		t.Success, t.Zero = f&1 != 0, f&2 != 0
		t.Fee = r.amount()
	}
	return b
}
