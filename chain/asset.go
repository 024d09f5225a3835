package chain

import (
	"fmt"
	"math/big"
	"strings"
)

// ParseAsset names an asset the way transfers do: "ETH", or a token
// contract in canonical (lower-case) form. A known token's symbol (USDT,
// USDC, ...) stands for its contract; a contract in mixed case must pass
// its EIP-55 checksum.
func ParseAsset(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, AssetETH) {
		return AssetETH, nil
	}
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		a, err := ParseETHAddress(s)
		if err != nil {
			return "", fmt.Errorf("asset: %w", err)
		}
		return a, nil
	}
	for _, t := range KnownTokens {
		if strings.EqualFold(t.Symbol, s) {
			return strings.ToLower(t.Address), nil
		}
	}
	return "", fmt.Errorf("asset %q: want ETH, a token contract (0x and 40 hex digits) or a known token (%s)", s, strings.Join(KnownTokenSymbols(), ", "))
}

// AssetUnits returns the symbol and decimals of an asset as transfers name
// it: ETH has 18, a known token its own; an unknown contract has no
// decimals the tracer can trust (ok false: amounts stay in base units).
func AssetUnits(asset string) (symbol string, decimals int, ok bool) {
	if asset == AssetETH {
		return AssetETH, 18, true
	}
	if t, known := LookupToken(asset); known {
		return t.Symbol, t.Decimals, true
	}
	return asset, 0, false
}

// AssetSymbol is how output names an asset: ETH, a known token's symbol,
// else the contract.
func AssetSymbol(asset string) string {
	s, _, _ := AssetUnits(asset)
	return s
}

// FormatUnits renders an exact base-unit amount in whole units of an asset
// with decimals places, trailing zeros of the fraction dropped: 1500000
// with 6 decimals is "1.5". It never rounds.
func FormatUnits(v *big.Int, decimals int) string {
	if v == nil {
		return "0"
	}
	s := new(big.Int).Abs(v).String()
	sign := ""
	if v.Sign() < 0 {
		sign = "-"
	}
	if decimals <= 0 {
		return sign + s
	}
	if len(s) <= decimals {
		s = strings.Repeat("0", decimals-len(s)+1) + s
	}
	whole, frac := s[:len(s)-decimals], strings.TrimRight(s[len(s)-decimals:], "0")
	if frac == "" {
		return sign + whole
	}
	return sign + whole + "." + frac
}

// FormatAmount renders an exact amount of base units for people; every
// amount the project prints goes through it. With decimals ≥ 0 it is in
// whole units, the decimal point decimals digits from the right: with pad
// every decimal is kept, so that a column of amounts lines up (1 satoshi
// is "0.00000001"), else trailing zeros of the fraction are dropped (as
// FormatUnits: 1500000 with 6 decimals is "1.5"). The symbol, when not
// empty, follows after a space. With decimals < 0 (a token whose decimals
// are not known) it is the base units and the words "base units", without
// the symbol. It never rounds.
func FormatAmount(v *big.Int, decimals int, symbol string, pad bool) string {
	if v == nil {
		v = new(big.Int)
	}
	if decimals < 0 {
		return v.String() + " base units"
	}
	s := FormatUnits(v, decimals)
	if pad && decimals > 0 {
		whole, frac, _ := strings.Cut(s, ".")
		s = whole + "." + frac + strings.Repeat("0", decimals-len(frac))
	}
	if symbol != "" {
		s += " " + symbol
	}
	return s
}

// FormatBTC is FormatAmount of an amount of satoshi in BTC, padded to 8
// decimals: 1 satoshi is "0.00000001 BTC".
func FormatBTC(sat int64) string {
	return FormatAmount(big.NewInt(sat), 8, "BTC", true)
}

// FormatAsset is FormatAmount of value, a decimal string of base units of
// asset as transfers name it (AssetUnits: ETH or a token contract), with
// the asset's decimals and symbol; a value that is not a decimal integer
// is returned as it is.
func FormatAsset(value, asset string, pad bool) string {
	v, ok := new(big.Int).SetString(value, 10)
	if !ok {
		return value
	}
	symbol, decimals, known := AssetUnits(asset)
	if !known {
		decimals = -1
	}
	return FormatAmount(v, decimals, symbol, pad)
}
