package alert

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/stream"
	"github.com/tracerproject/tracer/trace"
)

// Exposure rules follow money out of the watched addresses as it moves,
// block by block, and alert when it reaches another owner within the
// rule's hops: indirect exposure, the money a broker paid on through one
// or more intermediaries.
//
// The model is haircut over the UTXO graph with the step rules of the
// trace package (trace.StepTaint, trace.LeastHop, trace.Followed), so an
// alert equals `tracer trace --model haircut --hops N --min-value M` from
// the watched addresses, hop count and amount to the satoshi. An input
// spending from a watched address is tainted for its whole value (hop 0).
// An output gets the least hop count over the tainted inputs that feed it
// of the input's hop plus one, or plus none when the output's address and
// the input's are one owner (the same address, or with clusters the same
// cluster), at hop 0 as at any other; an address reached by such a step
// reaches no new owner and does not alert. An output back at a watched
// address leaves the state: it is the watched owner's own money.
//
// The state is the set of tainted, unspent outputs within the hop limit
// (at the limit too: their taint joins that of the transactions that
// spend them) whose taint reaches the rule's min_amount (trace.Followed).
// It lives in memory, with a journal of the last blocks for reorgs, and is
// rebuilt when the alerter starts by replaying the chain stream's last
// lookback_blocks blocks.

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

// clusterFunc gives an address's cluster, 0 for none (trace.SameOwner).
type clusterFunc func(address string) uint32

// feedIn is a tainted input of a transaction: the output it spends.
type feedIn struct {
	t       *tainted
	address string
}

// block applies a block to the states and returns its exposure alerts
// (none when replaying).
func (e *exposure) block(b *chain.Block, clusterOf clusterFunc) []*Alert {
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
			var feeds []feedIn
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
				feeds = append(feeds, feedIn{t, in.Address})
			}
			if len(feeds) == 0 || taint == 0 || total == 0 {
				continue
			}
			feed := func(i int) trace.Feed {
				return trace.Feed{Address: feeds[i].address, Hop: feeds[i].t.hop, Taint: feeds[i].t.taint}
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
				p.taint += trace.StepTaint(trace.Haircut, o.Value, taint, total)
				p.outs = append(p.outs, o)
			}
			for _, addr := range order {
				p := byAddr[addr]
				hop, best, sameIdx := trace.LeastHop(len(feeds), feed, addr, clusterOf)
				same := sameIdx >= 0
				if same {
					best = sameIdx
				}
				parent, from := feeds[best].t, feeds[best].address
				step := PathStep{Txid: tx.Txid, Height: b.Height, From: from, To: addr, Amount: strconv.FormatInt(p.taint, 10), SameOwner: same}
				path := append(append(make([]PathStep, 0, len(parent.path)+1), parent.path...), step)
				if !same && hop >= 2 && hop <= r.Hops && p.taint > 0 && p.taint >= r.min.Int64() &&
					p.taint*100 >= int64(r.MinSharePct)*p.value {
					alerts = append(alerts, &Alert{
						Format: Format, ID: alertID(r.Name, b.Chain, b.Hash, tx.Txid, Incoming, addr), Status: Provisional,
						Rule: r.Name, Kind: r.Kind, Severity: r.Severity, Chain: b.Chain, Txid: tx.Txid,
						BlockHash: b.Hash, Height: b.Height, Time: when, Direction: Incoming, Address: addr,
						Counterparties: []string{from}, Amount: strconv.FormatInt(p.taint, 10),
						Value: strconv.FormatInt(p.value, 10), Asset: asset(b.Chain), Hops: hop,
						Matched: []Match{parent.source}, Path: path,
					})
				}
				if hop > r.Hops {
					continue
				}
				for _, o := range p.outs {
					ot := trace.StepTaint(trace.Haircut, o.Value, taint, total)
					if !trace.Followed(ot, r.min.Int64()) {
						continue
					}
					op := outpoint{tx.Txid, o.Index}
					live[op] = &tainted{address: addr, value: o.Value, taint: ot, hop: hop, height: b.Height, path: path, source: parent.source}
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

// clusterCache answers the clusters of addresses from cs, caching per
// block; an address whose cluster cannot be read is in none (0).
func clusterCache(ctx context.Context, cs ClusterSource) clusterFunc {
	if cs == nil {
		return nil
	}
	ids := map[string]uint32{}
	return func(a string) uint32 {
		if id, ok := ids[a]; ok {
			return id
		}
		var id uint32
		if c, err := cs.ClusterOf(ctx, a); err == nil {
			id = c
		}
		ids[a] = id
		return id
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
				a.exp.block(ev.Block, clusterCache(ctx, a.cfg.Clusters))
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
