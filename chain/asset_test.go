package chain_test

import (
	"math/big"
	"testing"

	"github.com/tracerproject/tracer/chain"
)

func TestFormatAmount(t *testing.T) {
	big20, _ := new(big.Int).SetString("12000000000000000000", 10)
	for _, tc := range []struct {
		name     string
		v        *big.Int
		decimals int
		symbol   string
		pad      bool
		want     string
	}{
		{"one satoshi", big.NewInt(1), 8, "", true, "0.00000001"},
		{"zero satoshi", big.NewInt(0), 8, "", true, "0.00000000"},
		{"nil", nil, 8, "", true, "0.00000000"},
		{"negative satoshi", big.NewInt(-5), 8, "", true, "-0.00000005"},
		{"21 million BTC", big.NewInt(2_100_000_000_000_000), 8, "BTC", true, "21000000.00000000 BTC"},
		{"USDT trimmed", big.NewInt(1_500_000), 6, "USDT", false, "1.5 USDT"},
		{"USDT whole trimmed", big.NewInt(2_000_000), 6, "USDT", false, "2 USDT"},
		{"USDT padded", big.NewInt(1_500_000), 6, "USDT", true, "1.500000 USDT"},
		{"ETH beyond 64 bits", big20, 18, "ETH", true, "12.000000000000000000 ETH"},
		{"no decimals", big.NewInt(42), 0, "X", true, "42 X"},
		{"unknown decimals", big.NewInt(42), -1, "0xabc", false, "42 base units"},
	} {
		if got := chain.FormatAmount(tc.v, tc.decimals, tc.symbol, tc.pad); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct{ value, asset, want string }{
		{"1500000000000000000", chain.AssetETH, "1.500000000000000000 ETH"},
		{"2500000", "0xdac17f958d2ee523a2206206994597c13d831ec7", "2.500000 USDT"},
		{"7", "0x1111111111111111111111111111111111111111", "7 base units"},
		{"not a number", chain.AssetETH, "not a number"},
	} {
		if got := chain.FormatAsset(tc.value, tc.asset, true); got != tc.want {
			t.Errorf("FormatAsset(%q, %q): got %q, want %q", tc.value, tc.asset, got, tc.want)
		}
	}
}
