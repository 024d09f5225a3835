package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/report"
	"github.com/tracerproject/tracer/service"
	"github.com/tracerproject/tracer/trace"
)

func newReportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Exposure reports: on demand (exposure) or on cron schedules (schedule)",
	}
	cmd.AddCommand(newReportExposureCmd(a), newReportScheduleCmd(a))
	return cmd
}

// everyCluster, when set, makes reportRun report every cluster whose
// exposure reaches minExposure (satoshi) instead of a watch list.
type everyCluster struct{ minExposure int64 }

// reportRun builds and writes one report on an open pipeline (the
// demo's and the schedules') and returns it with the files written.
func reportRun(ctx context.Context, p *pipeline.Pipeline, cfg report.Config, out string, formats []string, all *everyCluster) (*report.Report, []string, error) {
	s, err := openService(ctx, p, service.Config{})
	if err != nil {
		return nil, nil, err
	}
	req := service.ReportRequest{
		Name: cfg.Name, Watch: cfg.Watch, Hops: cfg.Hops, Model: cfg.Model, Buckets: cfg.Buckets,
		Since: cfg.Since.Format(time.RFC3339Nano), Until: cfg.Until.Format(time.RFC3339Nano),
		Dir: out, Formats: formats,
	}
	if all != nil {
		req.AllClusters, req.MinExposure = true, strconv.FormatInt(all.minExposure, 10)
	}
	rep, err := s.Report(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	return rep.Report, rep.Files, nil
}

func newReportExposureCmd(a *app) *cobra.Command {
	var (
		watchlist, since, until, out, format, model, name string
		watch                                             []string
		hops                                              int
		allClusters                                       bool
		minExposure                                       string
	)
	cmd := &cobra.Command{
		Use:   "exposure",
		Short: "Write an exposure report for watched addresses, clusters or label categories",
		Long: `For each watched entry (ADDR, cluster:ID or label:CATEGORY, from --watch or a
--watchlist file), compute the direct and indirect exposure to each label
category over the period (what it received from and sent to labelled
addresses, through unlabelled intermediaries up to --hops), the largest flows
with their transactions, and the change since the previous report of the same
--name in --out. Writes <name>-<time>.json (always: the next report compares
with it) and the --format files.

--all-clusters reports every cluster (and unclustered address) whose exposure
reaches --min-exposure instead, most exposed first: it traces from each label
category (downstream and upstream) rather than from each subject, so its cost
does not grow with the number of clusters (haircut only; money moving between
addresses of one category is not counted as that category's exposure).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := service.ReportRequest{Name: name, Watch: watch, Since: since, Until: until, Hops: hops, Model: model,
				Formats: strings.Split(format, ","), Dir: out, AllClusters: allClusters}
			if cmd.Flags().Changed("min-exposure") {
				req.MinExposure = minExposure
			}
			if watchlist != "" {
				list, err := report.ReadWatchlist(watchlist)
				if err != nil {
					return err
				}
				req.Watch = append(req.Watch, list...)
			}
			if req.Dir == "" {
				req.Dir = filepath.Join(a.cfg.Data, "reports")
			}
			var rep *service.Report
			err := a.withService(cmd, func(ctx context.Context, s *service.Service) (err error) {
				rep, err = s.Report(ctx, req)
				return err
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if rep.Empty != "" {
				fmt.Fprintln(w, rep.Empty)
			}
			for _, s := range rep.Subjects {
				if s.Error != "" {
					fmt.Fprintf(w, "%s: %s\n", s.Watch, s.Error)
				}
			}
			for _, f := range rep.Files {
				fmt.Fprintln(w, f)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&watchlist, "watchlist", "", "file of watch entries, one per line (ADDR, cluster:ID, label:CATEGORY)")
	f.StringArrayVar(&watch, "watch", nil, "a watch entry (repeatable)")
	f.StringVar(&since, "since", "7d", "start of the period: a duration back (24h, 7d) or a date/RFC 3339 time")
	f.StringVar(&until, "until", "", "end of the period (default: now)")
	f.StringVar(&out, "out", "", "output directory (default DATA/reports)")
	f.StringVar(&format, "format", "html", "json, csv, html, or a comma-separated list (json is always written)")
	f.StringVar(&model, "model", trace.Haircut, "haircut or poison")
	f.StringVar(&name, "name", "exposure", "report name: file prefix, and what the next report compares with")
	f.IntVar(&hops, "hops", trace.DefaultHops, "hops of indirect exposure")
	f.BoolVar(&allClusters, "all-clusters", false, "report every cluster with exposure of at least --min-exposure, traced from the label categories")
	f.StringVar(&minExposure, "min-exposure", "0", "with --all-clusters: the least exposure reported, satoshi (5000) or BTC (0.001btc)")
	return cmd
}

// checkReports checks the configured schedules (cron, period, formats,
// model, watch lists) before anything runs.
func (a *app) checkReports() error {
	if _, err := a.indexSchedule(context.Background(), nil); err != nil {
		return err
	}
	_, err := a.reportScheduler(nil)
	return err
}

// reportScheduler checks the configured schedules and returns their
// scheduler on p; nil when there are none.
func (a *app) reportScheduler(p *pipeline.Pipeline) (*report.Scheduler, error) {
	scheds := a.cfg.Reports.Schedules
	if len(scheds) == 0 {
		return nil, nil
	}
	out := a.cfg.Reports.Out
	if out == "" {
		out = filepath.Join(a.cfg.Data, "reports")
	}
	for _, s := range scheds {
		if s.Watchlist != "" {
			if _, err := report.ReadWatchlist(s.Watchlist); err != nil {
				return nil, fmt.Errorf("report schedule %q: %w", s.Name, err)
			}
		}
		if s.Model == trace.FIFO {
			return nil, fmt.Errorf("report schedule %q: model fifo has no upstream rule; use haircut or poison", s.Name)
		}
	}
	run := func(ctx context.Context, s report.Schedule) error {
		period, err := report.Period(s.Period)
		if err != nil {
			return err
		}
		watch := s.Watch
		if s.Watchlist != "" {
			list, err := report.ReadWatchlist(s.Watchlist)
			if err != nil {
				return err
			}
			watch = append(append([]string{}, watch...), list...)
		}
		formats := s.Formats
		if len(formats) == 0 {
			formats = []string{"html"}
		}
		now := time.Now()
		rep, files, err := reportRun(ctx, p, report.Config{Name: s.Name, Watch: watch, Since: now.Add(-period), Until: now, Hops: s.Hops, Model: s.Model}, out, formats, nil)
		if err != nil {
			return err
		}
		nc, _, err := p.NATS(ctx)
		if err != nil {
			return err
		}
		a.log.Info("report written", "schedule", s.Name, "files", files)
		return report.Publish(nc, report.NewNotice(rep, files))
	}
	return report.NewScheduler(scheds, run, a.log)
}

// reportServices are the report scheduler and the exposure index's
// scheduled builds, each when configured.
func reportServices(a *app) []pipeline.Service {
	return []pipeline.Service{
		{Name: "exposure index builds", Start: func(ctx context.Context, p *pipeline.Pipeline) (func(context.Context) error, error) {
			idx, err := a.indexSchedule(ctx, p)
			if err != nil || idx == nil {
				return nil, err
			}
			a.log.Info("exposure index rebuilt on a schedule", "cron", a.cfg.Exposure.IndexCron)
			return func(ctx context.Context) error {
				idx.Start()
				<-ctx.Done()
				<-idx.Stop().Done()
				return nil
			}, nil
		}},
		{Name: "report schedules", Start: func(_ context.Context, p *pipeline.Pipeline) (func(context.Context) error, error) {
			s, err := a.reportScheduler(p)
			if err != nil || s == nil {
				return nil, err
			}
			a.log.Info("report schedules running", "schedules", len(a.cfg.Reports.Schedules))
			return s.Run, nil
		}},
	}
}

// indexSchedule checks exposure.index_cron and returns a cron that
// rebuilds the exposure index on it (the trace section's hops; haircut,
// the labels of now), a build at a time, until ctx ends; nil when unset.
// p nil: check only.
func (a *app) indexSchedule(ctx context.Context, p *pipeline.Pipeline) (*cron.Cron, error) {
	expr := a.cfg.Exposure.IndexCron
	if expr == "" {
		return nil, nil
	}
	opt := service.TraceOptions{Hops: &a.cfg.Trace.Hops}
	c := cron.New(cron.WithLocation(time.UTC), cron.WithChain(cron.SkipIfStillRunning(cron.DiscardLogger)))
	_, err := c.AddFunc(expr, func() {
		s, err := openService(ctx, p, service.Config{})
		if err == nil {
			var b *trace.IndexBuild
			if b, err = s.BuildExposureIndex(ctx, opt); err == nil {
				a.log.Info("exposure index built", "build", b.Build, "subjects", b.Subjects, "rows", b.Rows,
					"block", b.BlockHeight, "seconds", b.Seconds, "capped", b.Capped)
				return
			}
		}
		a.log.Error("scheduled exposure index build failed", "err", err)
	})
	if err != nil {
		return nil, fmt.Errorf("exposure.index_cron %q: %w", expr, err)
	}
	return c, nil
}

func newReportScheduleCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "schedule",
		Short: "Run the reports of reports.schedules, and exposure index builds on exposure.index_cron, until interrupted (tracer run runs them too)",
		Long: `Run each schedule of reports.schedules (configs/tracer.yaml) on its cron
expression: write the report into reports.out and announce it on NATS
(` + report.NoticeSubject + `, JSON ` + report.NoticeFormat + `).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(a.cfg.Reports.Schedules) == 0 && a.cfg.Exposure.IndexCron == "" {
				return errors.New("no report schedules: add some under reports.schedules (or exposure.index_cron) in the configuration (configs/tracer.yaml shows how)")
			}
			if err := a.checkReports(); err != nil {
				return err
			}
			rc := a.runConfig()
			rc.Services = reportServices(a)
			return pipeline.Run(cmd.Context(), rc)
		},
	}
}
