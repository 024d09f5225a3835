package chain

import (
	"strings"
)

// Token is what the tracer knows about an ERC-20 contract without asking a
// node.
type Token struct {
	Address  string `json:"address"` // canonical
	Symbol   string `json:"symbol"`
	Decimals int    `json:"decimals"`
}

// KnownTokens are the major USD stablecoins on Ethereum mainnet, the
// default selection of --tokens. Addresses are written in their EIP-55
// form and checked by the tests.
var KnownTokens = []Token{
	{"0xdAC17F958D2ee523a2206206994597C13D831ec7", "USDT", 6},  // Tether
	{"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "USDC", 6},  // Circle
	{"0x6B175474E89094C44Da98b954EedeAC495271d0F", "DAI", 18},  // MakerDAO
	{"0x4Fabb145d64652a948d72533023f6E7A623C7C53", "BUSD", 18}, // Paxos/Binance
	{"0x0000000000085d4780B73119b644AE5ecd22b376", "TUSD", 18}, // TrueUSD
	{"0x8E870D67F660D95d5be530380D0eC0bd388289E1", "USDP", 18}, // Pax Dollar
	{"0x6c3ea9036406852006290770BEdFcAbA0e23A0e8", "PYUSD", 6}, // PayPal USD
	{"0x056Fd409E1d7A124BD7017459dFEa2F387b6d5Cd", "GUSD", 2},  // Gemini Dollar
}

var knownByAddr = func() map[string]Token {
	m := make(map[string]Token, len(KnownTokens))
	for _, t := range KnownTokens {
		m[strings.ToLower(t.Address)] = Token{strings.ToLower(t.Address), t.Symbol, t.Decimals}
	}
	return m
}()

// LookupToken returns the metadata of a known token contract.
func LookupToken(addr string) (Token, bool) {
	t, ok := knownByAddr[strings.ToLower(addr)]
	return t, ok
}

// KnownTokenSymbols lists the symbols of KnownTokens.
func KnownTokenSymbols() []string {
	var out []string
	for _, t := range KnownTokens {
		out = append(out, t.Symbol)
	}
	return out
}
