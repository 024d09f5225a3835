package simulate

import (
	"encoding/binary"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/wire"
)

// Script types of addresses.
const (
	tP2PKH    uint8 = iota
	tP2SH           // P2SH-wrapped P2WPKH, the bulk of P2SH spends on mainnet
	tP2WPKH         //
	tP2WSH          // 2-of-3 multisig, the usual P2WSH wallet
	tP2TR           // key-path spends
	tP2PK           // only as one-off outputs
	tMultisig       // bare 1-of-2, only as one-off outputs
	numTypes
)

// Weight in weight units of spending and of creating an output of each type,
// for fees: a spend is outpoint, sequence, script sig and witness; an output
// is value and script.
var (
	inWeight  = [numTypes]int64{592, 364, 272, 418, 230, 456, 460}
	outWeight = [numTypes]int64{34 * 4, 32 * 4, 31 * 4, 43 * 4, 43 * 4, 44 * 4, 80 * 4}
	scriptLen = [numTypes]int{25, 23, 22, 34, 34, 35, 71}
)

// txOverheadWeight is version, counts, locktime and the segwit marker.
const txOverheadWeight = 42

// The wallet types of users, weighted like the outputs of mainnet today:
// mostly P2WPKH, then P2PKH, P2SH, Taproot and P2WSH.
var walletTypes = []struct {
	typ    uint8
	weight int
}{
	{tP2WPKH, 55}, {tP2PKH, 13}, {tP2SH, 13}, {tP2TR, 12}, {tP2WSH, 7},
}

func (g *Generator) walletType() uint8 {
	r := g.rng.IntN(100)
	for _, w := range walletTypes {
		if r < w.weight {
			return w.typ
		}
		r -= w.weight
	}
	return tP2WPKH
}

func splitmix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// addrHash is the 32-byte key or script hash behind address a. It is derived
// from the index instead of stored: the first word is a bijection of the
// index, so no two addresses collide, and the ownership table stays at a few
// bytes an address.
func (g *Generator) addrHash(a uint32) (h [32]byte) {
	x := g.addrKey ^ uint64(a)*0x9e3779b97f4a7c15
	for j := 0; j < 4; j++ {
		binary.LittleEndian.PutUint64(h[j*8:], splitmix(x+uint64(j)*0x632be59bd9b4e019))
	}
	return h
}

// special is the script of a P2PK or bare multisig address. Those scripts
// carry public keys that address extractors parse, so they are real curve
// points, derived from the index whenever needed (at the output and for the
// truth: rare enough not to matter for speed, and nothing to keep).
type special []byte

// realPubKey is a compressed public key for address a (key j of it): an x
// derived from the index, stepped until it is on the curve (every other x
// is). A square root is far cheaper than deriving the key from a private one.
func (g *Generator) realPubKey(a uint32, j uint64) []byte {
	var b [33]byte
	b[0] = 0x02 | byte(a&1)
	x := g.addrKey ^ 0x5bd1e9955bd1e995 ^ uint64(a)<<8 ^ j
	var fx, fy btcec.FieldVal
	for {
		for i := 0; i < 4; i++ {
			binary.LittleEndian.PutUint64(b[1+i*8:], splitmix(x+uint64(i)*0x9e3779b97f4a7c15))
		}
		if !fx.SetByteSlice(b[1:]) && btcec.DecompressY(&fx, false, &fy) {
			return b[:]
		}
		x += 0x2545f4914f6cdd1d
	}
}

func (g *Generator) specialAddr(a uint32) special {
	if g.addrType[a] == tP2PK {
		s := append(special{0x21}, g.realPubKey(a, 0)...)
		return append(s, 0xac)
	}
	s := special{0x51, 0x21}
	s = append(s, g.realPubKey(a, 0)...)
	s = append(s, 0x21)
	s = append(s, g.realPubKey(a, 1)...)
	return append(s, 0x52, 0xae)
}

// pkScript writes the output script of address a into the block's arena.
func (g *Generator) pkScript(a uint32) []byte {
	t := g.addrType[a]
	b := g.ar.bytes(scriptLen[t])[:0]
	if t == tP2PK || t == tMultisig {
		return append(b, g.specialAddr(a)...)
	}
	h := g.addrHash(a)
	switch t {
	case tP2PKH:
		b = append(b, 0x76, 0xa9, 0x14)
		b = append(b, h[:20]...)
		b = append(b, 0x88, 0xac)
	case tP2SH:
		b = append(b, 0xa9, 0x14)
		b = append(b, h[:20]...)
		b = append(b, 0x87)
	case tP2WPKH:
		b = append(b, 0x00, 0x14)
		b = append(b, h[:20]...)
	case tP2WSH:
		b = append(b, 0x00, 0x20)
		b = append(b, h[:]...)
	case tP2TR:
		b = append(b, 0x51, 0x20)
		b = append(b, h[:]...)
	}
	return b
}

// noiseBytes is n random-looking bytes: a window of the generator's noise.
func (g *Generator) noiseBytes(n int) []byte {
	off := g.rng.IntN(len(g.noise) - n)
	return g.noise[off : off+n]
}

// sig is a DER-shaped ECDSA signature with SIGHASH_ALL, 71 or 72 bytes like
// the signatures of mainnet (low S, R padded when its high bit is set).
func (g *Generator) sig() []byte {
	long := g.rng.Uint32()&1 == 0
	n := 71
	if long {
		n = 72
	}
	b := g.ar.bytes(n)[:0]
	rs := g.noiseBytes(64)
	if long {
		b = append(b, 0x30, 0x45, 0x02, 0x21, 0x00)
		b = append(b, rs[:32]...)
		b[5] |= 0x80
	} else {
		b = append(b, 0x30, 0x44, 0x02, 0x20)
		b = append(b, rs[:32]...)
		b[4] &= 0x7f
	}
	b = append(b, 0x02, 0x20)
	s := len(b)
	b = append(b, rs[32:]...)
	b[s] &= 0x7f
	return append(b, 0x01)
}

// pubKey is the compressed-key-shaped public key of address a, stable per
// address so that a key spends the same way each time.
func (g *Generator) pubKey(a uint32) []byte {
	h := g.addrHash(a)
	b := g.ar.bytes(33)
	b[0] = 0x02 | h[31]&1
	copy(b[1:], h[:])
	return b
}

// fillInput gives in the script sig and witness that spending an output of
// address a takes, with dummy signatures of the right sizes.
func (g *Generator) fillInput(in *wire.TxIn, a uint32) {
	switch g.addrType[a] {
	case tP2PKH:
		sig, pk := g.sig(), g.pubKey(a)
		b := g.ar.bytes(2 + len(sig) + len(pk))[:0]
		b = append(b, byte(len(sig)))
		b = append(b, sig...)
		b = append(b, byte(len(pk)))
		in.SignatureScript = append(b, pk...)
	case tP2SH:
		h := g.addrHash(a)
		b := g.ar.bytes(23)[:0]
		b = append(b, 0x16, 0x00, 0x14)
		in.SignatureScript = append(b, h[12:32]...)
		w := g.ar.witness(2)
		w[0], w[1] = g.sig(), g.pubKey(a)
		in.Witness = w
	case tP2WPKH:
		w := g.ar.witness(2)
		w[0], w[1] = g.sig(), g.pubKey(a)
		in.Witness = w
	case tP2WSH:
		w := g.ar.witness(4)
		w[0] = nil
		w[1], w[2] = g.sig(), g.sig()
		b := g.ar.bytes(105)[:0]
		b = append(b, 0x52)
		for i := 0; i < 3; i++ {
			b = append(b, 0x21, 0x02|byte(i)&1)
			b = append(b, g.noiseBytes(32)...)
		}
		w[3] = append(b, 0x53, 0xae)
		in.Witness = w
	case tP2TR:
		w := g.ar.witness(1)
		w[0] = g.noiseBytes(64)
		in.Witness = w
	case tP2PK:
		sig := g.sig()
		b := g.ar.bytes(1 + len(sig))[:0]
		b = append(b, byte(len(sig)))
		in.SignatureScript = append(b, sig...)
	case tMultisig:
		sig := g.sig()
		b := g.ar.bytes(2 + len(sig))[:0]
		b = append(b, 0x00, byte(len(sig)))
		in.SignatureScript = append(b, sig...)
	}
}
