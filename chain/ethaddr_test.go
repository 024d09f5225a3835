package chain

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAddress(t *testing.T) {
	const usdt = "0xdac17f958d2ee523a2206206994597c13d831ec7"
	tests := []struct {
		name, in, want string
		bad            bool
	}{
		{"checksummed", "0xdAC17F958D2ee523a2206206994597C13D831ec7", usdt, false},
		{"lower", usdt, usdt, false},
		{"upper body", "0x" + strings.ToUpper(usdt[2:]), usdt, false},
		{"upper prefix", "0X" + usdt[2:], usdt, false},
		{"bad checksum", "0xdAC17F958D2ee523a2206206994597C13D831eC7", "", true},
		{"short", usdt[:41], "", true},
		{"long", usdt + "0", "", true},
		{"no prefix", usdt[2:], "", true},
		{"not hex", "0xgac17f958d2ee523a2206206994597c13d831ec7", "", true},
		{"empty", "", "", true},
		{"eip55 vector 1", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", false},
		{"eip55 vector 2", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359", false},
		{"eip55 vector 2 typo", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d35a", "", true},
	}
	for _, tc := range tests {
		got, err := ParseETHAddress(tc.in)
		if tc.bad {
			if err == nil || !errors.Is(err, ErrBadETHAddress) {
				t.Errorf("%s: ParseETHAddress(%q) = %q, %v; want an ErrBadETHAddress", tc.name, tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: ParseETHAddress(%q) = %q, %v; want %q", tc.name, tc.in, got, err, tc.want)
		}
	}
}

func TestChecksumRoundTrip(t *testing.T) {
	for _, tok := range KnownTokens {
		got, err := ETHChecksum(tok.Address)
		if err != nil || got != tok.Address {
			t.Errorf("%s: ETHChecksum(%s) = %s, %v: the list's address is not in its EIP-55 form", tok.Symbol, tok.Address, got, err)
		}
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"0xdAC17F958D2ee523a2206206994597C13D831ec7", "0xdac17f958d2ee523a2206206994597c13d831ec7", "0x", "", "0xZZ", "0X" + strings.Repeat("F", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseETHAddress(s)
		if err != nil {
			return
		}
		if len(got) != 42 || got != strings.ToLower(got) || !strings.EqualFold(got[2:], s[2:]) {
			t.Fatalf("ParseETHAddress(%q) = %q: not the canonical form of the input", s, got)
		}
		cs, err := ETHChecksum(got)
		if err != nil {
			t.Fatalf("ETHChecksum(%q): %v", got, err)
		}
		if again, err := ParseETHAddress(cs); err != nil || again != got {
			t.Fatalf("the checksummed form %q of %q parses to %q, %v", cs, got, again, err)
		}
	})
}
