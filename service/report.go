package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tracerproject/tracer/report"
	"github.com/tracerproject/tracer/trace"
)

// ReportRequest asks for an exposure report.
type ReportRequest struct {
	// Name: the file prefix, and what the next report compares with.
	Name string `json:"name"`
	// Watch: ADDR, cluster:ID or label:CATEGORY entries.
	Watch []string `json:"watch,omitempty"`
	// Since and Until bound the period: a duration back from now (24h,
	// 7d), a date or an RFC 3339 time. Empty: 7d and now.
	Since string `json:"since,omitempty"`
	Until string `json:"until,omitempty"`
	Hops  int    `json:"hops,omitempty"`
	// Model: haircut or poison.
	Model string `json:"model,omitempty"`
	// Buckets: periods of the chart of exposure over time (0: 6).
	Buckets int `json:"buckets,omitempty"`
	// Dir: where the files go (empty: Config.ReportsDir).
	Dir string `json:"-"`
	// Formats: of report.Formats; the JSON file is always written.
	Formats []string `json:"formats,omitempty"`
	// AllClusters reports every cluster (and unclustered address) whose
	// exposure reaches MinExposure (satoshi, or BTC with a btc suffix),
	// traced from the label categories, instead of the watch list.
	AllClusters bool   `json:"all_clusters,omitempty"`
	MinExposure string `json:"min_exposure,omitempty"`
}

// config checks the request and gives the report's configuration.
func (r ReportRequest) config(now time.Time) (report.Config, int64, error) {
	since := r.Since
	if since == "" {
		since = "7d"
	}
	from, err := ParseSince(since, now)
	if err != nil {
		return report.Config{}, 0, invalid(err)
	}
	to := now
	if r.Until != "" {
		if to, err = ParseSince(r.Until, now); err != nil {
			return report.Config{}, 0, invalidf("--until: %w", err)
		}
	}
	for _, f := range r.Formats {
		if !slices.Contains(report.Formats, f) {
			return report.Config{}, 0, invalidf("--format %q: want one of %s", f, strings.Join(report.Formats, ", "))
		}
	}
	var minExposure int64
	switch {
	case r.AllClusters && len(r.Watch) > 0:
		return report.Config{}, 0, invalidf("--all-clusters reports every cluster: give it no --watch or --watchlist")
	case r.AllClusters && r.MinExposure != "":
		if minExposure, err = ParseSatoshi(r.MinExposure); err != nil {
			return report.Config{}, 0, invalidf("--min-exposure: %w", err)
		}
	case !r.AllClusters && r.MinExposure != "":
		return report.Config{}, 0, invalidf("--min-exposure applies to --all-clusters")
	}
	return report.Config{Name: r.Name, Watch: r.Watch, Since: from, Until: to, Hops: r.Hops, Model: r.Model, Buckets: r.Buckets}, minExposure, nil
}

// Report is a report built and the files written.
type Report struct {
	*report.Report
	Files []string `json:"files"`
}

// Report builds an exposure report, compares it with the previous one of
// the same name in the directory, and writes its files.
func (s *Service) Report(ctx context.Context, r ReportRequest) (*Report, error) {
	cfg, minExposure, err := r.config(s.cfg.Now())
	if err != nil {
		return nil, err
	}
	dir := r.Dir
	if dir == "" {
		dir = s.cfg.ReportsDir
	}
	if dir == "" {
		return nil, invalidf("no directory for the report")
	}
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
		rep, err = report.BuildAll(ctx, s.st.Conn(), s.tr, src, s.btc.ClustersOf, report.AllConfig{Config: cfg, MinExposure: minExposure}, prev, s.cfg.Now())
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
