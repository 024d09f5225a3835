package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/tracerproject/tracer/alert"
	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/store"
)

// exposureHops is the broker-exposure rule's hop limit.
const exposureHops = 3

// alertRules watches the planted scenario the way an investigator would
// after learning the brokers' and cartels' addresses: every payment into a
// broker or cartel wallet, the repeated payments of one price that
// precursor purchases look like, and broker money a few hops on.
func alertRules(truth *simulate.Truth, log *slog.Logger) (*alert.Config, error) {
	var brokers, cartels []string
	for _, e := range truth.EntitiesOf(simulate.KindBroker) {
		brokers = append(brokers, e.Addresses...)
	}
	for _, e := range truth.EntitiesOf(simulate.KindCartel) {
		cartels = append(cartels, e.Addresses...)
	}
	rules, err := alert.Rules([]alert.RuleConfig{
		{Name: "broker-payments", Severity: "high", Direction: "incoming", Watch: alert.WatchList{Addresses: brokers}},
		{Name: "cartel-payments", Severity: "critical", Direction: "incoming", Watch: alert.WatchList{Addresses: cartels}},
		{Name: "precursor-purchases", Kind: alert.KindRepeated, Severity: "critical", MinPayments: 3, TolerancePct: 5, WindowBlocks: 1000,
			Watch: alert.WatchList{Addresses: brokers}},
		{Name: "broker-exposure", Kind: alert.KindExposure, Severity: "medium", Hops: exposureHops, MinAmount: "100000", MinSharePct: 10,
			Watch: alert.WatchList{Addresses: brokers}},
	}, labels.CanonicalAddress)
	if err != nil {
		return nil, err
	}
	cfg := alert.DefaultConfig(chain.BTC)
	cfg.Rules, cfg.Logger = rules, log
	return &cfg, nil
}

// alerts says what the alerter published while the demo ingested, next to
// what the ground truth planted.
func alerts(ctx context.Context, w io.Writer, st *store.Store, truth *simulate.Truth, cfg Config, data string) error {
	list, err := alert.List(ctx, st.Conn(), alert.Filter{Since: time.Now().Add(-time.Hour), Limit: 100_000})
	if err != nil {
		return err
	}
	type count struct{ provisional, confirmed, premine int }
	byRule := map[string]*count{}
	var example, exposed *alert.Alert
	reached := map[string]bool{} // txid/address of exposure alerts
	for _, a := range list {
		if a.Kind == alert.KindExposure {
			reached[a.Txid+"/"+a.Address] = true
			if exposed == nil || a.Hops > exposed.Hops || a.Hops == exposed.Hops && a.Height > exposed.Height {
				exposed = a
			}
		}
		c := byRule[a.Rule]
		if c == nil {
			c = &count{}
			byRule[a.Rule] = c
		}
		switch a.Status {
		case alert.Provisional:
			c.provisional++
			if len(a.Counterparties) == 1 && a.Counterparties[0] == "coinbase" {
				c.premine++
			}
		case alert.Confirmed:
			c.confirmed++
		}
		if a.Rule == "precursor-purchases" && (example == nil || a.Height > example.Height) {
			example = a
		}
	}
	planted := map[simulate.FlowKind]int{}
	var onward, found int // planted cash-outs and cartel payments within the exposure hops
	for _, f := range truth.Flows {
		planted[f.Kind]++
		// A flow with k intermediaries is k+1 hops from the broker.
		if (f.Kind == simulate.FlowCashOut || f.Kind == simulate.FlowCartel) && f.Hops+1 >= 2 && f.Hops+1 <= exposureHops {
			onward++
			if reached[f.Txid+"/"+f.Address] {
				found++
			}
		}
	}
	fmt.Fprintf(w, "\n6. Alerts published on alerts.btc.<severity>.<rule> while the blocks went through (2 confirmations)\n")
	t := newTable(w)
	row(t, "  rule", "alerts", "confirmed", "still provisional", "planted")
	for _, r := range []struct{ name, planted string }{
		{"broker-payments", fmt.Sprintf("%d purchases (a purchase may pay a broker twice in one tx)", planted[simulate.FlowPurchase])},
		{"cartel-payments", fmt.Sprintf("%d payments to cartels, and starting coins from coinbases", planted[simulate.FlowCartel])},
		{"precursor-purchases", fmt.Sprintf("%d: a buyer's 3rd and later payment of one price (±5%%) to one broker", repeatedPurchases(truth))},
		{"broker-exposure", fmt.Sprintf("broker money 2-%d hops on (haircut, >= 10%% of a payment); %d of the %d planted cash-outs and cartel payments that far are among them", exposureHops, found, onward)},
	} {
		c := byRule[r.name]
		if c == nil {
			c = &count{}
		}
		planted := r.planted
		if c.premine > 0 {
			planted = fmt.Sprintf("%s (%d)", planted, c.premine)
		}
		row(t, "  "+r.name, c.provisional, c.confirmed, c.provisional-c.confirmed, planted)
	}
	t.Flush()
	if example != nil {
		fmt.Fprintf(w, "   e.g. %s\n", example.Line())
	}
	if exposed != nil {
		fmt.Fprintf(w, "   e.g. %s\n", exposed.Line())
		for _, s := range exposed.Path {
			note := ""
			if s.SameOwner {
				note = " (same owner: no hop)"
			}
			fmt.Fprintf(w, "        %s  %s -> %s  %s sat%s\n", s.Txid, s.From, s.To, s.Amount, note)
		}
	}
	fmt.Fprintf(w, "   %s --data %s alerts list --since 1h\n", cfg.Self, data)
	return nil
}

// repeatedPurchases counts the planted purchases that are a buyer's third
// or later payment, within 5% of the same amount, to the same broker:
// what the precursor-purchases rule looks for, from the truth.
func repeatedPurchases(truth *simulate.Truth) int {
	type key struct{ buyer, broker int }
	type pay struct {
		height, amount int64
	}
	by := map[key][]pay{}
	for _, f := range truth.Flows {
		if f.Kind == simulate.FlowPurchase {
			k := key{f.From, f.To}
			by[k] = append(by[k], pay{f.Height, f.Amount})
		}
	}
	n := 0
	for _, ps := range by {
		for _, p := range ps {
			earlier := 0
			for _, q := range ps {
				d := q.amount - p.amount
				if d < 0 {
					d = -d
				}
				if q.height < p.height && d*100 <= q.amount*5 {
					earlier++
				}
			}
			if earlier+1 >= 3 {
				n++
			}
		}
	}
	return n
}
