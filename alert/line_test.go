package alert

import (
	"testing"
	"time"
)

func TestAmountText(t *testing.T) {
	for in, want := range map[string]string{"0": "0.00000000", "1": "0.00000001", "123456789": "1.23456789", "2100000000000000": "21000000.00000000", "-5": "-0.00000005"} {
		if got := amountText(in, "BTC"); got != want {
			t.Errorf("amountText(%q): got %q, want %q", in, got, want)
		}
	}
	if got := amountText("1000000000000000000", "ETH"); got != "1000000000000000000" {
		t.Errorf("non-BTC amounts stay in base units: got %q", got)
	}
}

func TestLine(t *testing.T) {
	a := &Alert{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Status: Confirmed, Severity: "high", Rule: "broker-exposure",
		Address: "bc1qexample", Direction: Incoming, Amount: "150000000", Asset: "BTC", Height: 42, Txid: "ab", Hops: 2, Value: "300000000"}
	want := "2026-01-02T03:04:05Z  confirmed   high     broker-exposure      bc1qexample incoming 1.50000000 BTC at height 42 tx ab (2 hops from a watched address; of a payment of 3.00000000)"
	if got := a.Line(); got != want {
		t.Errorf("Line:\ngot  %q\nwant %q", got, want)
	}
}
