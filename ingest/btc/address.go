package btc

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"

	"github.com/tracerproject/tracer/chain"
)

// ScriptAddress classifies an output script and returns the address that
// identifies who can spend it.
//
//   - P2PKH, P2SH: base58check with params' version bytes.
//   - P2WPKH, P2WSH (witness v0, 20 or 32 bytes): bech32 with params' HRP.
//   - P2TR (witness v1, 32 bytes): bech32m.
//   - Other witness programs (v1 of another length, v2 to v16):
//     ScriptWitnessUn with their bech32m address, as BIP350 defines it.
//     Witness v0 programs of another length are unspendable: nonstandard.
//   - P2PK: the P2PKH address of the key exactly as the script holds it
//     (compressed, uncompressed or hybrid), which is how explorers and
//     wallets have always shown these outputs. A key that is not a point of
//     the curve makes the script nonstandard.
//   - OP_RETURN (any script that starts with it, as Core's IsUnspendable):
//     no address, ScriptNullData.
//   - Bare multisig (OP_m <keys> OP_n OP_CHECKMULTISIG, Core's definition
//     with m and n from 1 to 16) and everything else: "s-" followed by the
//     64 hex digits of the script's SHA-256. The same script always gets the
//     same identifier, so its coins can still be followed, and it can never
//     be mistaken for an address: '-' is in neither the base58 nor the
//     bech32 alphabet, and no network's bech32 HRP starts with "s-".
//
// A nil params means mainnet. ScriptAddress never panics, whatever the bytes.
func ScriptAddress(pkScript []byte, params *chaincfg.Params) (address string, scriptType string) {
	if params == nil {
		params = &chaincfg.MainNetParams
	}
	s := pkScript
	n := len(s)
	// Direct byte patterns: this runs for every output of the chain and
	// txscript.ExtractPkScriptAddrs tokenizes and allocates for each.
	switch {
	case n == 25 && s[0] == txscript.OP_DUP && s[1] == txscript.OP_HASH160 && s[2] == txscript.OP_DATA_20 &&
		s[23] == txscript.OP_EQUALVERIFY && s[24] == txscript.OP_CHECKSIG:
		return base58.CheckEncode(s[3:23], params.PubKeyHashAddrID), chain.ScriptP2PKH

	case n == 23 && s[0] == txscript.OP_HASH160 && s[1] == txscript.OP_DATA_20 && s[22] == txscript.OP_EQUAL:
		return base58.CheckEncode(s[2:22], params.ScriptHashAddrID), chain.ScriptP2SH

	// BIP141: a witness program is a version opcode (OP_0, OP_1..OP_16)
	// followed by one direct push of 2 to 40 bytes, and nothing else.
	case n >= 4 && n <= 42 && int(s[1]) == n-2 && (s[0] == txscript.OP_0 || s[0] >= txscript.OP_1 && s[0] <= txscript.OP_16):
		if a, t := witnessAddress(s, params); t != "" {
			return a, t
		}

	case n == 35 && s[0] == txscript.OP_DATA_33 && s[34] == txscript.OP_CHECKSIG && (s[1] == 0x02 || s[1] == 0x03):
		if a, ok := pubKeyAddress(s[1:34], params); ok {
			return a, chain.ScriptP2PK
		}

	case n == 67 && s[0] == txscript.OP_DATA_65 && s[66] == txscript.OP_CHECKSIG && (s[1] == 0x04 || s[1] == 0x06 || s[1] == 0x07):
		if a, ok := pubKeyAddress(s[1:66], params); ok {
			return a, chain.ScriptP2PK
		}

	case n > 0 && s[0] == txscript.OP_RETURN:
		return "", chain.ScriptNullData
	}
	if isMultisig(s) {
		return ScriptID(s), chain.ScriptMultisig
	}
	return ScriptID(s), chain.ScriptNonStd
}

// ScriptID is the identifier ScriptAddress gives scripts without an
// address: "s-" and the hex SHA-256 of the script.
func ScriptID(pkScript []byte) string {
	sum := sha256.Sum256(pkScript)
	var buf [len(chain.ScriptIDPrefix) + 2*sha256.Size]byte
	copy(buf[:], chain.ScriptIDPrefix)
	hex.Encode(buf[len(chain.ScriptIDPrefix):], sum[:])
	return string(buf[:])
}

// witnessAddress encodes a witness program script (already matched by
// shape). It returns an empty type for v0 programs that are neither P2WPKH
// nor P2WSH.
func witnessAddress(s []byte, params *chaincfg.Params) (string, string) {
	version := byte(0)
	if s[0] != txscript.OP_0 {
		version = s[0] - txscript.OP_1 + 1
	}
	prog := s[2:]
	var typ string
	switch {
	case version == 0 && len(prog) == 20:
		typ = chain.ScriptP2WPKH
	case version == 0 && len(prog) == 32:
		typ = chain.ScriptP2WSH
	case version == 0:
		return "", ""
	case version == 1 && len(prog) == 32:
		typ = chain.ScriptP2TR
	default:
		typ = chain.ScriptWitnessUn
	}
	// BIP350: witness v1+ addresses use the bech32m checksum.
	return segwitAddress(params.Bech32HRPSegwit, version, prog, version != 0), typ
}

// bech32Charset maps 5-bit values to the characters of bech32 (BIP173).
const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// Checksum constants: bech32 (BIP173) and bech32m (BIP350).
const (
	bech32Const  = 1
	bech32mConst = 0x2bc830a3
)

// bech32Gen[b] is the XOR of BIP173's generator values selected by the
// five bits of b, so a polymod step is a shift and two XORs.
var bech32Gen = func() (t [32]uint32) {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	for b := range t {
		for i, g := range gen {
			if b>>i&1 != 0 {
				t[b] ^= g
			}
		}
	}
	return t
}()

func bech32PolymodStep(chk uint32, v byte) uint32 {
	return (chk&0x1ffffff)<<5 ^ uint32(v) ^ bech32Gen[chk>>25]
}

// segwitAddress is the bech32 (bech32m when m) address of a witness
// program (2 to 40 bytes) with a lower-case hrp, as btcutil's
// bech32.Encode of the version and the program regrouped to 5 bits would
// give, with one allocation instead of five: it runs for most outputs of
// today's chain.
func segwitAddress(hrp string, version byte, prog []byte, m bool) string {
	// The data part: the version, then the program in 5-bit groups, the
	// last one padded with zero bits.
	var data [1 + (40*8+4)/5]byte
	data[0] = version
	n := 1
	var acc uint32
	var bits uint
	for _, b := range prog {
		acc = acc<<8 | uint32(b)
		bits += 8
		for bits >= 5 {
			bits -= 5
			data[n] = byte(acc>>bits) & 31
			n++
		}
	}
	if bits > 0 {
		data[n] = byte(acc<<(5-bits)) & 31
		n++
	}
	chk := uint32(1)
	for i := 0; i < len(hrp); i++ {
		chk = bech32PolymodStep(chk, hrp[i]>>5)
	}
	chk = bech32PolymodStep(chk, 0)
	for i := 0; i < len(hrp); i++ {
		chk = bech32PolymodStep(chk, hrp[i]&31)
	}
	for _, v := range data[:n] {
		chk = bech32PolymodStep(chk, v)
	}
	for range 6 {
		chk = bech32PolymodStep(chk, 0)
	}
	if m {
		chk ^= bech32mConst
	} else {
		chk ^= bech32Const
	}
	var buf [90]byte
	out := append(buf[:0], hrp...)
	out = append(out, '1')
	for _, v := range data[:n] {
		out = append(out, bech32Charset[v])
	}
	for i := range 6 {
		out = append(out, bech32Charset[(chk>>(5*(5-i)))&31])
	}
	return string(out)
}

// pubKeyAddress is the P2PKH address of a serialized public key, if it is a
// point of the curve.
func pubKeyAddress(key []byte, params *chaincfg.Params) (string, bool) {
	if _, err := btcec.ParsePubKey(key); err != nil {
		return "", false
	}
	return base58.CheckEncode(btcutil.Hash160(key), params.PubKeyHashAddrID), true
}

// isMultisig matches bare multisig as Core's Solver does: OP_m, then n
// pushes of keys of a valid size for their prefix, OP_n with n equal to the
// number of keys and m <= n, then OP_CHECKMULTISIG.
func isMultisig(s []byte) bool {
	n := len(s)
	if n < 3+34 || s[n-1] != txscript.OP_CHECKMULTISIG {
		return false
	}
	m := smallInt(s[0])
	if m < 1 {
		return false
	}
	keys := 0
	i := 1
	for i < n-2 {
		switch {
		case s[i] == txscript.OP_DATA_33 && i+34 <= n-2 && (s[i+1] == 0x02 || s[i+1] == 0x03):
			i += 34
		case s[i] == txscript.OP_DATA_65 && i+66 <= n-2 && (s[i+1] == 0x04 || s[i+1] == 0x06 || s[i+1] == 0x07):
			i += 66
		default:
			return false
		}
		keys++
	}
	if i != n-2 {
		return false
	}
	total := smallInt(s[n-2])
	return total == keys && m <= total
}

// smallInt is the value of OP_1..OP_16, or -1.
func smallInt(op byte) int {
	if op >= txscript.OP_1 && op <= txscript.OP_16 {
		return int(op-txscript.OP_1) + 1
	}
	return -1
}
