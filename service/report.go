package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tracerproject/tracer/report"
	"github.com/tracerproject/tracer/trace"
)

// ReportRequest asks for an exposure report.
type ReportRequest struct {
	// Name: the file prefix, and what the next report compares with.
	Name string
	// Watch: ADDR, cluster:ID or label:CATEGORY entries.
	Watch []string
	// Since and Until bound the period.
	Since, Until time.Time
	Hops         int
	// Model: haircut or poison.
	Model string
	// Dir: where the files go (empty: Config.ReportsDir).
	Dir string
	// Formats: of report.Formats; the JSON file is always written.
	Formats []string
	// AllClusters reports every cluster (and unclustered address) whose
	// exposure reaches MinExposure (satoshi), traced from the label
	// categories, instead of the watch list.
	AllClusters bool
	MinExposure int64
}

// Report is a report built and the files written.
type Report struct {
	*report.Report
	Files []string `json:"files"`
}

// Report builds an exposure report, compares it with the previous one of
// the same name in the directory, and writes its files.
func (s *Service) Report(ctx context.Context, r ReportRequest) (*Report, error) {
	for _, f := range r.Formats {
		if !validReportFormat(f) {
			return nil, invalidf("--format %q: want one of %s", f, joinFormats())
		}
	}
	if r.AllClusters && len(r.Watch) > 0 {
		return nil, invalidf("--all-clusters reports every cluster: give it no --watch or --watchlist")
	}
	dir := r.Dir
	if dir == "" {
		dir = s.cfg.ReportsDir
	}
	if dir == "" {
		return nil, invalidf("no directory for the report")
	}
	cfg := report.Config{Name: r.Name, Watch: r.Watch, Since: r.Since, Until: r.Until, Hops: r.Hops, Model: r.Model}
	prev, err := report.Previous(dir, cfg.Name)
	if err != nil {
		return nil, err
	}
	var rep *report.Report
	if r.AllClusters {
		members := func(ctx context.Context, id string) ([]string, error) {
			start, err := trace.ParseStart(ctx, "cluster:"+id, s.btc, s.ls, time.Time{})
			return start.Addresses, err
		}
		src, err := report.LabelSources(ctx, s.ls, time.Time{}, members)
		if err != nil {
			return nil, fmt.Errorf("reading the label categories' addresses: %w", err)
		}
		rep, err = report.BuildAll(ctx, s.st.Conn(), s.tr, src, s.btc.ClustersOf, report.AllConfig{Config: cfg, MinExposure: r.MinExposure}, prev, s.cfg.Now())
		if err != nil {
			return nil, reportError(err)
		}
	} else {
		resolve := func(ctx context.Context, w string) (trace.Start, error) {
			return trace.ParseStart(ctx, w, s.btc, s.ls, time.Time{})
		}
		if rep, err = report.Build(ctx, s.tr, resolve, cfg, prev, s.cfg.Now()); err != nil {
			return nil, reportError(err)
		}
	}
	files, err := report.Write(dir, rep, r.Formats)
	if err != nil {
		return nil, err
	}
	return &Report{Report: rep, Files: files}, nil
}

func reportError(err error) error {
	if errors.Is(err, report.ErrConfig) {
		return invalid(err)
	}
	return traceError(err)
}

func validReportFormat(f string) bool {
	for _, x := range report.Formats {
		if f == x {
			return true
		}
	}
	return false
}

func joinFormats() string {
	s := ""
	for i, f := range report.Formats {
		if i > 0 {
			s += ", "
		}
		s += f
	}
	return s
}
