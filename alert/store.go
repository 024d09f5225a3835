package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tracerproject/tracer/store"
)

// store records published alert states (table alerts, migration 5).
func (a *Alerter) store(ctx context.Context, alerts []*Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	n := len(alerts)
	var (
		id, status, rule, severity, chain, txid, hash = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		dir, addr, amount, asset, payload             = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		rank                                          = make([]uint8, n)
		height                                        = make([]uint64, n)
		when, published                               = make([]time.Time, n), make([]time.Time, n)
	)
	now := time.Now().UTC()
	for i, al := range alerts {
		raw, err := json.Marshal(al)
		if err != nil {
			return fmt.Errorf("alert: encoding %s: %w", al.ID, err)
		}
		id[i], status[i], rank[i], rule[i], severity[i] = al.ID, string(al.Status), al.Status.rank(), al.Rule, al.Severity
		chain[i], txid[i], hash[i], height[i], when[i] = al.Chain, al.Txid, al.BlockHash, uint64(al.Height), al.Time
		dir[i], addr[i], amount[i], asset[i], payload[i], published[i] = string(al.Direction), al.Address, al.Amount, al.Asset, string(raw), now
	}
	err := a.conn.Insert(ctx, "alerts", []store.Column{
		{Name: "id", Values: id}, {Name: "status", Values: status}, {Name: "status_rank", Values: rank},
		{Name: "rule", Values: rule}, {Name: "severity", Values: severity}, {Name: "chain", Values: chain},
		{Name: "txid", Values: txid}, {Name: "block_hash", Values: hash}, {Name: "height", Values: height},
		{Name: "time", Values: when}, {Name: "direction", Values: dir}, {Name: "address", Values: addr},
		{Name: "amount", Values: amount}, {Name: "asset", Values: asset}, {Name: "payload", Values: payload},
		{Name: "published", Values: published},
	})
	if err != nil {
		return fmt.Errorf("alert: storing %d alerts: %w", n, err)
	}
	return nil
}

type paymentRow struct {
	rule, address, payer, txid, blockHash string
	height                                int64
	amount                                *big.Int
}

func (a *Alerter) storePayments(ctx context.Context, rows []paymentRow) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	rule, addr, payer, txid, hash := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	height, amount := make([]uint64, n), make([]string, n)
	for i, r := range rows {
		rule[i], addr[i], payer[i], txid[i], hash[i], height[i], amount[i] = r.rule, r.address, r.payer, r.txid, r.blockHash, uint64(r.height), r.amount.String()
	}
	err := a.conn.Insert(ctx, "alert_payments", []store.Column{
		{Name: "rule", Values: rule}, {Name: "address", Values: addr}, {Name: "payer", Values: payer},
		{Name: "txid", Values: txid}, {Name: "block_hash", Values: hash}, {Name: "height", Values: height},
		{Name: "amount", Values: amount},
	})
	if err != nil {
		return fmt.Errorf("alert: storing %d payments: %w", n, err)
	}
	return nil
}

// sentFor returns every stored alert state of a block.
func (a *Alerter) sentFor(ctx context.Context, blockHash string) ([]*Alert, error) {
	return query(ctx, a.conn, "SELECT payload FROM alerts FINAL WHERE chain = ? AND block_hash = ? ORDER BY id, status_rank", a.cfg.Chain, blockHash)
}

// load restores what a restarted alerter must remember: the provisional
// alerts not yet confirmed or retracted, and the repeated-payments history.
func (a *Alerter) load(ctx context.Context) error {
	all, err := query(ctx, a.conn, "SELECT payload FROM alerts FINAL WHERE chain = ? AND id IN (SELECT id FROM alerts WHERE chain = ? AND status = ?) ORDER BY id, status_rank", a.cfg.Chain, a.cfg.Chain, string(Provisional))
	if err != nil {
		return err
	}
	latest := map[string]*Alert{}
	for _, al := range all {
		if cur, ok := latest[al.ID]; !ok || al.Status.rank() > cur.Status.rank() {
			latest[al.ID] = al
		}
	}
	for _, al := range latest {
		if al.Status == Provisional {
			a.pending[al.Height] = append(a.pending[al.Height], al)
		}
	}
	names := make([]any, 0, len(a.cfg.Rules))
	for _, r := range a.cfg.Rules {
		if r.Kind == KindRepeated {
			names = append(names, r.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	rows, err := a.conn.Query(ctx, "SELECT rule, address, payer, txid, block_hash, height, amount FROM alert_payments FINAL WHERE rule IN ? ORDER BY height", ch.GroupSet{Value: names})
	if err != nil {
		return fmt.Errorf("alert: loading payments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r paymentRow
		var h uint64
		var amount string
		if err := rows.Scan(&r.rule, &r.address, &r.payer, &r.txid, &r.blockHash, &h, &amount); err != nil {
			return fmt.Errorf("alert: loading payments: %w", err)
		}
		var ok bool
		if r.amount, ok = new(big.Int).SetString(amount, 10); !ok {
			return fmt.Errorf("alert: stored payment %s has amount %q", r.txid, amount)
		}
		k := historyKey{r.rule, r.address, r.payer}
		a.history[k] = append(a.history[k], payment{txid: r.txid, blockHash: r.blockHash, height: int64(h), amount: r.amount})
	}
	return rows.Err()
}

func query(ctx context.Context, conn store.Conn, q string, args ...any) ([]*Alert, error) {
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("alert: reading alerts: %w", err)
	}
	defer rows.Close()
	var out []*Alert
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("alert: reading alerts: %w", err)
		}
		var al Alert
		if err := json.Unmarshal([]byte(raw), &al); err != nil {
			return nil, fmt.Errorf("alert: stored alert is not %s JSON: %w", Format, err)
		}
		out = append(out, &al)
	}
	return out, rows.Err()
}

// Filter selects stored alert states.
type Filter struct {
	Since    time.Time // published at or after
	Rule     string    // "" for every rule
	Severity string    // "" for every severity
	Limit    int       // at most this many; 0 means 1000
}

// List returns the alert states that match f, newest block first: what
// `tracer alerts list` shows. The rule and severity select in the query,
// before the limit applies.
func List(ctx context.Context, conn store.Conn, f Filter) ([]*Alert, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	since := f.Since
	if epoch := time.Unix(0, 0); since.Before(epoch) {
		since = epoch // DateTime starts in 1970: nothing was published before
	}
	q := "SELECT payload FROM alerts FINAL WHERE published >= ?"
	args := []any{since.UTC()}
	if f.Rule != "" {
		q += " AND rule = ?"
		args = append(args, f.Rule)
	}
	if f.Severity != "" {
		q += " AND severity = ?"
		args = append(args, f.Severity)
	}
	return query(ctx, conn, q+" ORDER BY height DESC, id, status_rank LIMIT ?", append(args, f.Limit)...)
}
