package eth

import "encoding/hex"

// hexAddr is the canonical form of 20 raw bytes.
func hexAddr(b []byte) string {
	out := make([]byte, 2+2*len(b))
	out[0], out[1] = '0', 'x'
	hex.Encode(out[2:], b)
	return string(out)
}
