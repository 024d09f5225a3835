package labels

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/tracerproject/tracer/chain"
)

// ErrBadAddress is wrapped by every address parse error.
var ErrBadAddress = errors.New("labels: bad address")

// ParseChain accepts a chain name or a common alias (bitcoin, BTC, XBT,
// ethereum, ETH, TRON, TRX) and returns the canonical name.
func ParseChain(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "btc", "bitcoin", "xbt":
		return chain.BTC, nil
	case "eth", "ethereum":
		return chain.ETH, nil
	case "tron", "trx":
		return chain.TRON, nil
	}
	return "", fmt.Errorf("labels: unknown chain %q (want btc, eth or tron)", s)
}

// CanonicalAddress checks addr for chain and returns its canonical form:
// Bitcoin mainnet base58 as is and bech32 in lower case; Ethereum 0x and 40
// hex digits in lower case (mixed case must pass EIP-55); TRON base58check
// with the 0x41 version byte.
func CanonicalAddress(chainName, addr string) (string, error) {
	switch chainName {
	case chain.BTC:
		return canonicalBTC(addr)
	case chain.ETH:
		return canonicalETH(addr)
	case chain.TRON:
		return canonicalTRON(addr)
	}
	return "", fmt.Errorf("labels: unknown chain %q", chainName)
}

// GuessChain names the chain whose address form addr has, or "" when it
// has none of them. Forms do not overlap: TRON base58 starts with T and
// fails Bitcoin's version bytes, Ethereum starts with 0x.
func GuessChain(addr string) string {
	for _, c := range chain.Names {
		if _, err := CanonicalAddress(c, addr); err == nil {
			return c
		}
	}
	return ""
}

func canonicalBTC(addr string) (string, error) {
	if addr == "" {
		return "", fmt.Errorf("%w: empty Bitcoin address", ErrBadAddress)
	}
	a, err := btcutil.DecodeAddress(addr, &chaincfg.MainNetParams)
	if err != nil {
		return "", fmt.Errorf("%w %q: not a Bitcoin mainnet address: %v", ErrBadAddress, clip(addr), err)
	}
	switch a.(type) {
	case *btcutil.AddressPubKeyHash, *btcutil.AddressScriptHash,
		*btcutil.AddressWitnessPubKeyHash, *btcutil.AddressWitnessScriptHash, *btcutil.AddressTaproot:
	default:
		// DecodeAddress also takes a bare hex public key; that is not an
		// address anybody publishes.
		return "", fmt.Errorf("%w %q: not a Bitcoin address form (%T)", ErrBadAddress, clip(addr), a)
	}
	if !a.IsForNet(&chaincfg.MainNetParams) {
		return "", fmt.Errorf("%w %q: not a mainnet address", ErrBadAddress, clip(addr))
	}
	canon := a.EncodeAddress()
	// Base58 is case sensitive and canonical as written; bech32 may come in
	// upper case and is canonical in lower case. Anything else re-encodes
	// differently and was not what it seemed.
	if canon != addr && canon != strings.ToLower(addr) {
		return "", fmt.Errorf("%w %q: re-encodes as %s", ErrBadAddress, clip(addr), canon)
	}
	return canon, nil
}

// canonicalETH: go-ethereum's common.HexToAddress silently crops or pads
// bad input, so the checks are done here.
func canonicalETH(addr string) (string, error) {
	canon, err := chain.ParseETHAddress(addr)
	if err != nil {
		// eth's error names the address and what is wrong with it.
		return "", fmt.Errorf("%w: %w", ErrBadAddress, err)
	}
	return canon, nil
}

// tronVersion is the first byte of every TRON mainnet address (base58 "T").
const tronVersion = 0x41

func canonicalTRON(addr string) (string, error) {
	raw := base58.Decode(addr)
	if len(raw) != 25 {
		return "", fmt.Errorf("%w %q: not a TRON address (base58check of 25 bytes)", ErrBadAddress, clip(addr))
	}
	// Same checksum as Bitcoin's base58check: the first 4 bytes of
	// sha256(sha256(version || payload)).
	a := sha256.Sum256(raw[:21])
	b := sha256.Sum256(a[:])
	if string(b[:4]) != string(raw[21:]) {
		return "", fmt.Errorf("%w %q: TRON base58check checksum mismatch", ErrBadAddress, clip(addr))
	}
	if raw[0] != tronVersion {
		return "", fmt.Errorf("%w %q: version byte 0x%02x, TRON uses 0x41", ErrBadAddress, clip(addr), raw[0])
	}
	return addr, nil
}

// ClusterPrefix marks a cluster reference where an address is expected:
// "cluster:42" is the clusterer's cluster 42.
const ClusterPrefix = "cluster:"

// ParseCluster reads "cluster:ID" and returns the id in decimal.
func ParseCluster(s string) (string, bool, error) {
	rest, ok := strings.CutPrefix(s, ClusterPrefix)
	if !ok {
		return "", false, nil
	}
	id, err := strconv.ParseUint(rest, 10, 32)
	if err != nil {
		return "", true, fmt.Errorf("labels: cluster reference %q: want cluster:<id>, id a number below 2^32", clip(s))
	}
	return strconv.FormatUint(id, 10), true, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
