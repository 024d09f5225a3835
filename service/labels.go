package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/labels"
)

// LabelShowRequest asks for the labels of one subject.
type LabelShowRequest struct {
	// Subject: an address of any followed chain, or cluster:ID.
	Subject string
	// AsOf: YYYY-MM-DD (the end of that day) or RFC 3339; empty: now.
	AsOf string
}

// LabelShow returns the labels of a subject in force at the time asked,
// with their provenance, the labels that reach it through its cluster and
// its history per source.
func (s *Service) LabelShow(ctx context.Context, r LabelShowRequest) (*labels.Show, error) {
	at, err := ParseAsOf(r.AsOf)
	if err != nil {
		return nil, invalid(err)
	}
	if _, _, _, err := labels.ParseSubject(r.Subject); err != nil {
		return nil, invalid(err)
	}
	sh, err := s.ls.ShowWithCluster(ctx, r.Subject, at, clusterFinder{s.btc})
	if errors.Is(err, labels.ErrNotFound) {
		return nil, &Error{Kind: ErrNotFound, Msg: r.Subject + ": no label in any import", Err: err}
	}
	return sh, err
}

// clusterFinder adapts cluster.Clusters to labels.ClusterFinder.
type clusterFinder struct{ c *cluster.Clusters }

func (f clusterFinder) ClusterOf(ctx context.Context, address string) (uint32, bool, error) {
	id, err := f.c.ClusterOf(ctx, address)
	if errors.Is(err, cluster.ErrNotClustered) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// LabelsRequest selects labels in force; empty fields select all.
type LabelsRequest struct {
	// Categories: any of these.
	Categories []string
	// Entity: only labels of this entity (case-insensitive).
	Entity string
	// Chain: btc, eth or tron.
	Chain  string
	Source string
	// AsOf: YYYY-MM-DD (the end of that day) or RFC 3339; empty: now.
	AsOf string
}

// Labels returns the labels in force at the time asked (never nil),
// sorted by chain, subject, source and entity.
func (s *Service) Labels(ctx context.Context, r LabelsRequest) ([]labels.Label, error) {
	at, err := ParseAsOf(r.AsOf)
	if err != nil {
		return nil, invalid(err)
	}
	f := labels.Filter{Source: r.Source, AsOf: at}
	if r.Chain != "" {
		if f.Chain, err = labels.ParseChain(r.Chain); err != nil {
			return nil, invalid(err)
		}
	}
	for _, c := range r.Categories {
		c = strings.TrimSpace(c)
		if err := s.cats.Check(c); err != nil {
			return nil, invalidf("--category: %w", err)
		}
		f.Categories = append(f.Categories, c)
	}
	list, err := s.ls.List(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("listing labels: %w", err)
	}
	out := make([]labels.Label, 0, len(list))
	for _, l := range list {
		if r.Entity == "" || strings.EqualFold(l.Entity, r.Entity) {
			out = append(out, l)
		}
	}
	return out, nil
}

// LabelImport is an import (version) of a source, and whether it is in
// force now.
type LabelImport struct {
	labels.Version
	InForce bool `json:"-"`
}

// LabelImports returns every import of every source (of source, when
// given), marking those in force now (never nil).
func (s *Service) LabelImports(ctx context.Context, source string) ([]LabelImport, error) {
	all, err := s.ls.Versions(ctx, source)
	if err != nil {
		return nil, fmt.Errorf("reading label imports: %w", err)
	}
	current, err := s.ls.InForce(ctx, s.cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("reading label imports in force: %w", err)
	}
	inForce := map[string]bool{}
	for _, v := range current {
		inForce[v.ImportID] = true
	}
	out := make([]LabelImport, len(all))
	for i, v := range all {
		out[i] = LabelImport{Version: v, InForce: inForce[v.ImportID]}
	}
	return out, nil
}

// LabelImportRequest asks to import label files.
type LabelImportRequest struct {
	// Format: one of labels.Formats.
	Format string
	Files  []labels.File
	// Source names the list (default: ofac-sdn for the OFAC formats, else
	// FORMAT:FILENAME).
	Source string
	// AddedBy: who adds the labels.
	AddedBy string
	// Category, when set, is given to every imported label.
	Category string
	// ValidFrom: the date the list took effect (YYYY-MM-DD or RFC 3339);
	// empty: now.
	ValidFrom string
	// DryRun parses and checks, and writes nothing.
	DryRun bool
}

// LabelImportResult is the import's report, and either the labels it
// would write (a dry run) or what writing them did.
type LabelImportResult struct {
	Report labels.Report
	// Labels: what a dry run would write.
	Labels []labels.Label
	// Result: what was written (nil for a dry run).
	Result *labels.Result
}

func (r LabelImportResult) MarshalJSON() ([]byte, error) {
	if r.Result == nil {
		return json.Marshal(map[string]any{"report": r.Report, "labels": r.Labels})
	}
	return json.Marshal(map[string]any{"report": r.Report, "result": r.Result})
}

// ImportLabels reads and checks every file before anything is written,
// then writes the labels as a new version of their source (unless a dry
// run).
func (s *Service) ImportLabels(ctx context.Context, r LabelImportRequest) (*LabelImportResult, error) {
	if !validFormat(r.Format) {
		return nil, invalidf("--format %q: want one of %s", r.Format, strings.Join(labels.Formats, ", "))
	}
	var opt labels.WriteOptions
	if r.ValidFrom != "" {
		vf, err := labels.ParseDate(r.ValidFrom)
		if err != nil {
			return nil, invalidf("--valid-from: %w", err)
		}
		opt.ValidFrom = vf
	}
	opt.AddedBy = r.AddedBy
	imp, err := labels.Parse(r.Format, r.Files, labels.Options{
		Source: r.Source, AddedBy: r.AddedBy, Category: r.Category, Categories: s.cats, OFACConfidence: uint8(s.cfg.OFACConfidence),
	})
	if err != nil {
		// Parse reads nothing but the files: its every error is theirs.
		return nil, invalid(err)
	}
	if r.DryRun {
		return &LabelImportResult{Report: imp.Report, Labels: imp.Labels}, nil
	}
	res, err := s.ls.Write(ctx, imp, opt)
	if err != nil {
		return nil, fmt.Errorf("writing labels of %s: %w", imp.Report.Source, err)
	}
	return &LabelImportResult{Report: imp.Report, Result: &res}, nil
}

func validFormat(f string) bool {
	for _, x := range labels.Formats {
		if f == x {
			return true
		}
	}
	return false
}
