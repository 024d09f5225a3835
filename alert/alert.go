// Package alert tells subscribers, within a second of a block reaching the
// stream, that money moved to or from a watched wallet.
//
// The alerter is a durable consumer of a chain stream. For every block it
// evaluates the configured rules and publishes each match as JSON (format
// tracer.alert.v1) on alerts.<chain>.<severity>.<rule>, into the ALERTS
// JetStream stream, so that core NATS subscribers (`nats sub 'alerts.>'`)
// and stream consumers (`tracer alerts tail`) both receive it. An alert goes
// out once per state:
//
//   - provisional: the block is the chain's newest, or not yet buried under
//     the configured confirmations;
//   - confirmed: the block has its confirmations;
//   - retracted: the block was reorged out (Retracts names the alert).
//
// Every published state is also stored in ClickHouse (table alerts), which
// is how a restarted alerter knows what it has sent: a block delivered
// again publishes nothing twice. The one window left is a crash between
// publishing and storing: JetStream drops the repeat (same message id) for
// stream consumers, a core subscriber may see it twice.
package alert

import (
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/tracerproject/tracer/chain"
)

// Format is the version of the alert payload.
const Format = "tracer.alert.v1"

// Status is the state of an alert.
type Status string

// States an alert goes through.
const (
	Provisional Status = "provisional"
	Confirmed   Status = "confirmed"
	Retracted   Status = "retracted"
)

func (s Status) rank() uint8 {
	switch s {
	case Provisional:
		return 1
	case Confirmed:
		return 2
	case Retracted:
		return 3
	}
	return 0
}

// Direction is which way money moved relative to the watched address.
type Direction string

// Directions.
const (
	Incoming Direction = "incoming"
	Outgoing Direction = "outgoing"
)

// Alert is one match of a rule, as published and stored.
type Alert struct {
	Format    string    `json:"format"`
	ID        string    `json:"id"`
	Status    Status    `json:"status"`
	Retracts  string    `json:"retracts,omitempty"` // for retractions: the alert's ID
	Rule      string    `json:"rule"`
	Kind      string    `json:"kind"` // the rule's kind: watch, repeated-payments or exposure
	Severity  string    `json:"severity"`
	Chain     string    `json:"chain"`
	Txid      string    `json:"txid"`
	BlockHash string    `json:"block_hash"`
	Height    int64     `json:"height"`
	Time      time.Time `json:"time"`
	Direction Direction `json:"direction"`
	// Address is the watched address money moved to or from.
	Address string `json:"address"`
	// Counterparties are the addresses on the other side of the
	// transaction (inputs for incoming, outputs for outgoing), at most
	// maxCounterparties of them.
	Counterparties []string `json:"counterparties"`
	// Amount moved to or from Address in the transaction, in base units
	// (satoshi), as a decimal string: exact for every chain's values. For
	// an exposure alert: the part of the payment that came from the
	// watched addresses (haircut), and Value is the whole payment.
	Amount string `json:"amount"`
	Value  string `json:"value,omitempty"`
	Asset  string `json:"asset"`
	// Hops, for an exposure alert: how many owners the money passed
	// through from the watched address (2 or more), and Path the
	// transactions it took, from the watched address to Address.
	Hops int        `json:"hops,omitempty"`
	Path []PathStep `json:"path,omitempty"`
	// Matched says why the address is watched: the watch list entries (and,
	// once labels exist, the labels with their sources).
	Matched []Match `json:"matched"`
	// Payments, for a repeated-payments alert: the earlier payments of the
	// pattern, oldest first.
	Payments []Payment `json:"payments,omitempty"`
}

// Match is one reason an address is watched.
type Match struct {
	List   string `json:"list"` // the rule's watch list: "inline" or the file
	Entry  string `json:"entry"`
	Source string `json:"source,omitempty"`
}

// Payment is one earlier payment in a repeated-payments alert.
type Payment struct {
	Txid   string `json:"txid"`
	Height int64  `json:"height"`
	From   string `json:"from"`
	Amount string `json:"amount"`
}

// Subject is where the alert is published.
func (a *Alert) Subject() string {
	return "alerts." + a.Chain + "." + a.Severity + "." + a.Rule
}

// MsgID identifies one state of one alert for JetStream's deduplication.
func (a *Alert) MsgID() string { return a.ID + "#" + string(a.Status) }

// alertID names an alert by what it is about, so that evaluating the same
// block again gives the same ID.
func alertID(rule, chain, blockHash, txid string, dir Direction, address string) string {
	return strings.Join([]string{rule, chain, blockHash, txid, string(dir), address}, ":")
}

// Severities, lowest first.
var severities = []string{"info", "low", "medium", "high", "critical"}

func checkSeverity(s string) error {
	for _, v := range severities {
		if s == v {
			return nil
		}
	}
	return fmt.Errorf("severity %q: want one of %s", s, strings.Join(severities, ", "))
}

// Line describes the alert on one line for people: time, status, severity,
// rule, address, direction, amount, block and transaction, then the earlier
// payments of a repeated-payment alert or the hops of an exposure alert.
func (a *Alert) Line() string {
	s := fmt.Sprintf("%s  %-11s %-8s %-20s %s %s %s %s at height %d tx %s",
		a.Time.Format(time.RFC3339), a.Status, a.Severity, a.Rule, a.Address, a.Direction, amountText(a.Amount, a.Asset), a.Asset, a.Height, a.Txid)
	if len(a.Payments) > 0 {
		s += fmt.Sprintf(" (%d earlier payments)", len(a.Payments))
	}
	if a.Hops > 0 {
		s += fmt.Sprintf(" (%d hops from a watched address; of a payment of %s)", a.Hops, amountText(a.Value, a.Asset))
	}
	return s
}

// amountText shows satoshi as BTC with eight decimals, exactly; other
// assets stay in base units.
func amountText(amount, asset string) string {
	if asset != "BTC" {
		return amount
	}
	v, _ := new(big.Int).SetString(amount, 10)
	return chain.FormatAmount(v, 8, "", true)
}
