package alert

import (
	"bufio"
	"errors"
	"fmt"
	"math/big"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/tracerproject/tracer/chain"
)

// Rule kinds.
const (
	// KindWatch fires on every payment to or from a watched address.
	KindWatch = "watch"
	// KindRepeated fires when a watched address receives the n-th payment
	// of consistent amounts from the same payer within a window: the shape
	// precursor purchases take (a buyer paying a broker the same price
	// again and again).
	KindRepeated = "repeated-payments"
)

// kinds lists the rule kinds for errors.
var kinds = []string{KindWatch, KindRepeated, KindExposure}

// RuleConfig is a rule as configured (alerts.rules in the configuration).
type RuleConfig struct {
	Name     string `yaml:"name"`
	Kind     string `yaml:"kind"`     // watch (default), repeated-payments or exposure
	Severity string `yaml:"severity"` // info, low, medium, high, critical
	Chain    string `yaml:"chain"`    // btc (default)
	// Direction: incoming, outgoing or both (default). repeated-payments
	// looks at incoming payments only.
	Direction string `yaml:"direction"`
	// MinAmount in base units (satoshi, wei, token units), as a decimal
	// string; "" or "0": any amount. For exposure: the least taint of a
	// payment that alerts and of an output that is followed (required). MinAmounts sets it per asset on
	// account chains (key: ETH, a known token's symbol such as USDT, or
	// the token contract), over MinAmount.
	MinAmount  string            `yaml:"min_amount"`
	MinAmounts map[string]string `yaml:"min_amounts"`
	// Assets, on account chains: only transfers of these (same keys as
	// MinAmounts); empty: every asset.
	Assets []string  `yaml:"assets"`
	Watch  WatchList `yaml:"watch"`
	// For repeated-payments: how many payments make the pattern, how far
	// their amounts may lie from the first one (percent), and within how
	// many blocks.
	MinPayments  int `yaml:"min_payments"`
	TolerancePct int `yaml:"tolerance_pct"`
	WindowBlocks int `yaml:"window_blocks"`
	// For exposure: the most hops from a watched address (2..10, default
	// 3); the least share of a payment, in percent, that must come from
	// the watched addresses (0–100, default 0); and how many blocks of the
	// stream a starting alerter replays to rebuild what it follows (default
	// 1008, a week).
	Hops           int `yaml:"hops"`
	MinSharePct    int `yaml:"min_share_pct"`
	LookbackBlocks int `yaml:"lookback_blocks"`
}

// WatchList says which addresses a rule watches.
type WatchList struct {
	Addresses []string `yaml:"addresses"`
	// Files hold one address per line; # starts a comment.
	Files []string `yaml:"files"`
	// Categories of labels (precursor-broker, cartel, sanctioned, ...):
	// every address labelled so is watched. Needs the labels store.
	Categories []string `yaml:"categories"`
	// Clusters: every member of these clusters, given by id or by an
	// address in them ("the cluster of this address", which stays right
	// when the cluster merges into another and changes id). Bitcoin only;
	// needs the clusterer's tables.
	Clusters []string `yaml:"clusters"`
}

// Rule is a validated rule with its watch list loaded.
type Rule struct {
	RuleConfig
	min      *big.Int
	clusters []clusterRef
	minAsset map[string]*big.Int // by canonical asset (ETH or a contract)
	assets   map[string]bool     // nil: every asset
	incoming bool
	outgoing bool
	// Exposure rules: receiving (money from the watched addresses reaches
	// others) and sending (others' money reaches the watched addresses).
	receiving, sending bool
	addresses          map[string]Match // address → why it is watched
}

var ruleName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// AddressCheck validates an address of a chain and returns its canonical
// form; the alerter is given the chain packages' checks.
type AddressCheck func(chain, address string) (string, error)

// NewRule validates a configured rule and loads its watch list. Errors name
// the rule and what is wrong with it, and for watch files the file and line.
func NewRule(c RuleConfig, check AddressCheck) (*Rule, error) {
	fail := func(format string, a ...any) (*Rule, error) {
		return nil, fmt.Errorf("alert rule %q: "+format, append([]any{c.Name}, a...)...)
	}
	if !ruleName.MatchString(c.Name) {
		return nil, fmt.Errorf("alert rule name %q: want lower-case letters, digits, - and _ (it becomes a NATS subject token)", c.Name)
	}
	if c.Kind == "" {
		c.Kind = KindWatch
	}
	if c.Chain == "" {
		c.Chain = "btc"
	}
	if c.Severity == "" {
		c.Severity = "high"
	}
	if err := checkSeverity(c.Severity); err != nil {
		return fail("%v", err)
	}
	r := &Rule{RuleConfig: c, min: new(big.Int), addresses: map[string]Match{}}
	switch c.Direction {
	case "", "both":
		r.incoming, r.outgoing = true, true
	case string(Incoming):
		r.incoming = true
	case string(Outgoing):
		r.outgoing = true
	default:
		return fail("direction %q: want incoming, outgoing or both", c.Direction)
	}
	switch c.Kind {
	case KindWatch:
	case KindRepeated:
		if c.Direction == string(Outgoing) {
			return fail("repeated-payments watches incoming payments; direction %q makes no sense", c.Direction)
		}
		r.incoming, r.outgoing = true, false
		if r.MinPayments == 0 {
			r.MinPayments = 3
		}
		if r.WindowBlocks == 0 {
			r.WindowBlocks = 4032 // four weeks of blocks
		}
		if r.MinPayments < 2 || r.TolerancePct < 0 || r.TolerancePct > 100 || r.WindowBlocks < 1 {
			return fail("min_payments %d (≥ 2), tolerance_pct %d (0–100) and window_blocks %d (≥ 1) out of range", r.MinPayments, r.TolerancePct, r.WindowBlocks)
		}
	case KindExposure:
		if c.Chain != "btc" {
			return fail("exposure rules follow Bitcoin's outputs; chain %q is not supported yet", c.Chain)
		}
		// incoming: receiving exposure (money from the watched addresses
		// arrives); outgoing: sending exposure (money reaches them).
		r.receiving, r.sending = r.incoming, r.outgoing
		r.incoming, r.outgoing = false, false
		if r.Hops == 0 {
			r.Hops = DefaultExposureHops
		}
		if r.LookbackBlocks == 0 {
			r.LookbackBlocks = DefaultLookbackBlocks
		}
		if r.Hops < 2 || r.Hops > MaxExposureHops || r.MinSharePct < 0 || r.MinSharePct > 100 || r.LookbackBlocks < 1 {
			return fail("hops %d (2–%d), min_share_pct %d (0–100) and lookback_blocks %d (≥ 1) out of range", r.Hops, MaxExposureHops, r.MinSharePct, r.LookbackBlocks)
		}
		if n, ok := new(big.Int).SetString(c.MinAmount, 10); !ok || n.Sign() <= 0 || !n.IsInt64() {
			return fail("min_amount %q: an exposure rule needs a positive amount in satoshi (it bounds the outputs followed)", c.MinAmount)
		}
	default:
		return fail("kind %q: want one of %s", c.Kind, strings.Join(kinds, ", "))
	}
	if c.Kind != KindExposure && (c.Hops != 0 || c.MinSharePct != 0 || c.LookbackBlocks != 0) {
		return fail("hops, min_share_pct and lookback_blocks apply to exposure rules only")
	}
	if c.MinAmount != "" {
		if _, ok := r.min.SetString(c.MinAmount, 10); !ok || r.min.Sign() < 0 {
			return fail("min_amount %q: want a non-negative integer in base units", c.MinAmount)
		}
	}
	if (len(c.MinAmounts) > 0 || len(c.Assets) > 0) && c.Chain == "btc" {
		return fail("min_amounts and assets apply to account chains (eth); btc has one asset: use min_amount")
	}
	for k, v := range c.MinAmounts {
		asset, err := chain.ParseAsset(k)
		if err != nil {
			return fail("min_amounts: %v", err)
		}
		n, ok := new(big.Int).SetString(v, 10)
		if !ok || n.Sign() < 0 {
			return fail("min_amounts[%s] %q: want a non-negative integer in base units", k, v)
		}
		if r.minAsset == nil {
			r.minAsset = map[string]*big.Int{}
		}
		r.minAsset[asset] = n
	}
	for _, k := range c.Assets {
		asset, err := chain.ParseAsset(k)
		if err != nil {
			return fail("assets: %v", err)
		}
		if r.assets == nil {
			r.assets = map[string]bool{}
		}
		r.assets[asset] = true
	}
	for _, a := range c.Watch.Addresses {
		canon, err := check(c.Chain, a)
		if err != nil {
			return fail("watch.addresses: %v", err)
		}
		r.addresses[canon] = Match{List: "inline", Entry: a}
	}
	for _, f := range c.Watch.Files {
		if err := r.loadFile(f, check); err != nil {
			return fail("%v", err)
		}
	}
	for _, e := range c.Watch.Clusters {
		if _, err := strconv.ParseUint(e, 10, 32); err == nil {
			r.clusters = append(r.clusters, clusterRef{id: e})
			continue
		}
		canon, err := check(c.Chain, e)
		if err != nil {
			return fail("watch.clusters: %q is neither a cluster id nor an address: %v", e, err)
		}
		r.clusters = append(r.clusters, clusterRef{address: canon})
	}
	if len(c.Watch.Clusters) > 0 && c.Chain != "btc" {
		return fail("watch.clusters: clusters are Bitcoin only")
	}
	if len(r.addresses) == 0 && len(c.Watch.Categories) == 0 && len(r.clusters) == 0 {
		return fail("watches no address, label category or cluster")
	}
	return r, nil
}

// clusterRef is a watched cluster: by id, or the cluster of an address.
type clusterRef struct{ id, address string }

// watchResolved replaces the addresses a list (labels or clusters) added
// before with the ones it gives now: lists change.
func (r *Rule) watchResolved(list string, found map[string]Match) {
	for a, m := range r.addresses {
		if m.List == list {
			delete(r.addresses, a)
		}
	}
	for a, m := range found {
		if _, ok := r.addresses[a]; ok {
			continue // listed by hand too: the list says why
		}
		r.addresses[a] = m
	}
}

// minFor is the smallest amount of asset the rule alerts on.
func (r *Rule) minFor(asset string) *big.Int {
	if m, ok := r.minAsset[asset]; ok {
		return m
	}
	return r.min
}

// wantsAsset says whether the rule looks at transfers of asset.
func (r *Rule) wantsAsset(asset string) bool { return r.assets == nil || r.assets[asset] }

// Categories are the label categories the rule watches.
func (r *Rule) Categories() []string { return r.Watch.Categories }

// watchLabelled watches the addresses labelled with the rule's categories,
// instead of those read before (a newer label list may drop some).
func (r *Rule) watchLabelled(labelled []Labelled) {
	found := map[string]Match{}
	for _, l := range labelled {
		found[l.Address] = Match{List: labelList, Entry: l.Category + ": " + l.Entity, Source: l.Source}
	}
	r.watchResolved(labelList, found)
}

// labelList names the watch list of labelled addresses in a Match.
const labelList = "labels"

func (r *Rule) loadFile(path string, check AddressCheck) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("watch file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		canon, err := check(r.Chain, text)
		if err != nil {
			return fmt.Errorf("watch file %s:%d: %w", path, line, err)
		}
		r.addresses[canon] = Match{List: path, Entry: text}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("watch file %s: %w", path, err)
	}
	return nil
}

// Watched says whether the rule watches the address, and why.
func (r *Rule) Watched(address string) (Match, bool) {
	m, ok := r.addresses[address]
	return m, ok
}

// Size is the number of watched addresses.
func (r *Rule) Size() int { return len(r.addresses) }

// Rules validates every configured rule; names must be unique.
func Rules(cfgs []RuleConfig, check AddressCheck) ([]*Rule, error) {
	seen := map[string]bool{}
	var rules []*Rule
	var errs []error
	for _, c := range cfgs {
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("alert rule %q: defined twice", c.Name))
			continue
		}
		seen[c.Name] = true
		r, err := NewRule(c, check)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rules = append(rules, r)
	}
	return rules, errors.Join(errs...)
}
