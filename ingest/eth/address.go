package eth

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/crypto"
)

// ErrBadAddress is wrapped by every address parse error.
var ErrBadAddress = errors.New("eth: bad address")

// ParseAddress accepts a 20-byte address as 0x followed by 40 hex digits in
// any case and returns its canonical form, lower-case with 0x. Mixed case
// is an EIP-55 checksum and must verify: a typo in a checksummed address
// is rejected instead of naming somebody else's account. (go-ethereum's
// common.HexToAddress silently crops or pads bad input.)
func ParseAddress(s string) (string, error) {
	body, ok := strings.CutPrefix(s, "0x")
	if !ok {
		body, ok = strings.CutPrefix(s, "0X")
	}
	if !ok {
		return "", fmt.Errorf("%w %q: want 0x followed by 40 hex digits", ErrBadAddress, clip(s))
	}
	if len(body) != 40 {
		return "", fmt.Errorf("%w %q: %d hex digits, want 40", ErrBadAddress, clip(s), len(body))
	}
	var lower, upper bool
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'f':
			lower = true
		case c >= 'A' && c <= 'F':
			upper = true
		default:
			return "", fmt.Errorf("%w %q: %q at position %d is not a hex digit", ErrBadAddress, clip(s), c, i+2)
		}
	}
	canon := "0x" + strings.ToLower(body)
	if lower && upper && checksum(canon) != "0x"+body {
		return "", fmt.Errorf("%w %q: mixed case that fails the EIP-55 checksum (want %s)", ErrBadAddress, s, checksum(canon))
	}
	return canon, nil
}

// checksum returns the EIP-55 form of a canonical (lower-case) address:
// a letter is upper case when the matching nibble of keccak256 of the
// lower-case hex is 8 or more.
func checksum(canon string) string {
	body := []byte(canon[2:])
	h := crypto.Keccak256(body)
	for i := range body {
		if body[i] < 'a' {
			continue
		}
		nib := h[i/2] >> 4
		if i%2 == 1 {
			nib = h[i/2] & 0xf
		}
		if nib >= 8 {
			body[i] -= 'a' - 'A'
		}
	}
	return "0x" + string(body)
}

// Checksum returns the EIP-55 mixed-case form of an address in any case.
func Checksum(addr string) (string, error) {
	canon, err := ParseAddress(addr)
	if err != nil {
		return "", err
	}
	return checksum(canon), nil
}

// hexAddr is the canonical form of 20 raw bytes.
func hexAddr(b []byte) string {
	out := make([]byte, 2+2*len(b))
	out[0], out[1] = '0', 'x'
	hex.Encode(out[2:], b)
	return string(out)
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
