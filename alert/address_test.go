package alert_test

import (
	"testing"

	"github.com/tracerproject/tracer/alert"
)

func TestCanonicalAddress(t *testing.T) {
	for in, want := range map[string]string{
		"BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
		"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2":         "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
	} {
		got, err := alert.CanonicalAddress("btc", in)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "hello"} {
		if _, err := alert.CanonicalAddress("btc", bad); err == nil {
			t.Errorf("%s: got no error", bad)
		}
	}
	if _, err := alert.CanonicalAddress("eth", "0x0"); err == nil {
		t.Error("eth 0x0: got no error")
	}
	if got, err := alert.CanonicalAddress("eth", "0xdAC17F958D2ee523a2206206994597C13D831ec7"); err != nil || got != "0xdac17f958d2ee523a2206206994597c13d831ec7" {
		t.Errorf("eth EIP-55: got %q, %v", got, err)
	}
	if _, err := alert.CanonicalAddress("eth", "0xdAC17F958D2ee523a2206206994597C13D831eC7"); err == nil {
		t.Error("eth with a bad EIP-55 checksum: got no error")
	}
	if _, err := alert.CanonicalAddress("tron", "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq"); err == nil {
		t.Error("tron: got no error (no tron stream to alert on)")
	}
}
