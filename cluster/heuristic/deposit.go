package heuristic

import (
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/tracerproject/tracer/chain"
)

// Ethereum deposit-address reuse (Victor, "Address clustering heuristics
// for Ethereum", FC 2020). Exchanges give every customer a deposit address
// D of their own; D forwards ("sweeps") what it receives to the exchange's
// hot wallet E, soon and almost whole (the amount received, less the fee of
// the sweep for ETH). So an address that forwards what it received to a
// known exchange wallet, within a block window and a value tolerance, is a
// deposit address, and the addresses that paid into it belong to the
// customer who owns it: each payer U is linked with D (and so with every
// other payer of D).
//
// What keeps the rule from drawing false links:
//   - Only value that moved counts: failed transfers and zero-value token
//     transfers (address poisoning) are ignored.
//   - The payment and the sweep must each be sent by their own sender: the
//     payer signed the paying transaction and D signed the sweep. A contract
//     (a DEX pool, a router, a multisig, an exchange's forwarder contract)
//     cannot sign, so its transfers are never taken as a payment or a sweep,
//     and a swap whose output goes to a deposit address does not link the
//     pool. (EIP-7702 delegated accounts still sign as EOAs.)
//   - A known exchange wallet is never linked: not as the swept-to wallet,
//     not as a payer (a withdrawal from one exchange straight into a deposit
//     address at another), not as a deposit (exchanges move funds between
//     their own wallets). Linking it would join every customer into one
//     supercluster.
//   - An address that sends to two different exchanges (by label entity) is
//     not a deposit address: from then on its sweeps draw no links.
//
// Known false positives (see also docs/clustering.md):
//   - A personal wallet that receives from others and forwards about the
//     same amount to its owner's exchange account within the window looks
//     like a deposit address. If it later sends to a second exchange it is
//     recognised, but the links drawn before stay (they are not retracted).
//   - A third party paying a customer's deposit address directly (a
//     merchant, an OTC counterparty) is linked with the customer: by the
//     rule's premise, deposit payers are the customer.
//   - Exchange wallets must be known: a hot wallet missing from the labels
//     and the configuration is never seen as a sweep target (recall drops,
//     nothing wrong is linked).
const (
	NameDeposit    = "eth-deposit-reuse"
	VersionDeposit = 1
)

// Rules of the deposit heuristic, recorded with every link, and their
// confidence (0-100).
const (
	// RuleSweepExact: the sweep forwards exactly what the matched payments
	// brought (less the sweep's fee, for ETH).
	RuleSweepExact       = "sweep-exact"
	ConfidenceSweepExact = 90
	// RuleSweepTolerance: the sweep is within the value tolerance of it.
	RuleSweepTolerance       = "sweep-tolerance"
	ConfidenceSweepTolerance = 70
)

// Token contracts the default tolerances name.
const (
	TokenUSDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"
	TokenUSDC = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
)

// DepositConfig configures the deposit heuristic.
type DepositConfig struct {
	// Enabled runs the heuristic (the Ethereum clusterer draws no other
	// links).
	Enabled bool
	// Window: a payment counts for a sweep at most this many blocks later
	// (Victor used 3200 blocks, about 12 hours at 13.5 s).
	Window int64
	// Tolerance: the most, in base units of each asset ("ETH" or a token
	// contract), by which a sweep may differ from what it forwards. Assets
	// not named have none: their sweeps must be exact (up to ToleranceBps).
	Tolerance map[string]chain.Amount
	// ToleranceBps: a relative tolerance in basis points (1/10000) of the
	// amount received; the larger of the two applies.
	ToleranceBps int64
	// Exchanges: known exchange wallets (address → exchange entity), on
	// top of those labelled "exchange" in the label store.
	Exchanges map[string]string
}

// DefaultDepositConfig is the configuration callers copy and change.
func DefaultDepositConfig() DepositConfig {
	return DepositConfig{
		Enabled: true, Window: 3200,
		Tolerance: map[string]chain.Amount{
			chain.AssetETH: chain.AmountFromUint64(10_000_000_000_000_000), // 0.01 ETH (Victor's a_max)
			TokenUSDT:      chain.AmountFromUint64(1_000_000),              // 1 USDT
			TokenUSDC:      chain.AmountFromUint64(1_000_000),              // 1 USDC
		},
	}
}

// Validate checks the limits.
func (c DepositConfig) Validate() error {
	if !c.Enabled {
		return nil
	}
	if c.Window < 1 || c.Window > 1_000_000 {
		return fmt.Errorf("heuristic: deposit window %d blocks: want 1 to 1000000", c.Window)
	}
	if c.ToleranceBps < 0 || c.ToleranceBps > 10_000 {
		return fmt.Errorf("heuristic: deposit tolerance %d bps: want 0 to 10000", c.ToleranceBps)
	}
	for asset := range c.Tolerance {
		if asset != chain.AssetETH && !isHexAddress(asset) {
			return fmt.Errorf("heuristic: deposit tolerance for %q: want ETH or a lower-case 0x token contract address", asset)
		}
	}
	for a := range c.Exchanges {
		if !isHexAddress(a) {
			return fmt.Errorf("heuristic: exchange wallet %q: want a lower-case 0x address of 40 hex digits", a)
		}
	}
	return nil
}

func isHexAddress(s string) bool {
	if len(s) != 42 || !strings.HasPrefix(s, "0x") {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Receipt is a payment into a possible deposit address that no sweep has
// forwarded yet.
type Receipt struct {
	Payer  string
	Asset  string
	Txid   string
	Height int64
	Value  chain.Amount
}

// DepositState is what the heuristic remembers of one address between
// blocks.
type DepositState struct {
	// Exchange: the exchange entity the address has sent to ("" none yet).
	Exchange string
	// Rejected: it sent to two different exchanges, so it is no deposit
	// address.
	Rejected bool
	// Receipts waiting for a sweep, oldest first, within the window.
	Receipts []Receipt
}

// Empty reports whether there is nothing to remember.
func (s *DepositState) Empty() bool {
	return s.Exchange == "" && !s.Rejected && len(s.Receipts) == 0
}

// DepositLink links a payer (A) with the deposit address it paid (B).
type DepositLink struct {
	Link
	Txid     string // the payment
	Height   int64  // of the payment
	Sweep    string // the transaction that forwarded it to the exchange
	Exchange string // the exchange wallet swept to
	Asset    string
	Rule     string
	// Confidence 0-100.
	Confidence uint8
}

// Deposits applies the deposit heuristic block by block. Exchanges maps
// the known exchange wallets to their entity; the caller may replace it
// between blocks.
type Deposits struct {
	Config    DepositConfig
	Exchanges map[string]string
}

// Block applies one block. load returns the remembered state of an address
// (the zero state if none); expire lists addresses whose oldest receipts
// may have left the window, to prune them. Block returns the links drawn,
// in block order, and the states it changed (an Empty state is to be
// forgotten).
func (d *Deposits) Block(b *chain.Block, expire []string, load func(addr string) (DepositState, error)) ([]DepositLink, map[string]*DepositState, error) {
	if !d.Config.Enabled {
		return nil, nil, nil
	}
	states := map[string]*DepositState{}
	get := func(a string) (*DepositState, error) {
		if s, ok := states[a]; ok {
			return s, nil
		}
		s, err := load(a)
		if err != nil {
			return nil, err
		}
		states[a] = &s
		return &s, nil
	}
	oldest := b.Height - d.Config.Window
	prune := func(s *DepositState) {
		n := 0
		for _, r := range s.Receipts {
			if r.Height >= oldest {
				s.Receipts[n] = r
				n++
			}
		}
		s.Receipts = s.Receipts[:n]
	}
	for _, a := range expire {
		s, err := get(a)
		if err != nil {
			return nil, nil, err
		}
		prune(s)
	}
	// The sender of each transaction: a transfer counts only when its
	// From signed the transaction.
	sender := map[string]string{}
	for i := range b.Transfers {
		if t := &b.Transfers[i]; t.Kind == chain.TransferNative {
			sender[t.Txid] = t.From
		}
	}
	moved := func(t *chain.Transfer) bool {
		return t.Success && !t.Zero && !t.Value.IsZero() && t.From != t.To && t.From != "" && t.To != "" && sender[t.Txid] == t.From
	}
	// First pass: who sends to which exchanges in this block, so that an
	// address sweeping to two exchanges in one block is rejected before any
	// of its sweeps is matched.
	for i := range b.Transfers {
		t := &b.Transfers[i]
		ex, ok := d.Exchanges[t.To]
		if !ok || !moved(t) {
			continue
		}
		if _, isEx := d.Exchanges[t.From]; isEx {
			continue
		}
		s, err := get(t.From)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case s.Exchange == "":
			s.Exchange = ex
		case s.Exchange != ex:
			s.Rejected = true
		}
	}
	var links []DepositLink
	for i := range b.Transfers {
		t := &b.Transfers[i]
		if !moved(t) {
			continue
		}
		_, fromEx := d.Exchanges[t.From]
		_, toEx := d.Exchanges[t.To]
		switch {
		case fromEx:
			// An exchange paying out, or moving its own funds: never a
			// payer.
			continue
		case toEx:
			s, err := get(t.From)
			if err != nil {
				return nil, nil, err
			}
			prune(s)
			if s.Rejected {
				continue
			}
			fee := new(big.Int)
			if t.Kind == chain.TransferNative {
				fee = t.Fee.Big()
			}
			n, rule, conf, ok := d.Config.Match(s.Receipts, t.Asset, t.Value.Big(), fee)
			if !ok {
				continue
			}
			// Remove the matched receipts (the newest n of the asset).
			matched := make([]Receipt, 0, n)
			keep := s.Receipts[:0]
			left := n
			for j := len(s.Receipts) - 1; j >= 0; j-- {
				r := s.Receipts[j]
				if left > 0 && r.Asset == t.Asset {
					matched = append(matched, r)
					left--
					continue
				}
				keep = append(keep, r)
			}
			slices.Reverse(keep)
			s.Receipts = keep
			seen := map[string]bool{}
			for j := len(matched) - 1; j >= 0; j-- { // oldest first
				r := matched[j]
				if seen[r.Payer] || r.Payer == t.From {
					continue
				}
				seen[r.Payer] = true
				links = append(links, DepositLink{
					Link: Link{A: r.Payer, B: t.From, Heuristic: NameDeposit, Version: VersionDeposit},
					Txid: r.Txid, Height: r.Height, Sweep: t.Txid, Exchange: t.To, Asset: t.Asset, Rule: rule, Confidence: conf,
				})
			}
		default:
			s, err := get(t.To)
			if err != nil {
				return nil, nil, err
			}
			if s.Rejected {
				continue
			}
			s.Receipts = append(s.Receipts, Receipt{Payer: t.From, Asset: t.Asset, Txid: t.Txid, Height: b.Height, Value: t.Value})
		}
	}
	return links, states, nil
}

// Match decides which receipts a sweep of value (plus fee, for ETH: what
// the sweep took from the address) of asset forwards: the newest n
// receipts of that asset whose sum is within the tolerance of it. It
// prefers the fewest receipts, so a sweep of the last payment alone does
// not claim older ones.
func (c DepositConfig) Match(receipts []Receipt, asset string, value, fee *big.Int) (n int, rule string, confidence uint8, ok bool) {
	out := new(big.Int).Add(value, fee)
	sum := new(big.Int)
	diff := new(big.Int)
	for j := len(receipts) - 1; j >= 0; j-- {
		r := &receipts[j]
		if r.Asset != asset {
			continue
		}
		sum.Add(sum, r.Value.Big())
		n++
		diff.Sub(sum, out)
		if diff.Sign() == 0 {
			return n, RuleSweepExact, ConfidenceSweepExact, true
		}
		if diff.CmpAbs(c.tolerance(asset, sum)) <= 0 {
			return n, RuleSweepTolerance, ConfidenceSweepTolerance, true
		}
		if diff.Sign() > 0 {
			return 0, "", 0, false // more came in than went out: older ones only add to it
		}
	}
	return 0, "", 0, false
}

func (c DepositConfig) tolerance(asset string, received *big.Int) *big.Int {
	t := c.Tolerance[asset].Big()
	if c.ToleranceBps > 0 {
		rel := new(big.Int).Mul(received, big.NewInt(c.ToleranceBps))
		rel.Quo(rel, big.NewInt(10_000))
		if rel.Cmp(t) > 0 {
			t = rel
		}
	}
	return t
}

// ParseExchange reads a configured exchange wallet, "ENTITY:0xADDRESS" or
// just "0xADDRESS" (then the address is its own entity).
func ParseExchange(s string) (address, entity string, err error) {
	entity, address = "", strings.TrimSpace(s)
	if i := strings.LastIndex(s, ":"); i >= 0 {
		entity, address = strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
	}
	address = strings.ToLower(address)
	if !isHexAddress(address) {
		return "", "", fmt.Errorf("exchange wallet %q: want ENTITY:0xADDRESS or 0xADDRESS (40 hex digits)", s)
	}
	if entity == "" {
		entity = address
	}
	return address, entity, nil
}
