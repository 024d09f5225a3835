package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster/heuristic"
	"github.com/tracerproject/tracer/store"
)

// Ethereum clustering: the deposit-address-reuse heuristic
// (heuristic.Deposits) needs the payments each address received and no
// sweep has forwarded yet. They are kept in the same Pebble index as the
// links, under keys of their own:
//
//	'd' address        → the address's heuristic.DepositState
//	'q' height         → the addresses that received at that height, whose
//	                     receipts leave the window Window blocks later
//	'j' seq            → journal of the event seq: the previous value of
//	                     every 'd' and 'q' key it changed
//
// Every event writes its journal in the batch that holds its changes. An
// undo restores the undone block's journal (undos come newest first, so
// the state is then what it was before the block). On open, the journals
// of events after the forest snapshot are rolled back, newest first: the
// index may be ahead of the snapshot (it is committed with every block),
// and the events after the snapshot are replayed from the stream.
const (
	keyDeposit = 'd'
	keyExpiry  = 'q'
	keyJournal = 'j'
)

// ethState is the Ethereum part of a State.
type ethState struct {
	dep    heuristic.Deposits
	static map[string]string // configured exchange wallets
}

// OpenETHState opens the state of an Ethereum clusterer in dir: the State
// of OpenState with the deposit heuristic's memory. The exchange wallets
// are those of h.Deposit.Exchanges until SetExchanges adds others.
func OpenETHState(dir string, h heuristic.Config, supercluster uint32, log *slog.Logger) (*State, error) {
	s, err := OpenState(dir, h, supercluster, log)
	if err != nil {
		return nil, err
	}
	s.eth = &ethState{dep: heuristic.Deposits{Config: h.Deposit, Exchanges: maps.Clone(h.Deposit.Exchanges)}, static: maps.Clone(h.Deposit.Exchanges)}
	if s.eth.dep.Exchanges == nil {
		s.eth.dep.Exchanges = map[string]string{}
	}
	if err := s.rollbackETH(); err != nil {
		err = errors.Join(err, s.llog.close(), s.alog.close(), s.db.Close())
		s.free()
		return nil, err
	}
	return s, nil
}

// SetExchanges sets the known exchange wallets (address → entity) the
// deposit heuristic sweeps to, on top of the configured ones, from the
// next block on. It returns how many wallets are known.
func (s *State) SetExchanges(wallets map[string]string) (int, error) {
	if s.eth == nil {
		return 0, errors.New("cluster: exchange wallets are for the Ethereum clusterer")
	}
	m := maps.Clone(wallets)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, s.eth.static) // the configuration wins over labels
	s.eth.dep.Exchanges = m
	return len(m), nil
}

func depositKey(addr string) []byte { return append([]byte{keyDeposit}, addr...) }

func expiryKey(height int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{keyExpiry}, uint64(height))
}

func journalKey(seq uint64) []byte { return binary.BigEndian.AppendUint64([]byte{keyJournal}, seq) }

// journal records the previous values of the keys an event changes.
type journal struct {
	keys [][]byte
	old  [][]byte // nil: the key was absent
}

// set writes key (nil value: delete) through the batch, journaling its
// previous committed value.
func (j *journal) set(s *State, key, v []byte) error {
	old, ok, err := s.get(key)
	if err != nil {
		return err
	}
	if !ok {
		old = nil
	} else if old == nil {
		old = []byte{}
	}
	j.keys, j.old = append(j.keys, key), append(j.old, old)
	if v == nil {
		return s.b.Delete(key, nil)
	}
	return s.b.Set(key, v, nil)
}

// encode: per entry, uvarint key length, key, a byte (1: had a value),
// uvarint value length, value.
func (j *journal) encode() []byte {
	var v []byte
	for i, k := range j.keys {
		v = binary.AppendUvarint(v, uint64(len(k)))
		v = append(v, k...)
		if j.old[i] == nil {
			v = append(v, 0)
			continue
		}
		v = append(v, 1)
		v = binary.AppendUvarint(v, uint64(len(j.old[i])))
		v = append(v, j.old[i]...)
	}
	return v
}

func decodeJournal(v []byte) (*journal, error) {
	j := &journal{}
	bad := errors.New("cluster: corrupt deposit journal")
	for len(v) > 0 {
		n, w := binary.Uvarint(v)
		if w <= 0 || uint64(len(v)-w) < n+1 {
			return nil, bad
		}
		key := bytes.Clone(v[w : w+int(n)])
		v = v[w+int(n):]
		had := v[0]
		v = v[1:]
		var old []byte
		if had == 1 {
			n, w := binary.Uvarint(v)
			if w <= 0 || uint64(len(v)-w) < n {
				return nil, bad
			}
			old = bytes.Clone(v[w : w+int(n)])
			v = v[w+int(n):]
		} else if had != 0 {
			return nil, bad
		}
		j.keys, j.old = append(j.keys, key), append(j.old, old)
	}
	return j, nil
}

// revert writes the journal's old values back, journaling the current ones
// in into (nil: not journaled).
func (j *journal) revert(s *State, into *journal) error {
	for i := len(j.keys) - 1; i >= 0; i-- {
		var err error
		if into != nil {
			err = into.set(s, j.keys[i], j.old[i])
		} else if j.old[i] == nil {
			err = s.b.Delete(j.keys[i], nil)
		} else {
			err = s.b.Set(j.keys[i], j.old[i], nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// rollbackETH undoes the deposit memory of events after the snapshot
// (newest first), which the stream replays.
func (s *State) rollbackETH() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: journalKey(s.lastSeq + 1), UpperBound: []byte{keyJournal + 1}})
	if err != nil {
		return err
	}
	n := 0
	for ok := it.Last(); ok; ok = it.Prev() {
		j, err := decodeJournal(it.Value())
		if err == nil {
			err = j.revert(s, nil)
		}
		if err == nil {
			err = s.b.Delete(bytes.Clone(it.Key()), nil)
		}
		if err != nil {
			it.Close()
			return fmt.Errorf("cluster: rolling the deposit memory back to the snapshot: %w", err)
		}
		n++
	}
	if err := it.Close(); err != nil {
		return err
	}
	if n > 0 {
		s.log.Info("deposit memory rolled back to the snapshot", "events", n, "snapshot_seq", s.lastSeq)
	}
	return s.Commit(true)
}

// connectETH applies an Ethereum block: the deposit heuristic's links.
func (s *State) connectETH(seq uint64, b *chain.Block, ch *Changes) error {
	// Reads below see the committed index only: commit the previous
	// blocks' changes.
	if err := s.Commit(false); err != nil {
		return err
	}
	var j journal
	var expire []string
	if w := s.eth.dep.Config.Window; s.eth.dep.Config.Enabled && b.Height-w-1 >= 0 {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: expiryKey(0), UpperBound: expiryKey(b.Height - w)})
		if err != nil {
			return err
		}
		var keys [][]byte
		for ok := it.First(); ok; ok = it.Next() {
			keys = append(keys, bytes.Clone(it.Key()))
			for _, a := range strings.Split(string(it.Value()), ",") {
				if a != "" {
					expire = append(expire, a)
				}
			}
		}
		if err := it.Close(); err != nil {
			return err
		}
		for _, k := range keys {
			if err := j.set(s, k, nil); err != nil {
				return err
			}
		}
		slices.Sort(expire)
		expire = slices.Compact(expire)
	}
	links, changed, err := s.eth.dep.Block(b, expire, func(addr string) (heuristic.DepositState, error) {
		v, ok, err := s.get(depositKey(addr))
		if err != nil || !ok {
			return heuristic.DepositState{}, err
		}
		return decodeDepositState(v)
	})
	if err != nil {
		return fmt.Errorf("cluster: block %d %s: %w", b.Height, b.Hash, err)
	}
	var received []string
	for _, a := range slices.Sorted(maps.Keys(changed)) {
		st := changed[a]
		var v []byte
		if !st.Empty() {
			v = encodeDepositState(st)
		}
		if err := j.set(s, depositKey(a), v); err != nil {
			return err
		}
		for _, r := range st.Receipts {
			if r.Height == b.Height {
				received = append(received, a)
				break
			}
		}
	}
	if len(received) > 0 {
		if err := j.set(s, expiryKey(b.Height), []byte(strings.Join(received, ","))); err != nil {
			return err
		}
	}
	if err := s.b.Set(journalKey(seq), j.encode(), nil); err != nil {
		return err
	}
	recs := make([][3]uint32, 0, len(links))
	for k, l := range links {
		ev := depositEvidence{Sweep: l.Sweep, Exchange: l.Exchange, Asset: l.Asset, Rule: l.Rule, Confidence: l.Confidence, PaidAt: l.Height}
		rec, err := s.drawLink(ch, l.Link, l.Txid, ev.encode(), uint32(b.Height), b.Hash, seq, uint32(k))
		if err != nil {
			return err
		}
		recs = append(recs, rec)
	}
	return s.connected(seq, b, recs, ch)
}

// undo reverts the deposit memory of the block event bseq, in the undo
// event seq.
func (e *ethState) undo(s *State, seq, bseq uint64) error {
	v, ok, err := s.get(journalKey(bseq))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("deposit journal of event %d missing", bseq)
	}
	old, err := decodeJournal(v)
	if err != nil {
		return err
	}
	var j journal
	if err := old.revert(s, &j); err != nil {
		return err
	}
	return s.b.Set(journalKey(seq), j.encode(), nil)
}

// DepositState encoding: flags (1: rejected), then uvarint-prefixed
// exchange, and per receipt uvarint-prefixed payer, asset, txid, value
// (decimal) and a uvarint height.
func encodeDepositState(st *heuristic.DepositState) []byte {
	v := []byte{0}
	if st.Rejected {
		v[0] = 1
	}
	str := func(s string) {
		v = binary.AppendUvarint(v, uint64(len(s)))
		v = append(v, s...)
	}
	str(st.Exchange)
	for _, r := range st.Receipts {
		str(r.Payer)
		str(r.Asset)
		str(r.Txid)
		str(r.Value.String())
		v = binary.AppendUvarint(v, uint64(r.Height))
	}
	return v
}

func decodeDepositState(v []byte) (heuristic.DepositState, error) {
	var st heuristic.DepositState
	bad := errors.New("cluster: corrupt deposit state")
	if len(v) < 1 || v[0] > 1 {
		return st, bad
	}
	st.Rejected = v[0] == 1
	v = v[1:]
	str := func() (string, bool) {
		n, w := binary.Uvarint(v)
		if w <= 0 || uint64(len(v)-w) < n {
			return "", false
		}
		s := string(v[w : w+int(n)])
		v = v[w+int(n):]
		return s, true
	}
	var ok bool
	if st.Exchange, ok = str(); !ok {
		return st, bad
	}
	for len(v) > 0 {
		var r heuristic.Receipt
		var val string
		ok1 := true
		for _, p := range []*string{&r.Payer, &r.Asset, &r.Txid, &val} {
			if *p, ok = str(); !ok {
				ok1 = false
				break
			}
		}
		if !ok1 {
			return st, bad
		}
		amt, err := chain.ParseAmount(val)
		if err != nil {
			return st, fmt.Errorf("%w: %w", bad, err)
		}
		h, w := binary.Uvarint(v)
		if w <= 0 || h > 1<<62 {
			return st, bad
		}
		v = v[w:]
		r.Value, r.Height = amt, int64(h)
		st.Receipts = append(st.Receipts, r)
	}
	return st, nil
}

// depositEvidence is what a deposit link records beyond the paying
// transaction (Merge.Extra): the sweep that forwarded the payment to an
// exchange wallet, the asset, the rule and its confidence, and the height
// of the payment (the link's height is the sweep's).
type depositEvidence struct {
	Sweep, Exchange, Asset, Rule string
	Confidence                   uint8
	PaidAt                       int64
}

func (e depositEvidence) encode() string {
	return strings.Join([]string{e.Sweep, e.Exchange, e.Asset, e.Rule, strconv.Itoa(int(e.Confidence)), strconv.FormatInt(e.PaidAt, 10)}, " ")
}

func parseDepositEvidence(s string) (depositEvidence, error) {
	f := strings.Split(s, " ")
	if len(f) != 6 {
		return depositEvidence{}, fmt.Errorf("cluster: deposit evidence %q: want 6 fields", s)
	}
	c, err1 := strconv.ParseUint(f[4], 10, 8)
	h, err2 := strconv.ParseInt(f[5], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return depositEvidence{}, fmt.Errorf("cluster: deposit evidence %q: %w", s, err)
	}
	return depositEvidence{Sweep: f[0], Exchange: f[1], Asset: f[2], Rule: f[3], Confidence: uint8(c), PaidAt: h}, nil
}

// evidenceColumns are the Ethereum merge rows' columns beyond the Bitcoin
// ones.
func evidenceColumns(ms []Merge) ([]store.Column, error) {
	n := len(ms)
	sweep, exch, asset, rule := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	conf := make([]uint8, n)
	paid := make([]uint64, n)
	for i, m := range ms {
		e, err := parseDepositEvidence(m.Extra)
		if err != nil {
			return nil, err
		}
		sweep[i], exch[i], asset[i], rule[i], conf[i], paid[i] = e.Sweep, e.Exchange, e.Asset, e.Rule, e.Confidence, uint64(max(e.PaidAt, 0))
	}
	return []store.Column{
		{Name: "sweep_txid", Values: sweep}, {Name: "exchange", Values: exch}, {Name: "asset", Values: asset},
		{Name: "rule", Values: rule}, {Name: "confidence", Values: conf}, {Name: "paid_height", Values: paid},
	}, nil
}

// ExchangeSource gives the Ethereum clusterer the known exchange wallets
// (address → exchange entity), read again every Config.ExchangeRefresh.
// pipeline gives it those labelled "exchange" in the label store.
type ExchangeSource interface {
	Exchanges(ctx context.Context) (map[string]string, error)
}
