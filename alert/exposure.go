package alert

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/stream"
)

// Exposure rules follow money out of the watched addresses as it moves,
// block by block, and alert when it reaches another owner within the
// rule's hops: indirect exposure, the money a broker paid on through one
// or more intermediaries.
//
// The model is haircut over the UTXO graph, exact to the satoshi and the
// same as `tracer trace --model haircut`: a transaction's taint T is the
// sum of its inputs' taint and V the sum of its input values; an output of
// value v gets floor(v·T/V). An input spending from a watched address is
// tainted for its whole value (hop 0). An output gets the least hop count
// of the tainted inputs that feed it, plus one, except that a payment to
// the owner of that input (the same address, or, with clusters, the same
// cluster) is no hop. An output back at a watched address leaves the
// state: it is the watched owner's own money.
//
// The state is the set of tainted, unspent outputs within the hop limit
// whose taint reaches the rule's min_amount (taint only shrinks along a
// path, so a smaller output could only matter joined with others: like
// `trace --min-value`, it is not followed). It lives in memory, with a
// journal of the last blocks for reorgs, and is rebuilt when the alerter
// starts by replaying the chain stream's last lookback_blocks blocks.

// KindExposure fires when money from watched addresses reaches another
// owner within Hops hops (2 or more: hop 1, a direct payment, is the watch
// rule's), with at least MinAmount of it tainted and tainted for at least
// MinSharePct percent of what the address received.
const KindExposure = "exposure"

// Exposure rule defaults and bounds.
const (
	DefaultExposureHops   = 3
	MaxExposureHops       = 10
	DefaultLookbackBlocks = 1008 // a week of Bitcoin blocks
	exposureJournalBlocks = 100  // reorgs deeper than this rebuild nothing
)

// PathStep is one transaction of an exposure alert's path, from the
// watched address to the alert's address: the taint it moved, in base
// units.
type PathStep struct {
	Txid   string `json:"txid"`
	Height int64  `json:"height"`
	From   string `json:"from"`
	To     string `json:"to"`
	Amount string `json:"amount"`
	// SameOwner: From and To are the same owner (address or cluster); the
	// step is no hop.
	SameOwner bool `json:"same_owner,omitempty"`
}

type outpoint struct {
	txid string
	n    uint32
}

// tainted is a tainted unspent output of an exposure rule's state.
type tainted struct {
	address string
	value   int64
	taint   int64
	hop     int
	height  int64
	// path from the watched address that fed it (the least-hop feed), and
	// why that address is watched.
	path   []PathStep
	source Match
}

// exposureJournal is what one block did to the state, to undo it.
type exposureJournal struct {
	hash  string
	added []ruleOutpoint
	spent []spentOutput
}

type ruleOutpoint struct {
	rule string
	op   outpoint
}

type spentOutput struct {
	ruleOutpoint
	t *tainted
}

// exposure holds the exposure rules' states.
type exposure struct {
	rules   []*Rule
	live    map[string]map[outpoint]*tainted // by rule
	journal []exposureJournal
}

func newExposure(rules []*Rule) *exposure {
	e := &exposure{live: map[string]map[outpoint]*tainted{}}
	for _, r := range rules {
		if r.Kind == KindExposure && r.receiving {
			e.rules = append(e.rules, r)
			e.live[r.Name] = map[outpoint]*tainted{}
		}
	}
	return e
}

// Tracked is the number of tainted outputs the rule follows.
func (e *exposure) tracked(rule string) int { return len(e.live[rule]) }

// ownerFunc says whether two addresses have one owner (same cluster).
type ownerFunc func(a, b string) bool

// mulDiv is floor(a·b/c) for 0 ≤ a, b and b ≤ c, without overflow.
func mulDiv(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	q, _ := bits.Div64(hi, lo, uint64(c))
	return int64(q)
}

// block applies a block to the states and returns its exposure alerts
// (none when replaying).
func (e *exposure) block(b *chain.Block, sameOwner ownerFunc) []*Alert {
	if len(e.rules) == 0 || len(b.Transfers) > 0 {
		return nil
	}
	e.undo(b.Hash) // a block applied again (a redelivery) counts once
	j := exposureJournal{hash: b.Hash}
	var alerts []*Alert
	when := time.Unix(b.Time, 0).UTC()
	for _, r := range e.rules {
		live := e.live[r.Name]
		for i := range b.Txs {
			tx := &b.Txs[i]
			if tx.Coinbase {
				continue
			}
			var total, taint int64
			var feed *tainted // the least-hop tainted input (largest taint on a tie)
			var feedAddr string
			for k := range tx.Inputs {
				in := &tx.Inputs[k]
				total += in.Value
				op := outpoint{in.PrevTxid, in.PrevIndex}
				t, inLive := live[op]
				if inLive {
					delete(live, op)
					j.spent = append(j.spent, spentOutput{ruleOutpoint{r.Name, op}, t})
				}
				if m, ok := r.Watched(in.Address); ok {
					// Watched (perhaps since the output was tainted): all of it.
					t = &tainted{address: in.Address, value: in.Value, taint: in.Value, source: m}
				} else if !inLive {
					continue
				}
				taint += t.taint
				if feed == nil || t.hop < feed.hop || t.hop == feed.hop && t.taint > feed.taint {
					feed, feedAddr = t, in.Address
				}
			}
			if feed == nil || taint == 0 || total == 0 {
				continue
			}
			// Per address the tx pays: what it received and the taint of it.
			type paid struct {
				value, taint int64
				outs         []chain.Output
			}
			var order []string
			byAddr := map[string]*paid{}
			for k := range tx.Outputs {
				o := tx.Outputs[k]
				if o.Address == "" || o.Value == 0 {
					continue
				}
				if _, ok := r.Watched(o.Address); ok {
					continue // back to the watched owner
				}
				p := byAddr[o.Address]
				if p == nil {
					p = &paid{}
					byAddr[o.Address] = p
					order = append(order, o.Address)
				}
				p.value += o.Value
				p.taint += mulDiv(o.Value, taint, total)
				p.outs = append(p.outs, o)
			}
			for _, addr := range order {
				p := byAddr[addr]
				same := addr == feedAddr || sameOwner != nil && feed.hop > 0 && sameOwner(addr, feedAddr)
				hop := feed.hop + 1
				if same {
					hop = feed.hop
				}
				step := PathStep{Txid: tx.Txid, Height: b.Height, From: feedAddr, To: addr, Amount: strconv.FormatInt(p.taint, 10), SameOwner: same}
				path := append(append(make([]PathStep, 0, len(feed.path)+1), feed.path...), step)
				if !same && hop >= 2 && hop <= r.Hops && p.taint > 0 && p.taint >= r.min.Int64() &&
					p.taint*100 >= int64(r.MinSharePct)*p.value {
					alerts = append(alerts, &Alert{
						Format: Format, ID: alertID(r.Name, b.Chain, b.Hash, tx.Txid, Incoming, addr), Status: Provisional,
						Rule: r.Name, Kind: r.Kind, Severity: r.Severity, Chain: b.Chain, Txid: tx.Txid,
						BlockHash: b.Hash, Height: b.Height, Time: when, Direction: Incoming, Address: addr,
						Counterparties: []string{feedAddr}, Amount: strconv.FormatInt(p.taint, 10),
						Value: strconv.FormatInt(p.value, 10), Asset: asset(b.Chain), Hops: hop,
						Matched: []Match{feed.source}, Path: path,
					})
				}
				if hop >= r.Hops || p.taint < r.min.Int64() {
					continue // at the limit, or too little to follow
				}
				for _, o := range p.outs {
					ot := mulDiv(o.Value, taint, total)
					if ot < r.min.Int64() {
						continue
					}
					op := outpoint{tx.Txid, o.Index}
					live[op] = &tainted{address: addr, value: o.Value, taint: ot, hop: hop, height: b.Height, path: path, source: feed.source}
					j.added = append(j.added, ruleOutpoint{r.Name, op})
				}
			}
		}
	}
	e.journal = append(e.journal, j)
	if len(e.journal) > exposureJournalBlocks {
		e.journal = e.journal[len(e.journal)-exposureJournalBlocks:]
	}
	return alerts
}

// undo reverts the block's changes to the states, when the journal still
// has them: it reports false when the block is older than the journal.
func (e *exposure) undo(hash string) bool {
	if len(e.rules) == 0 {
		return true
	}
	for i := len(e.journal) - 1; i >= 0; i-- {
		j := e.journal[i]
		if j.hash != hash {
			continue
		}
		for _, a := range j.added {
			delete(e.live[a.rule], a.op)
		}
		for _, s := range j.spent {
			e.live[s.rule][s.op] = s.t
		}
		e.journal = append(e.journal[:i], e.journal[i+1:]...)
		return true
	}
	return false
}

// sameOwnerCache answers sameOwner from the clusters, caching per block.
func sameOwnerCache(ctx context.Context, cs ClusterSource) ownerFunc {
	if cs == nil {
		return nil
	}
	ids := map[string]int64{}
	clusterOf := func(a string) int64 {
		if id, ok := ids[a]; ok {
			return id
		}
		id := int64(-1)
		if c, err := cs.ClusterOf(ctx, a); err == nil {
			id = int64(c)
		}
		ids[a] = id
		return id
	}
	return func(a, b string) bool {
		ca := clusterOf(a)
		return ca >= 0 && ca == clusterOf(b)
	}
}

// rebuildExposure replays the chain stream's last blocks, up to where the
// alerter's consumer stands, into the exposure rules' states; nothing is
// published (those blocks' alerts went out before). A consumer that does
// not exist yet starts at the stream's beginning: nothing to replay.
func (a *Alerter) rebuildExposure(ctx context.Context) error {
	if len(a.exp.rules) == 0 {
		return nil
	}
	cons, err := a.js.Consumer(ctx, stream.StreamName(a.cfg.Chain), a.cfg.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("alert: consumer %s: %w", a.cfg.Durable, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("alert: consumer %s: %w", a.cfg.Durable, err)
	}
	last := info.AckFloor.Stream
	if last == 0 {
		return nil
	}
	if err := a.readLabels(ctx); err != nil {
		return err
	}
	s, err := a.js.Stream(ctx, stream.StreamName(a.cfg.Chain))
	if err != nil {
		return fmt.Errorf("alert: %w", err)
	}
	m, err := s.GetMsg(ctx, last)
	if err != nil {
		return fmt.Errorf("alert: reading stream message %d: %w", last, err)
	}
	tip, err := strconv.ParseInt(m.Header.Get(stream.HdrHeight), 10, 64)
	if err != nil {
		return fmt.Errorf("alert: stream message %d has no height", last)
	}
	var lookback int64
	for _, r := range a.exp.rules {
		lookback = max(lookback, int64(r.LookbackBlocks))
	}
	lowest := tip - lookback + 1
	from, err := stream.SeqAtHeight(ctx, a.js, a.cfg.Chain, lowest, last)
	if err != nil {
		return fmt.Errorf("alert: %w", err)
	}
	began := time.Now()
	var blocks int
	err = stream.Replay(ctx, a.js, a.cfg.Chain, from, last, a.log, func(d *stream.Delivery) error {
		switch ev := d.Event; ev.Kind {
		case chain.KindBlock:
			if ev.Block.Height >= lowest {
				a.exp.block(ev.Block, sameOwnerCache(ctx, a.cfg.Clusters))
				blocks++
			}
		case chain.KindUndo:
			a.exp.undo(ev.Hash)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("alert: rebuilding the exposure rules' state: %w", err)
	}
	for _, r := range a.exp.rules {
		a.log.Info("exposure rule rebuilt", "rule", r.Name, "blocks", blocks, "from_height", lowest, "tip", tip, "tainted_outputs", a.exp.tracked(r.Name), "took", time.Since(began).Round(time.Millisecond))
	}
	return nil
}
