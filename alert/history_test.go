package alert

import (
	"fmt"
	"math/big"
	"testing"
)

// TestHistoryBounded checks that the repeated-payments history holds only
// the payments within their rule's window: a stream of payers who each pay
// once must not grow it block after block.
func TestHistoryBounded(t *testing.T) {
	const window = 10
	r := &Rule{RuleConfig: RuleConfig{Name: "repeat", Kind: KindRepeated, Chain: "btc", MinPayments: 2, TolerancePct: 10, WindowBlocks: window}}
	a, err := New(nil, nil, Config{Chain: "btc", Durable: "alerter", Confirmations: 1, Rules: []*Rule{r}})
	if err != nil {
		t.Fatal(err)
	}
	const blocks = 1000
	for h := int64(1); h <= blocks; h++ {
		for i := range 3 {
			c := Candidate{
				Rule:  r,
				Alert: &Alert{Address: "watched", Txid: fmt.Sprintf("tx-%d-%d", h, i), BlockHash: fmt.Sprintf("block-%d", h), Height: h},
				Payer: fmt.Sprintf("payer-%d-%d", h, i),
				Value: big.NewInt(100_000),
			}
			if al, _ := a.pattern(c); al != nil {
				t.Fatalf("height %d: a payer who paid once made a pattern", h)
			}
		}
		payments := 0
		for _, list := range a.history {
			payments += len(list)
		}
		if want := 3 * min(h, window); len(a.history) > int(want) || payments > int(want) {
			t.Fatalf("height %d: history holds %d keys and %d payments, want at most %d (the window's)", h, len(a.history), payments, want)
		}
	}
	// A payer paying again within the window still makes the pattern.
	c := Candidate{Rule: r, Alert: &Alert{Address: "watched", Txid: "again", BlockHash: "block-again", Height: blocks + 1},
		Payer: fmt.Sprintf("payer-%d-0", blocks), Value: big.NewInt(100_000)}
	if al, _ := a.pattern(c); al == nil || len(al.Payments) != 1 {
		t.Errorf("a second payment within the window: got %v, want an alert with one earlier payment", al)
	}
}
