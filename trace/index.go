package trace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/store"
)

// The exposure index.
//
// Exposure traces from one subject in both directions: right for one
// address, far too slow for a thousand on a large store. The index turns
// the question around, as the every-cluster report does: it propagates each
// label category downstream (where its money went: the received exposure
// of every output it reached) and upstream (where it came from: the sent
// exposure of everyone who paid into it) under haircut, every labelled
// address ending a path, as a trace from the category would, and stores
// what each subject's outputs hold of each category. Exposure of a subject
// is then a keyed read. The propagation is a scan of the chain in order
// and in reverse (index_scan.go), every category at once.
//
// What a subject holds: each tainted output reached splits its taint among
// the outputs that fed it in proportion to their taint (floor per share);
// the shares fed from outside the subject count, at the feeding output's
// hop count plus one (none for a move inside a cluster): direct at one hop
// or less, indirect beyond. Taint moving between a subject's own outputs is
// not received again. Subjects are every address reached (moves from any
// other address count) and every cluster reached (moves from outside the
// cluster count; an unclustered address is its own cluster).
//
// Under haircut this agrees with the per-subject trace (Exposure) up to
// the rounding of each step (floor in both, so at most a satoshi per
// output per hop) and up to the hop count of a share: the index counts a
// share at the least hops from the category, the per-subject trace at the
// least hops from the subject, which differ where several paths of
// different lengths join. Money that leaves a subject and comes back is
// counted each time it enters. The tests hold the two within a fifth per
// category (or 1,000 sat) on the synthetic world, and the index exactly to
// the every-cluster report's propagation.
//
// A build is as fresh as the chain tip and the label imports it read; its
// row in taint_exposure_builds says which, and OpenExposureIndex reports a
// build the chain or the labels have moved past as stale.

// ErrNoIndex: no exposure index has been built in this store.
var ErrNoIndex = errors.New("trace: no exposure index (tracer exposure --build-index builds it; --live traces per subject)")

// IndexConfig shapes an exposure index build. Copy DefaultIndexConfig.
type IndexConfig struct {
	Hops     int
	MinValue int64
	// Since, Until bound the transactions followed and the seeds, as in a
	// trace; zero: unbounded.
	Since, Until time.Time
}

// DefaultIndexConfig is a 6-hop haircut index.
func DefaultIndexConfig() IndexConfig {
	return IndexConfig{Hops: DefaultHops}
}

func (c IndexConfig) trace(dir string) Config {
	return Config{Model: Haircut, Direction: dir, Hops: c.Hops, MinValue: c.MinValue, Since: c.Since, Until: c.Until,
		StopAtAnyLabel: true, MaxNodes: DefaultMaxNodes, Timeout: DefaultTimeout}
}

// Params is the index's parameters as a reproducible flag string.
func (c IndexConfig) Params() string {
	s := fmt.Sprintf("model=haircut hops=%d min-value=%d", c.Hops, c.MinValue)
	if !c.Since.IsZero() {
		s += " since=" + c.Since.UTC().Format(time.RFC3339)
	}
	if !c.Until.IsZero() {
		s += " until=" + c.Until.UTC().Format(time.RFC3339)
	}
	return s + " stop-at=any-label rounding=floor-per-output index=propagated-from-categories"
}

// IndexBuild describes one build of the exposure index: what it was built
// from (the chain tip, the label imports) and what it holds.
type IndexBuild struct {
	Build            uint64    `json:"build"`
	Chain            string    `json:"chain"`
	Params           string    `json:"params"`
	Hops             int       `json:"hops"`
	MinValue         int64     `json:"min_value"`
	Since            time.Time `json:"since,omitzero"`
	Until            time.Time `json:"until,omitzero"`
	BuiltAt          time.Time `json:"built_at"`
	BlockHeight      uint32    `json:"block_height"`
	BlockHash        string    `json:"block_hash"`
	LabelImports     uint32    `json:"label_imports"`
	LabelsImportedAt time.Time `json:"labels_imported_at"`
	Categories       []string  `json:"categories"`
	Subjects         uint64    `json:"subjects"`
	Rows             uint64    `json:"rows"`
	Nodes            uint64    `json:"nodes"`
	Capped           string    `json:"capped,omitempty"`
	Seconds          float64   `json:"seconds"`
}

// flowKey is a row of the index: a subject's flow with a category.
type flowKey struct {
	subject, category string
	to                bool
}

type flowSum struct{ direct, indirect int64 }

// chainTip is the freshness of the store: the tip and the label imports.
type chainTip struct {
	height     uint32
	hash       string
	imports    uint32
	importedAt time.Time
}

func (t *Tracer) tip(ctx context.Context) (chainTip, error) {
	var tip chainTip
	rows, err := t.conn.Query(ctx, "SELECT height, hash FROM btc_blocks ORDER BY height DESC, hash LIMIT 1")
	if err != nil {
		return tip, fmt.Errorf("trace: reading the chain tip: %w", err)
	}
	for rows.Next() {
		if err := rows.Scan(&tip.height, &tip.hash); err != nil {
			rows.Close()
			return tip, fmt.Errorf("trace: reading the chain tip: %w", err)
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return tip, fmt.Errorf("trace: reading the chain tip: %w", err)
	}
	rows, err = t.conn.Query(ctx, "SELECT toUInt32(uniqExact(source, import_id)), max(imported_at) FROM label_imports")
	if err != nil {
		return tip, fmt.Errorf("trace: reading the label imports: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(&tip.imports, &tip.importedAt); err != nil {
			return tip, fmt.Errorf("trace: reading the label imports: %w", err)
		}
	}
	tip.importedAt = tip.importedAt.UTC()
	return tip, rows.Err()
}

// categorySources are the addresses labelled with each category (a
// cluster label stands for the cluster's members).
func (t *Tracer) categorySources(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	if t.labels == nil {
		return out, nil
	}
	list, err := t.labels.List(ctx, labels.Filter{Chain: chain.BTC})
	if err != nil {
		return nil, fmt.Errorf("trace: reading labels: %w", err)
	}
	seen := map[string]bool{}
	add := func(c, a string) {
		if k := c + "\x00" + a; !seen[k] {
			seen[k] = true
			out[c] = append(out[c], a)
		}
	}
	cl := cluster.NewClusters(t.conn)
	for _, l := range list {
		if l.Address != "" {
			add(l.Category, l.Address)
			continue
		}
		id, err := strconv.ParseUint(l.Cluster, 10, 32)
		if err != nil {
			continue
		}
		ms, err := clusterMembers(ctx, cl, uint32(id))
		if err != nil {
			return nil, fmt.Errorf("trace: members of labelled cluster %s (%s): %w", l.Cluster, l.Entity, err)
		}
		for _, m := range ms {
			add(l.Category, m)
		}
	}
	return out, nil
}

// BuildExposureIndex propagates every label category downstream and
// upstream and stores the exposure of every subject reached as a new
// build; older builds' rows are then deleted.
func (t *Tracer) BuildExposureIndex(ctx context.Context, ic IndexConfig) (*IndexBuild, error) {
	began := time.Now()
	for _, dir := range []string{Down, Up} {
		c := ic.trace(dir)
		if err := c.validate(); err != nil {
			return nil, err
		}
	}
	// Read the freshness first: the build is at least as fresh as this.
	tip, err := t.tip(ctx)
	if err != nil {
		return nil, err
	}
	src, err := t.categorySources(ctx)
	if err != nil {
		return nil, err
	}
	b := &IndexBuild{Build: uint64(began.UnixMicro()), Chain: chain.BTC, Params: ic.Params(), Hops: ic.Hops, MinValue: ic.MinValue,
		Since: ic.Since.UTC(), Until: ic.Until.UTC(), BuiltAt: began.UTC().Truncate(time.Second),
		BlockHeight: tip.height, BlockHash: tip.hash, LabelImports: tip.imports, LabelsImportedAt: tip.importedAt, Categories: []string{}}
	if ic.Since.IsZero() {
		b.Since = time.Time{}
	}
	if ic.Until.IsZero() {
		b.Until = time.Time{}
	}
	for c := range src {
		b.Categories = append(b.Categories, c)
	}
	sort.Strings(b.Categories)
	reached, err := t.scanIndex(ctx, ic, b.Categories, src, func(ctx context.Context, acc map[flowKey]*flowSum) error {
		return t.writeIndex(ctx, b, acc)
	})
	if err != nil {
		return nil, err
	}
	b.Nodes = reached
	if b.Subjects, err = t.indexSubjects(ctx, b.Build); err != nil {
		return nil, err
	}
	b.Seconds = time.Since(began).Seconds()
	err = t.conn.Insert(ctx, "taint_exposure_builds", []store.Column{
		{Name: "build", Values: []uint64{b.Build}}, {Name: "chain", Values: []string{b.Chain}}, {Name: "params", Values: []string{b.Params}},
		{Name: "hops", Values: []uint8{uint8(b.Hops)}}, {Name: "min_value", Values: []int64{b.MinValue}},
		{Name: "since", Values: []time.Time{dateTime(b.Since)}}, {Name: "until", Values: []time.Time{dateTime(b.Until)}},
		{Name: "built_at", Values: []time.Time{b.BuiltAt}}, {Name: "block_height", Values: []uint32{b.BlockHeight}},
		{Name: "block_hash", Values: []string{b.BlockHash}}, {Name: "label_imports", Values: []uint32{b.LabelImports}},
		{Name: "labels_imported_at", Values: []time.Time{dateTime(b.LabelsImportedAt)}},
		{Name: "categories", Values: []string{strings.Join(b.Categories, ",")}},
		{Name: "subjects", Values: []uint64{b.Subjects}}, {Name: "rows", Values: []uint64{b.Rows}}, {Name: "nodes", Values: []uint64{b.Nodes}},
		{Name: "capped", Values: []string{b.Capped}}, {Name: "seconds", Values: []float64{b.Seconds}},
	})
	if err != nil {
		return nil, fmt.Errorf("trace: recording exposure index build: %w", err)
	}
	// Readers use the latest build; the older builds' rows go.
	if err := t.conn.Exec(ctx, "ALTER TABLE taint_exposure DELETE WHERE build < ?", b.Build); err != nil {
		return nil, fmt.Errorf("trace: deleting older exposure index builds: %w", err)
	}
	return b, nil
}

// dateTime is t, or the epoch for the zero time (DateTime has no zero).
func dateTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return t.UTC()
}

// indexSubjects counts the subjects of a build.
func (t *Tracer) indexSubjects(ctx context.Context, build uint64) (uint64, error) {
	rows, err := t.conn.Query(ctx, "SELECT uniqExact(subject) FROM taint_exposure WHERE build = ?", build)
	if err != nil {
		return 0, fmt.Errorf("trace: counting the exposure index's subjects: %w", err)
	}
	defer rows.Close()
	var n uint64
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, fmt.Errorf("trace: counting the exposure index's subjects: %w", err)
		}
	}
	return n, rows.Err()
}

// writeIndex stores acc as rows of build b: the sums so far, which later
// rows of the same subject, category and direction add to.
func (t *Tracer) writeIndex(ctx context.Context, b *IndexBuild, acc map[flowKey]*flowSum) error {
	keys := make([]flowKey, 0, len(acc))
	for k, f := range acc {
		if f.direct != 0 || f.indirect != 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y flowKey) int {
		if c := strings.Compare(x.subject, y.subject); c != 0 {
			return c
		}
		if c := strings.Compare(x.category, y.category); c != 0 {
			return c
		}
		switch {
		case x.to == y.to:
			return 0
		case !x.to:
			return -1
		}
		return 1
	})
	const part = 500_000
	for i := 0; i < len(keys); i += part {
		ks := keys[i:min(i+part, len(keys))]
		n := len(ks)
		subj, cat, dir := make([]string, n), make([]string, n), make([]string, n)
		direct, indirect, build := make([]int64, n), make([]int64, n), make([]uint64, n)
		for j, k := range ks {
			f := acc[k]
			subj[j], cat[j], direct[j], indirect[j], build[j] = k.subject, k.category, f.direct, f.indirect, b.Build
			dir[j] = "from"
			if k.to {
				dir[j] = "to"
			}
		}
		err := t.conn.Insert(ctx, "taint_exposure", []store.Column{
			{Name: "subject", Values: subj}, {Name: "build", Values: build}, {Name: "category", Values: cat},
			{Name: "direction", Values: dir}, {Name: "direct", Values: direct}, {Name: "indirect", Values: indirect},
		})
		if err != nil {
			return fmt.Errorf("trace: storing the exposure index: %w", err)
		}
		b.Rows += uint64(n)
	}
	return nil
}

// ExposureIndex reads the latest build of the exposure index.
type ExposureIndex struct {
	t     *Tracer
	Build IndexBuild
	// Stale says what moved past the build since it was made (the chain
	// tip, the label imports); empty: current.
	Stale []string
}

// OpenExposureIndex finds the latest build and checks its freshness.
func (t *Tracer) OpenExposureIndex(ctx context.Context) (*ExposureIndex, error) {
	rows, err := t.conn.Query(ctx, `SELECT build, chain, params, hops, min_value, since, until, built_at, block_height, block_hash,
		label_imports, labels_imported_at, categories, subjects, rows, nodes, capped, seconds
		FROM taint_exposure_builds ORDER BY build DESC LIMIT 1`)
	if err != nil {
		return nil, fmt.Errorf("trace: reading exposure index builds: %w", err)
	}
	x := &ExposureIndex{t: t}
	found := false
	for rows.Next() {
		b := &x.Build
		var hops uint8
		var cats string
		if err := rows.Scan(&b.Build, &b.Chain, &b.Params, &hops, &b.MinValue, &b.Since, &b.Until, &b.BuiltAt, &b.BlockHeight, &b.BlockHash,
			&b.LabelImports, &b.LabelsImportedAt, &cats, &b.Subjects, &b.Rows, &b.Nodes, &b.Capped, &b.Seconds); err != nil {
			rows.Close()
			return nil, fmt.Errorf("trace: reading exposure index builds: %w", err)
		}
		b.Hops, b.Categories, found = int(hops), strings.Split(cats, ","), true
		for _, tm := range []*time.Time{&b.Since, &b.Until, &b.BuiltAt, &b.LabelsImportedAt} {
			if *tm = tm.UTC(); tm.Unix() == 0 {
				*tm = time.Time{}
			}
		}
		if cats == "" {
			b.Categories = []string{}
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("trace: reading exposure index builds: %w", err)
	}
	if !found {
		return nil, ErrNoIndex
	}
	tip, err := t.tip(ctx)
	if err != nil {
		return nil, err
	}
	if tip.height != x.Build.BlockHeight || tip.hash != x.Build.BlockHash {
		x.Stale = append(x.Stale, fmt.Sprintf("the chain tip is now %d %s (built at %d %s)", tip.height, tip.hash, x.Build.BlockHeight, x.Build.BlockHash))
	}
	if tip.imports != x.Build.LabelImports || !tip.importedAt.Equal(x.Build.LabelsImportedAt) {
		x.Stale = append(x.Stale, fmt.Sprintf("labels were imported since (%d imports, latest %s; built with %d, latest %s)",
			tip.imports, tip.importedAt.Format(time.RFC3339), x.Build.LabelImports, x.Build.LabelsImportedAt.Format(time.RFC3339)))
	}
	return x, nil
}

// Exposure reads the exposure of subject (an address or cluster:ID) from
// the index, and what it received (in the build's window) and sent from
// the address index.
func (x *ExposureIndex) Exposure(ctx context.Context, subject string) (*Exposure, error) {
	addrs := []string{subject}
	if s, ok := strings.CutPrefix(subject, "cluster:"); ok {
		id, err := strconv.ParseUint(s, 10, 32)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("%w: cluster id %q is not a positive integer", ErrConfig, s)
		}
		if addrs, err = clusterMembers(ctx, cluster.NewClusters(x.t.conn), uint32(id)); err != nil {
			return nil, err
		}
	} else if subject == "" || strings.ContainsAny(subject, " \t\n'\"") {
		return nil, fmt.Errorf("%w: subject %q is not an address or cluster:ID", ErrConfig, subject)
	}
	b := x.Build
	ex := &Exposure{Subject: subject, Params: b.Params, From: []CategoryFlow{}, To: []CategoryFlow{}, Capped: b.Capped, Source: "index",
		Index: &b, Stale: x.Stale}
	seen := false
	since, until := dateTime(b.Since), b.Until
	if until.IsZero() {
		until = time.Date(2105, 12, 31, 0, 0, 0, 0, time.UTC)
	}
	err := each(addrs, func(part []string) error {
		// DISTINCT: a row inserted twice (a loader retry) counts once.
		rows, err := x.t.conn.Query(ctx, `SELECT count(), sumIf(value, is_input = 0 AND time >= ? AND time <= ?), sumIf(value, is_input = 1)
			FROM (SELECT DISTINCT address, txid, is_input, n, value, time FROM btc_address_io WHERE address IN ?)`, since, until, set(part))
		if err != nil {
			return fmt.Errorf("trace: reading what %s received and sent: %w", subject, err)
		}
		defer rows.Close()
		for rows.Next() {
			var n uint64
			var recv, sent int64
			if err := rows.Scan(&n, &recv, &sent); err != nil {
				return fmt.Errorf("trace: reading what %s received and sent: %w", subject, err)
			}
			seen = seen || n > 0
			ex.Received += recv
			ex.Sent += sent
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	if !seen {
		return nil, fmt.Errorf("%w: %s (never seen on chain)", ErrUnknown, subject)
	}
	// A build stores a subject's sums in parts as it goes: add them up.
	rows, err := x.t.conn.Query(ctx, "SELECT category, direction, sum(direct), sum(indirect) FROM taint_exposure WHERE subject = ? AND build = ? GROUP BY category, direction", subject, b.Build)
	if err != nil {
		return nil, fmt.Errorf("trace: reading the exposure index: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f CategoryFlow
		var dir string
		if err := rows.Scan(&f.Category, &dir, &f.Direct, &f.Indirect); err != nil {
			return nil, fmt.Errorf("trace: reading the exposure index: %w", err)
		}
		if dir == "to" {
			ex.To = append(ex.To, f)
		} else {
			ex.From = append(ex.From, f)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("trace: reading the exposure index: %w", err)
	}
	for _, fs := range [][]CategoryFlow{ex.From, ex.To} {
		sort.Slice(fs, func(i, j int) bool { return fs[i].Category < fs[j].Category })
	}
	return ex, nil
}
