package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/stream"
)

// StreamName is the JetStream stream that keeps published alerts.
const StreamName = "ALERTS"

// Config configures an Alerter.
type Config struct {
	Chain   string
	Durable string // the alerter's consumer on the chain stream
	// Confirmations a block needs before its alerts are confirmed (1: at
	// once, no provisional state).
	Confirmations int64
	Rules         []*Rule
	// AckWait of the chain consumer; 0: 30s.
	AckWait time.Duration
	// Labels resolves the label categories rules watch; it must be set
	// when a rule watches categories. LabelRefresh is how often the
	// labelled addresses are read again (0: 5 minutes).
	Labels       LabelSource
	LabelRefresh time.Duration
	// Clusters resolves watched clusters; it must be set when a rule
	// watches clusters. Read again with the labels.
	Clusters ClusterSource
	Logger   *slog.Logger
}

// Labelled is an address with a label of a watched category.
type Labelled struct {
	Address, Category, Entity, Source string
}

// ClusterSource finds clusters and their members (trace.Clusters).
type ClusterSource interface {
	ClusterOf(ctx context.Context, address string) (uint32, error)
	Members(ctx context.Context, id uint32, offset, limit int) ([]string, error)
}

// maxClusterWatch bounds the members one watched cluster adds: a cluster
// this large is an exchange, not a broker, and would flood the alerts.
const maxClusterWatch = 1_000_000

// LabelSource finds the addresses of a chain labelled with any of the
// categories, as the labels stand now.
type LabelSource interface {
	Labelled(ctx context.Context, chain string, categories []string) ([]Labelled, error)
}

// DefaultConfig is the configuration callers copy and change.
func DefaultConfig(chain string) Config {
	return Config{Chain: chain, Durable: "alerter", Confirmations: 2, AckWait: 30 * time.Second}
}

// Alerter evaluates the rules on every block of a chain stream.
type Alerter struct {
	cfg  Config
	conn store.Conn
	js   jetstream.JetStream
	log  *slog.Logger

	// pending holds the provisional alerts by the height of their block.
	pending map[int64][]*Alert
	// history holds the repeated-payments rules' incoming payments, by
	// rule, watched address and payer: only those within their rule's
	// window of the newest block seen (prunedAt), so it is bounded by the
	// payments of window_blocks blocks however long the alerter runs.
	history  map[historyKey][]payment
	prunedAt int64
	// windows is each repeated-payments rule's window_blocks, by name.
	windows map[string]int64
	sent    uint64
	// exp follows tainted outputs for the exposure rules.
	exp *exposure
	// labelsRead is when the labelled addresses were last read.
	labelsRead time.Time
}

type historyKey struct{ rule, address, payer string }

type payment struct {
	txid, blockHash string
	height          int64
	amount          *big.Int
}

// New validates the configuration.
func New(conn store.Conn, js jetstream.JetStream, cfg Config) (*Alerter, error) {
	if cfg.Chain == "" || cfg.Durable == "" {
		return nil, errors.New("alert: the alerter needs a chain and a durable name")
	}
	if cfg.Confirmations < 1 {
		return nil, fmt.Errorf("alert: confirmations %d: want at least 1", cfg.Confirmations)
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = 30 * time.Second
	}
	for _, r := range cfg.Rules {
		if r.Chain != cfg.Chain {
			return nil, fmt.Errorf("alert: rule %q is for chain %s, this alerter reads %s", r.Name, r.Chain, cfg.Chain)
		}
		if len(r.Categories()) > 0 && cfg.Labels == nil {
			return nil, fmt.Errorf("alert: rule %q watches label categories %v, but the alerter has no labels store", r.Name, r.Categories())
		}
		if len(r.clusters) > 0 && cfg.Clusters == nil {
			return nil, fmt.Errorf("alert: rule %q watches clusters, but the alerter has no clusters", r.Name)
		}
	}
	if cfg.LabelRefresh <= 0 {
		cfg.LabelRefresh = 5 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	windows := map[string]int64{}
	for _, r := range cfg.Rules {
		if r.Kind == KindRepeated {
			windows[r.Name] = int64(r.WindowBlocks)
		}
	}
	return &Alerter{cfg: cfg, conn: conn, js: js, log: log, pending: map[int64][]*Alert{}, history: map[historyKey][]payment{},
		windows: windows, exp: newExposure(cfg.Rules)}, nil
}

// Sent is the number of alert states published by this alerter.
func (a *Alerter) Sent() uint64 { return a.sent }

// EnsureStream creates or updates the ALERTS stream (subjects alerts.>).
func EnsureStream(ctx context.Context, js jetstream.JetStream, replicas int) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "tracer alerts (" + Format + ")",
		Subjects:    []string{"alerts.>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Duplicates:  stream.DuplicateWindow,
		Replicas:    max(replicas, 1),
	})
	if err != nil {
		return fmt.Errorf("alert: creating stream %s: %w", StreamName, err)
	}
	return nil
}

// Run consumes the chain stream until ctx ends. A block's alerts are
// published and stored before the block is acked: after a crash the block
// comes again and what was sent is not sent again.
func (a *Alerter) Run(ctx context.Context) error {
	if err := EnsureStream(ctx, a.js, 1); err != nil {
		return err
	}
	if err := a.load(ctx); err != nil {
		return err
	}
	if err := a.rebuildExposure(ctx); err != nil {
		return err
	}
	r, err := stream.NewReader(ctx, a.js, stream.ReaderConfig{Chain: a.cfg.Chain, Durable: a.cfg.Durable, AckWait: a.cfg.AckWait, Logger: a.log})
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		d, err := r.Next(ctx, time.Second)
		switch {
		case errors.Is(err, stream.ErrNoEvent):
			continue
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return err
		}
		if err := a.Handle(ctx, d.Event); err != nil {
			if ctx.Err() != nil {
				return nil // stopped half-way: the block comes again, nothing is sent twice
			}
			return err
		}
		if err := stream.Ack(ctx, []*stream.Delivery{d}); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// Handle evaluates one event: a block's alerts and the confirmations it
// brings, or an undo's retractions.
func (a *Alerter) Handle(ctx context.Context, ev *chain.Event) error {
	switch ev.Kind {
	case chain.KindBlock:
		return a.block(ctx, ev.Block)
	case chain.KindUndo:
		return a.undo(ctx, ev.Hash)
	}
	return fmt.Errorf("alert: event %d has unknown kind %q", ev.Seq, ev.Kind)
}

func (a *Alerter) block(ctx context.Context, b *chain.Block) error {
	if time.Since(a.labelsRead) >= a.cfg.LabelRefresh {
		if err := a.readLabels(ctx); err != nil {
			return err
		}
	} else {
		// Clusters grow with every block the clusterer sees: members are
		// read again before each block.
		for _, r := range a.cfg.Rules {
			if err := a.readClusters(ctx, r); err != nil {
				return err
			}
		}
	}
	alerts, cands := Evaluate(b, a.cfg.Rules)
	owner := clusterCache(ctx, a.cfg.Clusters)
	alerts = append(alerts, a.exp.block(b, owner)...)
	sending, err := a.sendingExposure(ctx, b, owner)
	if err != nil {
		return err
	}
	alerts = append(alerts, sending...)
	var pays []paymentRow
	for _, c := range cands {
		c.Payer = a.payerKey(ctx, b.Chain, c.Payer)
		c.Payee = a.payerKey(ctx, b.Chain, c.Alert.Address)
		al, row := a.pattern(c)
		pays = append(pays, row)
		if al != nil {
			alerts = append(alerts, al)
		}
	}
	if err := a.storePayments(ctx, pays); err != nil {
		return err
	}
	if a.cfg.Confirmations == 1 {
		for _, al := range alerts {
			al.Status = Confirmed
		}
	}
	if err := a.publish(ctx, b.Hash, alerts); err != nil {
		return err
	}
	if a.cfg.Confirmations > 1 && len(alerts) > 0 {
		a.pending[b.Height] = append(a.pending[b.Height], alerts...)
	}
	// Blocks buried under enough confirmations: their alerts are final.
	safe := b.Height - a.cfg.Confirmations + 1
	var heights []int64
	for h := range a.pending {
		if h <= safe {
			heights = append(heights, h)
		}
	}
	slices.Sort(heights)
	for _, h := range heights {
		var confirmed []*Alert
		for _, p := range a.pending[h] {
			c := *p
			c.Status = Confirmed
			confirmed = append(confirmed, &c)
		}
		if len(confirmed) > 0 {
			if err := a.publish(ctx, confirmed[0].BlockHash, confirmed); err != nil {
				return err
			}
		}
		delete(a.pending, h)
	}
	return nil
}

// readLabels (re)loads the addresses of the watched label categories and
// clusters.
func (a *Alerter) readLabels(ctx context.Context) error {
	for _, r := range a.cfg.Rules {
		if err := a.readClusters(ctx, r); err != nil {
			return err
		}
		if len(r.Categories()) == 0 {
			continue
		}
		ls, err := a.cfg.Labels.Labelled(ctx, r.Chain, r.Categories())
		if err != nil {
			return fmt.Errorf("alert: rule %q: reading labels %v: %w", r.Name, r.Categories(), err)
		}
		r.watchLabelled(ls)
		a.log.Info("watching labelled addresses", "rule", r.Name, "categories", r.Categories(), "addresses", len(ls))
	}
	a.labelsRead = time.Now()
	return nil
}

// readClusters (re)loads the members of the rule's watched clusters. A
// cluster that is gone (absorbed into another since its id was written
// down) is logged and skipped; watch it by one of its addresses instead.
func (a *Alerter) readClusters(ctx context.Context, r *Rule) error {
	if len(r.clusters) == 0 {
		return nil
	}
	found := map[string]Match{}
	for _, c := range r.clusters {
		var id uint64
		entry := "cluster " + c.id
		if c.address != "" {
			cid, err := a.cfg.Clusters.ClusterOf(ctx, c.address)
			if err != nil {
				a.log.Warn("watched address has no cluster yet: watching it alone", "rule", r.Name, "address", c.address, "err", err)
				found[c.address] = Match{List: clusterList, Entry: "cluster of " + c.address}
				continue
			}
			id, entry = uint64(cid), fmt.Sprintf("cluster %d (of %s)", cid, c.address)
		} else {
			id, _ = strconv.ParseUint(c.id, 10, 32)
		}
		members, err := a.cfg.Clusters.Members(ctx, uint32(id), 0, maxClusterWatch)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			a.log.Warn("watched cluster not found", "rule", r.Name, "cluster", id, "err", err)
			continue
		}
		for _, m := range members {
			found[m] = Match{List: clusterList, Entry: entry}
		}
	}
	r.watchResolved(clusterList, found)
	a.log.Debug("watching clusters", "rule", r.Name, "clusters", len(r.clusters), "addresses", len(found))
	return nil
}

// clusterList names the watch list of cluster members in a Match.
const clusterList = "clusters"

// payerKey is who pays (and who is paid), for the repeated-payments
// pattern: on Bitcoin the address's cluster when the clusterer knows it
// ("cluster:ID"; a buyer who pays from a new address of the same wallet is
// the same buyer, a broker who is paid on a new address the same broker),
// else the address. When a cluster merges into another its id changes and the
// pattern starts again under the new id: a pattern may be found later,
// never falsely.
func (a *Alerter) payerKey(ctx context.Context, chainName, payer string) string {
	if a.cfg.Clusters == nil || chainName != chain.BTC || payer == "" || payer == "coinbase" {
		return payer
	}
	id, err := a.cfg.Clusters.ClusterOf(ctx, payer)
	if err != nil {
		return payer
	}
	return fmt.Sprintf("cluster:%d", id)
}

// pattern records an incoming payment to an address a repeated-payments
// rule watches and returns an alert when, with the payer's earlier
// payments of consistent amounts within the window, it makes min_payments.
func (a *Alerter) pattern(c Candidate) (*Alert, paymentRow) {
	r, al := c.Rule, c.Alert
	payee := c.Payee
	if payee == "" {
		payee = al.Address
	}
	if al.Height > a.prunedAt {
		a.pruneHistory(al.Height)
	}
	k := historyKey{r.Name, payee, c.Payer}
	var earlier []payment
	kept := a.history[k][:0]
	for _, p := range a.history[k] {
		if p.height <= al.Height-int64(r.WindowBlocks) {
			continue // out of the window for good: blocks only move forward
		}
		kept = append(kept, p)
		// Only payments of earlier blocks: a block read again (a second
		// consumer, a redelivery) must find the pattern it found before.
		if p.height < al.Height && consistent(p.amount, c.Value, r.TolerancePct) {
			earlier = append(earlier, p)
		}
	}
	row := paymentRow{rule: r.Name, address: payee, payer: c.Payer, txid: al.Txid, blockHash: al.BlockHash, height: al.Height, amount: c.Value}
	if !slices.ContainsFunc(kept, func(p payment) bool { return p.txid == al.Txid && p.blockHash == al.BlockHash }) {
		kept = append(kept, payment{txid: al.Txid, blockHash: al.BlockHash, height: al.Height, amount: c.Value})
	}
	a.history[k] = kept
	if len(earlier)+1 < r.MinPayments {
		return nil, row
	}
	for _, p := range earlier {
		al.Payments = append(al.Payments, Payment{Txid: p.txid, Height: p.height, From: c.Payer, Amount: p.amount.String()})
	}
	return al, row
}

// pruneHistory forgets the payments that lie out of their rule's window at
// height for good (blocks only move forward), and the keys left with none:
// payers who paid once and never again would otherwise stay forever.
func (a *Alerter) pruneHistory(height int64) {
	a.prunedAt = height
	for k, list := range a.history {
		window, ok := a.windows[k.rule]
		if !ok {
			delete(a.history, k) // a rule no longer configured
			continue
		}
		list = slices.DeleteFunc(list, func(p payment) bool { return p.height <= height-window })
		if len(list) == 0 {
			delete(a.history, k)
		} else {
			a.history[k] = list
		}
	}
}

// consistent: b lies within pct percent of a.
func consistent(a, b *big.Int, pct int) bool {
	d := new(big.Int).Sub(a, b)
	d.Abs(d).Mul(d, big.NewInt(100))
	return d.Cmp(new(big.Int).Mul(a, big.NewInt(int64(pct)))) <= 0
}

// undo retracts every alert of the block, provisional or confirmed, and
// forgets its payments.
func (a *Alerter) undo(ctx context.Context, hash string) error {
	sent, err := a.sentFor(ctx, hash)
	if err != nil {
		return err
	}
	latest := map[string]*Alert{}
	for _, al := range sent {
		if cur, ok := latest[al.ID]; !ok || al.Status.rank() > cur.Status.rank() {
			latest[al.ID] = al
		}
	}
	var retractions []*Alert
	for _, al := range latest {
		if al.Status == Retracted {
			continue
		}
		r := *al
		r.Status, r.Retracts = Retracted, al.ID
		retractions = append(retractions, &r)
	}
	slices.SortFunc(retractions, func(x, y *Alert) int { return compareStrings(x.ID, y.ID) })
	if err := a.publish(ctx, hash, retractions); err != nil {
		return err
	}
	for h, list := range a.pending {
		list = slices.DeleteFunc(list, func(al *Alert) bool { return al.BlockHash == hash })
		if len(list) == 0 {
			delete(a.pending, h)
		} else {
			a.pending[h] = list
		}
	}
	for k, list := range a.history {
		if list = slices.DeleteFunc(list, func(p payment) bool { return p.blockHash == hash }); len(list) == 0 {
			delete(a.history, k)
		} else {
			a.history[k] = list
		}
	}
	if !a.exp.undo(hash) {
		a.log.Warn("exposure rules: the undone block is older than the blocks they remember; what it tainted stays followed until the alerter restarts", "block", hash)
	}
	if err := a.conn.Exec(ctx, "ALTER TABLE alert_payments DELETE WHERE block_hash = ?", hash); err != nil {
		return fmt.Errorf("alert: forgetting the payments of block %s: %w", hash, err)
	}
	return nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// publish sends and stores the alerts of one block that were not sent
// before in the same state.
func (a *Alerter) publish(ctx context.Context, blockHash string, alerts []*Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	done, err := a.sentFor(ctx, blockHash)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, al := range done {
		seen[al.MsgID()] = true
	}
	var fresh []*Alert
	for _, al := range alerts {
		if seen[al.MsgID()] {
			continue
		}
		raw, err := json.Marshal(al)
		if err != nil {
			return fmt.Errorf("alert: encoding %s: %w", al.ID, err)
		}
		if _, err := a.js.Publish(ctx, al.Subject(), raw, jetstream.WithMsgID(al.MsgID())); err != nil {
			return fmt.Errorf("alert: publishing %s (%s): %w", al.ID, al.Status, err)
		}
		a.sent++
		a.log.Info("alert", "rule", al.Rule, "status", al.Status, "txid", al.Txid, "address", al.Address, "amount", al.Amount)
		fresh = append(fresh, al)
	}
	return a.store(ctx, fresh)
}
