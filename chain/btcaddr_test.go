package chain

import "testing"

func TestCheckBTCAddress(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", true},
		{"3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", true},
		{"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", true},
		{"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", true},
		{"bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", true},
		{"s-" + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", true},
		{"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", false}, // checksum
		{"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", false},
		{"s-0011", false},
		{"", false},
		{"' OR 1=1 --", false},
		{"0xdAC17F958D2ee523a2206206994597C13D831ec7", false},
	}
	for _, tc := range tests {
		err := CheckBTCAddress(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("CheckBTCAddress(%q): got %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}
