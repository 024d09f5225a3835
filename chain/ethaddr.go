package chain

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/sha3"
)

// ErrBadETHAddress is wrapped by every address parse error.
var ErrBadETHAddress = errors.New("eth: bad address")

// ParseETHAddress accepts a 20-byte address as 0x followed by 40 hex digits in
// any case and returns its canonical form, lower-case with 0x. Mixed case
// is an EIP-55 checksum and must verify: a typo in a checksummed address
// is rejected instead of naming somebody else's account. (go-ethereum's
// common.HexToAddress silently crops or pads bad input.)
func ParseETHAddress(s string) (string, error) {
	body, ok := strings.CutPrefix(s, "0x")
	if !ok {
		body, ok = strings.CutPrefix(s, "0X")
	}
	if !ok {
		return "", fmt.Errorf("%w %q: want 0x followed by 40 hex digits", ErrBadETHAddress, clip(s))
	}
	if len(body) != 40 {
		return "", fmt.Errorf("%w %q: %d hex digits, want 40", ErrBadETHAddress, clip(s), len(body))
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
			return "", fmt.Errorf("%w %q: %q at position %d is not a hex digit", ErrBadETHAddress, clip(s), c, i+2)
		}
	}
	canon := "0x" + strings.ToLower(body)
	if lower && upper && checksum(canon) != "0x"+body {
		return "", fmt.Errorf("%w %q: mixed case that fails the EIP-55 checksum (want %s)", ErrBadETHAddress, s, checksum(canon))
	}
	return canon, nil
}

// checksum returns the EIP-55 form of a canonical (lower-case) address:
// a letter is upper case when the matching nibble of keccak256 of the
// lower-case hex is 8 or more.
func checksum(canon string) string {
	body := []byte(canon[2:])
	k := sha3.NewLegacyKeccak256()
	k.Write(body)
	h := k.Sum(nil)
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

// ETHChecksum returns the EIP-55 mixed-case form of an address in any case.
func ETHChecksum(addr string) (string, error) {
	canon, err := ParseETHAddress(addr)
	if err != nil {
		return "", err
	}
	return checksum(canon), nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
