package labels

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/store"
)

// Sentinel errors.
var (
	// ErrNotFound: no label for the address (at that date).
	ErrNotFound = errors.New("labels: not found")
)

// Store keeps labels in ClickHouse (tables label_imports and
// label_entries, store migration 4).
type Store struct {
	conn store.Conn
	now  func() time.Time
}

// NewStore migrates the schema on conn and returns a label store on it.
func NewStore(ctx context.Context, conn store.Conn) (*Store, error) {
	if err := store.Migrate(ctx, conn); err != nil {
		return nil, err
	}
	return &Store{conn: conn, now: func() time.Time { return time.Now().UTC() }}, nil
}

// Conn is the engine under the store.
func (s *Store) Conn() store.Conn { return s.conn }

// Version is one import of a source.
type Version struct {
	ImportID    string    `json:"import_id"`
	Source      string    `json:"source"`
	Format      string    `json:"format"`
	ContentHash string    `json:"content_hash"`
	ValidFrom   time.Time `json:"valid_from"`
	ImportedAt  time.Time `json:"imported_at"`
	AddedBy     string    `json:"added_by,omitempty"`
	Files       string    `json:"files"`
	Labels      uint32    `json:"labels"`
}

// Result is what Write did.
type Result struct {
	// Unchanged: the source's version in force at ValidFrom already has
	// this content; nothing was written.
	Unchanged bool    `json:"unchanged"`
	Version   Version `json:"version"`
	// Superseded is the version this one replaced, if any.
	Superseded *Version `json:"superseded,omitempty"`
	// Added, Removed and Kept compare with the superseded version, by
	// chain, address or cluster, entity and asset.
	Added   int `json:"added"`
	Removed int `json:"removed"`
	Kept    int `json:"kept"`
}

// WriteOptions shape Write.
type WriteOptions struct {
	// ValidFrom is when the list took effect (its publication date); zero
	// means now. A later ValidFrom supersedes an earlier one; an older list
	// imported late lands in the history where it belongs.
	ValidFrom time.Time
	AddedBy   string
}

// Write stores imp as a new version of its source, unless the version in
// force at ValidFrom has the same content. Entries are inserted before the
// import row, which makes them visible: a failure half-way leaves nothing
// anybody reads.
func (s *Store) Write(ctx context.Context, imp *Import, opt WriteOptions) (Result, error) {
	now := s.now().Truncate(time.Second)
	validFrom := opt.ValidFrom
	if validFrom.IsZero() {
		validFrom = now
	}
	validFrom = validFrom.UTC().Truncate(time.Second)
	versions, err := s.Versions(ctx, imp.Source)
	if err != nil {
		return Result{}, err
	}
	var res Result
	if prev := inForce(versions, validFrom); prev != nil {
		res.Superseded = prev
		if prev.ContentHash == imp.Hash {
			return Result{Unchanged: true, Version: *prev}, nil
		}
	}
	// KnownSince: the input's date, else the earliest import of this
	// source that held the same label, else this import's date.
	first, err := s.firstKnown(ctx, imp.Source, versions)
	if err != nil {
		return Result{}, err
	}
	labels := make([]Label, len(imp.Labels))
	copy(labels, imp.Labels)
	for i := range labels {
		l := &labels[i]
		if l.KnownSince.IsZero() {
			l.KnownSince = dateOnly(validFrom)
		}
		if t, ok := first[l.key()]; ok && t.Before(l.KnownSince) {
			l.KnownSince = t
		}
		if l.AddedBy == "" {
			l.AddedBy = opt.AddedBy
		}
	}
	if res.Superseded != nil {
		old, err := s.entriesOf(ctx, []string{res.Superseded.ImportID}, "")
		if err != nil {
			return Result{}, err
		}
		oldKeys := make(map[string]bool, len(old))
		for i := range old {
			oldKeys[old[i].key()] = true
		}
		for i := range labels {
			if oldKeys[labels[i].key()] {
				res.Kept++
				delete(oldKeys, labels[i].key())
			} else {
				res.Added++
			}
		}
		res.Removed = len(oldKeys)
	} else {
		res.Added = len(labels)
	}
	id, err := newImportID(now)
	if err != nil {
		return Result{}, err
	}
	if err := s.insertEntries(ctx, id, labels); err != nil {
		return Result{}, fmt.Errorf("labels: writing %d labels of %s: %w", len(labels), imp.Source, err)
	}
	report, _ := json.Marshal(imp.Report)
	v := Version{
		ImportID: id, Source: imp.Source, Format: imp.Format, ContentHash: imp.Hash,
		ValidFrom: validFrom, ImportedAt: now, AddedBy: opt.AddedBy,
		Files: strings.Join(imp.Files, ", "), Labels: uint32(len(labels)),
	}
	err = s.conn.Insert(ctx, "label_imports", []store.Column{
		{Name: "import_id", Values: []string{v.ImportID}},
		{Name: "source", Values: []string{v.Source}},
		{Name: "format", Values: []string{v.Format}},
		{Name: "content_hash", Values: []string{v.ContentHash}},
		{Name: "valid_from", Values: []time.Time{v.ValidFrom}},
		{Name: "imported_at", Values: []time.Time{v.ImportedAt}},
		{Name: "added_by", Values: []string{v.AddedBy}},
		{Name: "files", Values: []string{v.Files}},
		{Name: "labels", Values: []uint32{v.Labels}},
		{Name: "report", Values: []string{string(report)}},
	})
	if err != nil {
		return Result{}, fmt.Errorf("labels: recording import of %s: %w", imp.Source, err)
	}
	res.Version = v
	return res, nil
}

func newImportID(now time.Time) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("labels: import id: %w", err)
	}
	// Sortable by time, unique by the random tail.
	return now.Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:]), nil
}

func (s *Store) insertEntries(ctx context.Context, id string, labels []Label) error {
	if len(labels) == 0 {
		return nil
	}
	n := len(labels)
	var (
		ids, sources, chains, addrs, clusters, entities, cats = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		addedBy, programs, assets, refs, origins, raws        = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		conf, applyCl                                         = make([]uint8, n), make([]uint8, n)
		since                                                 = make([]time.Time, n)
	)
	for i, l := range labels {
		ids[i], sources[i], chains[i], addrs[i], clusters[i] = id, l.Source, l.Chain, l.Address, l.Cluster
		entities[i], cats[i], conf[i], since[i] = l.Entity, l.Category, l.Confidence, dateTime(l.KnownSince)
		addedBy[i], programs[i], assets[i], refs[i], origins[i], raws[i] = l.AddedBy, l.Program, l.Asset, l.Reference, l.Origin, l.Raw
		if l.ApplyToCluster {
			applyCl[i] = 1
		}
	}
	return s.conn.Insert(ctx, "label_entries", []store.Column{
		{Name: "import_id", Values: ids},
		{Name: "source", Values: sources},
		{Name: "chain", Values: chains},
		{Name: "address", Values: addrs},
		{Name: "cluster", Values: clusters},
		{Name: "entity", Values: entities},
		{Name: "category", Values: cats},
		{Name: "confidence", Values: conf},
		{Name: "known_since", Values: since},
		{Name: "added_by", Values: addedBy},
		{Name: "program", Values: programs},
		{Name: "asset", Values: assets},
		{Name: "apply_to_cluster", Values: applyCl},
		{Name: "reference", Values: refs},
		{Name: "origin", Values: origins},
		{Name: "raw", Values: raws},
	})
}

// Versions lists the imports of source ("" for every source), oldest
// first by ValidFrom.
func (s *Store) Versions(ctx context.Context, source string) ([]Version, error) {
	q := "SELECT import_id, source, format, content_hash, valid_from, imported_at, added_by, files, labels FROM label_imports FINAL"
	var args []any
	if source != "" {
		q += " WHERE source = ?"
		args = append(args, source)
	}
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("labels: reading imports: %w", err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		var v Version
		if err := rows.Scan(&v.ImportID, &v.Source, &v.Format, &v.ContentHash, &v.ValidFrom, &v.ImportedAt, &v.AddedBy, &v.Files, &v.Labels); err != nil {
			return nil, fmt.Errorf("labels: reading imports: %w", err)
		}
		v.ValidFrom, v.ImportedAt = v.ValidFrom.UTC(), v.ImportedAt.UTC()
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("labels: reading imports: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return versionLess(out[i], out[j]) })
	return out, nil
}

func versionLess(a, b Version) bool {
	if !a.ValidFrom.Equal(b.ValidFrom) {
		return a.ValidFrom.Before(b.ValidFrom)
	}
	if !a.ImportedAt.Equal(b.ImportedAt) {
		return a.ImportedAt.Before(b.ImportedAt)
	}
	return a.ImportID < b.ImportID
}

// inForce is the latest of one source's versions (sorted) valid at t.
func inForce(versions []Version, t time.Time) *Version {
	var cur *Version
	for i := range versions {
		if versions[i].ValidFrom.After(t) {
			break
		}
		cur = &versions[i]
	}
	return cur
}

// InForce returns, per source, the version in force at t (zero t: now).
func (s *Store) InForce(ctx context.Context, t time.Time) ([]Version, error) {
	if t.IsZero() {
		t = s.now()
	}
	all, err := s.Versions(ctx, "")
	if err != nil {
		return nil, err
	}
	bySource := map[string][]Version{}
	for _, v := range all {
		bySource[v.Source] = append(bySource[v.Source], v)
	}
	var out []Version
	for _, vs := range bySource {
		if v := inForce(vs, t); v != nil {
			out = append(out, *v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out, nil
}

func (s *Store) firstKnown(ctx context.Context, source string, versions []Version) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if len(versions) == 0 {
		return out, nil
	}
	ids := make([]any, len(versions))
	for i, v := range versions {
		ids[i] = v.ImportID
	}
	rows, err := s.conn.Query(ctx, "SELECT chain, address, cluster, entity, asset, min(known_since) FROM label_entries FINAL WHERE source = ? AND import_id IN ? GROUP BY chain, address, cluster, entity, asset",
		source, ch.GroupSet{Value: ids})
	if err != nil {
		return nil, fmt.Errorf("labels: reading history of %s: %w", source, err)
	}
	defer rows.Close()
	for rows.Next() {
		var l Label
		var t time.Time
		if err := rows.Scan(&l.Chain, &l.Address, &l.Cluster, &l.Entity, &l.Asset, &t); err != nil {
			return nil, fmt.Errorf("labels: reading history of %s: %w", source, err)
		}
		out[l.key()] = t.UTC()
	}
	return out, rows.Err()
}

const entryColumns = "import_id, source, chain, address, cluster, entity, category, confidence, known_since, added_by, program, asset, apply_to_cluster, reference, origin, raw"

// entriesOf reads the labels of the given imports, optionally only those
// of one subject (address or cluster id).
func (s *Store) entriesOf(ctx context.Context, importIDs []string, where string, args ...any) ([]Label, error) {
	if len(importIDs) == 0 {
		return nil, nil
	}
	ids := make([]any, len(importIDs))
	for i, id := range importIDs {
		ids[i] = id
	}
	q := "SELECT " + entryColumns + " FROM label_entries FINAL WHERE import_id IN ?"
	if where != "" {
		q += " AND " + where
	}
	rows, err := s.conn.Query(ctx, q, append([]any{ch.GroupSet{Value: ids}}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("labels: reading labels: %w", err)
	}
	defer rows.Close()
	var out []Label
	for rows.Next() {
		var l Label
		var apply uint8
		if err := rows.Scan(&l.ImportID, &l.Source, &l.Chain, &l.Address, &l.Cluster, &l.Entity, &l.Category, &l.Confidence,
			&l.KnownSince, &l.AddedBy, &l.Program, &l.Asset, &apply, &l.Reference, &l.Origin, &l.Raw); err != nil {
			return nil, fmt.Errorf("labels: reading labels: %w", err)
		}
		l.ApplyToCluster = apply == 1
		l.KnownSince = fromDateTime(l.KnownSince)
		out = append(out, l)
	}
	return out, rows.Err()
}

// Filter selects labels for List.
type Filter struct {
	Category string
	// Categories: any of these (with Category, if set).
	Categories []string
	Chain      string
	Source     string
	// AsOf: the labels in force at this time; zero means now.
	AsOf time.Time
}

// List returns the labels in force at f.AsOf, sorted by chain, subject,
// source and entity.
func (s *Store) List(ctx context.Context, f Filter) ([]Label, error) {
	versions, err := s.InForce(ctx, f.AsOf)
	if err != nil {
		return nil, err
	}
	var ids []string
	validFrom := map[string]time.Time{}
	for _, v := range versions {
		if f.Source != "" && v.Source != f.Source {
			continue
		}
		ids = append(ids, v.ImportID)
		validFrom[v.ImportID] = v.ValidFrom
	}
	var conds []string
	var args []any
	if f.Category != "" {
		conds = append(conds, "category = ?")
		args = append(args, f.Category)
	}
	if len(f.Categories) > 0 {
		cats := make([]any, len(f.Categories))
		for i, c := range f.Categories {
			cats[i] = c
		}
		conds = append(conds, "category IN ?")
		args = append(args, ch.GroupSet{Value: cats})
	}
	if f.Chain != "" {
		conds = append(conds, "chain = ?")
		args = append(args, f.Chain)
	}
	out, err := s.entriesOf(ctx, ids, strings.Join(conds, " AND "), args...)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].ValidFrom = validFrom[out[i].ImportID]
	}
	sortLabels(out)
	return out, nil
}

func sortLabels(ls []Label) {
	sort.Slice(ls, func(i, j int) bool {
		a, b := ls[i], ls[j]
		if a.Chain != b.Chain {
			return a.Chain < b.Chain
		}
		if a.Subject() != b.Subject() {
			return a.Subject() < b.Subject()
		}
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		if a.Entity != b.Entity {
			return a.Entity < b.Entity
		}
		return a.Asset < b.Asset
	})
}

// Appearance is one source's history of a subject: the versions that
// listed it.
type Appearance struct {
	Source string `json:"source"`
	// First and Last: the earliest and latest versions that listed it.
	First Version `json:"first"`
	Last  Version `json:"last"`
	// Current: the source's version in force still lists it.
	Current bool `json:"current"`
	// DroppedBy: the first version after Last, which no longer lists it.
	DroppedBy *Version `json:"dropped_by,omitempty"`
}

// Show is what the store knows about one subject.
type Show struct {
	Chain   string    `json:"chain,omitempty"`
	Subject string    `json:"subject"`
	AsOf    time.Time `json:"as_of"`
	// Labels in force at AsOf.
	Labels []Label `json:"labels"`
	// History per source, over every import (also after AsOf).
	History []Appearance `json:"history"`
	// Cluster and ViaCluster: the address's cluster and the labels that
	// reach it through the cluster (see ThroughCluster).
	Cluster    uint32         `json:"cluster,omitempty"`
	ViaCluster []ClusterLabel `json:"via_cluster,omitempty"`
}

// ParseSubject reads an address of any followed chain, or cluster:ID, and
// returns its chain ("" for a cluster) and canonical form.
func ParseSubject(s string) (chainName, subject string, cluster bool, err error) {
	s = strings.TrimSpace(s)
	if id, ok, err := ParseCluster(s); ok {
		return "", id, true, err
	}
	for _, c := range chain.Names {
		if canon, err := CanonicalAddress(c, s); err == nil {
			return c, canon, false, nil
		}
	}
	// Say why for the chain the form suggests.
	c := chain.BTC
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		c = chain.ETH
	case strings.HasPrefix(s, "T"):
		c = chain.TRON
	}
	_, err = CanonicalAddress(c, s)
	return "", "", false, fmt.Errorf("%q is not a Bitcoin, Ethereum or TRON address, nor cluster:ID (as %s: %v)", clip(s), c, err)
}

// Show returns the labels of subject (an address of any followed chain, or
// cluster:ID) in force at asOf (zero: now), and its history per source.
// ErrNotFound when no import ever labelled it.
func (s *Store) Show(ctx context.Context, subject string, asOf time.Time) (*Show, error) {
	chain, canon, isCluster, err := ParseSubject(subject)
	if err != nil {
		return nil, err
	}
	if asOf.IsZero() {
		asOf = s.now()
	}
	all, err := s.Versions(ctx, "")
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%w: %s (no labels imported yet)", ErrNotFound, subject)
	}
	ids := make([]string, len(all))
	byID := make(map[string]Version, len(all))
	for i, v := range all {
		ids[i] = v.ImportID
		byID[v.ImportID] = v
	}
	where, arg := "address = ? AND cluster = ''", canon
	if isCluster {
		where = "cluster = ? AND address = ''"
	}
	entries, err := s.entriesOf(ctx, ids, where, arg)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, subject)
	}
	out := &Show{Chain: chain, Subject: subject, AsOf: asOf}
	if isCluster {
		out.Subject = ClusterPrefix + canon
	} else {
		out.Subject = canon
	}
	bySource := map[string][]Version{}
	for _, v := range all {
		bySource[v.Source] = append(bySource[v.Source], v)
	}
	listedIn := map[string]bool{}
	for _, e := range entries {
		listedIn[e.ImportID] = true
	}
	now := s.now()
	for src, vs := range bySource {
		var app *Appearance
		for i, v := range vs {
			if !listedIn[v.ImportID] {
				if app != nil && app.DroppedBy == nil && app.Last.ImportID == vs[i-1].ImportID {
					d := v
					app.DroppedBy = &d
				}
				continue
			}
			if app == nil {
				app = &Appearance{Source: src, First: v}
			}
			app.Last, app.DroppedBy = v, nil
		}
		if app == nil {
			continue
		}
		if cur := inForce(vs, now); cur != nil && listedIn[cur.ImportID] {
			app.Current = true
		}
		out.History = append(out.History, *app)
	}
	sort.Slice(out.History, func(i, j int) bool { return out.History[i].Source < out.History[j].Source })
	inForceAt := map[string]bool{}
	for _, vs := range bySource {
		if v := inForce(vs, asOf); v != nil {
			inForceAt[v.ImportID] = true
		}
	}
	for _, e := range entries {
		if inForceAt[e.ImportID] {
			e.ValidFrom = byID[e.ImportID].ValidFrom
			out.Labels = append(out.Labels, e)
		}
	}
	sortLabels(out.Labels)
	return out, nil
}

// dateTime maps the zero time (unknown) to DateTime's zero, the epoch.
func dateTime(t time.Time) time.Time {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return time.Unix(0, 0).UTC()
	}
	return t.UTC()
}

func fromDateTime(t time.Time) time.Time {
	if t.Unix() <= 0 {
		return time.Time{}
	}
	return t.UTC()
}

// BriefIn returns the labels of one chain among the label imports versions
// with only what a tracer needs filled in: chain, address or cluster,
// entity, category, source, asset and import. addresses nil: every label
// of the chain; else those of the addresses. It reads six columns without
// FINAL (a row imported twice is dropped here by its key): about a tenth
// of what Lookup and List read.
func (s *Store) BriefIn(ctx context.Context, versions []Version, chain string, addresses []string) ([]Label, error) {
	if len(versions) == 0 || addresses != nil && len(addresses) == 0 {
		return nil, nil
	}
	ids := make([]any, len(versions))
	for i, v := range versions {
		ids[i] = v.ImportID
	}
	type key struct{ address, cluster, importID, entity, asset string }
	seen := map[key]bool{}
	var out []Label
	read := func(where string, args ...any) error {
		q := "SELECT import_id, address, cluster, entity, category, source, asset FROM label_entries WHERE import_id IN ? AND chain = ?" + where
		rows, err := s.conn.Query(ctx, q, append([]any{ch.GroupSet{Value: ids}, chain}, args...)...)
		if err != nil {
			return fmt.Errorf("labels: reading labels: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			l := Label{Chain: chain}
			if err := rows.Scan(&l.ImportID, &l.Address, &l.Cluster, &l.Entity, &l.Category, &l.Source, &l.Asset); err != nil {
				return fmt.Errorf("labels: reading labels: %w", err)
			}
			if k := (key{l.Address, l.Cluster, l.ImportID, l.Entity, l.Asset}); !seen[k] {
				seen[k] = true
				out = append(out, l)
			}
		}
		return rows.Err()
	}
	if addresses == nil {
		if err := read(""); err != nil {
			return nil, err
		}
	}
	for start := 0; start < len(addresses); start += store.KeysLimit {
		part := addresses[start:min(start+store.KeysLimit, len(addresses))]
		if err := read(" AND address IN ?", store.Keys(part)); err != nil {
			return nil, err
		}
	}
	sortLabels(out)
	return out, nil
}

// ClusterLabelsIn returns the labels of one chain's clusters (labels that
// name a cluster, not an address) among the label imports versions.
func (s *Store) ClusterLabelsIn(ctx context.Context, versions []Version, chain string) ([]Label, error) {
	ids := make([]string, len(versions))
	validFrom := map[string]time.Time{}
	for i, v := range versions {
		ids[i] = v.ImportID
		validFrom[v.ImportID] = v.ValidFrom
	}
	// address = '' leads the sorting key: a read of the first granules.
	ls, err := s.entriesOf(ctx, ids, "address = '' AND cluster != '' AND chain = ?", chain)
	if err != nil {
		return nil, err
	}
	for i := range ls {
		ls[i].ValidFrom = validFrom[ls[i].ImportID]
	}
	sortLabels(ls)
	return ls, nil
}

// Lookup returns the labels in force at asOf (zero: now) of the given
// canonical addresses of one chain, by address; addresses without labels
// are absent. For a tracer labelling the endpoints it reached.
func (s *Store) Lookup(ctx context.Context, chain string, addresses []string, asOf time.Time) (map[string][]Label, error) {
	out := map[string][]Label{}
	if len(addresses) == 0 {
		return out, nil
	}
	versions, err := s.InForce(ctx, asOf)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(versions))
	validFrom := map[string]time.Time{}
	for i, v := range versions {
		ids[i] = v.ImportID
		validFrom[v.ImportID] = v.ValidFrom
	}
	for start := 0; start < len(addresses); start += store.KeysLimit {
		part := addresses[start:min(start+store.KeysLimit, len(addresses))]
		ls, err := s.entriesOf(ctx, ids, "chain = ? AND address IN ?", chain, store.Keys(part))
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			l.ValidFrom = validFrom[l.ImportID]
			out[l.Address] = append(out[l.Address], l)
		}
	}
	for _, ls := range out {
		sortLabels(ls)
	}
	return out, nil
}
