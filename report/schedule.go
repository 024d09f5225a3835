package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/robfig/cron/v3"
)

// NoticeSubject is where a finished report is announced.
const NoticeSubject = "reports.exposure"

// NoticeFormat is the version of a notice's JSON.
const NoticeFormat = "tracer.report-notice.v1"

// Schedule is a report run on a cron expression (reports.schedules in the
// configuration).
type Schedule struct {
	Name string `yaml:"name"`
	// Cron: standard five fields (minute hour day month weekday) or a
	// descriptor such as @daily or @every 1h.
	Cron  string   `yaml:"cron"`
	Watch []string `yaml:"watch"`
	// Watchlist: a file of watch entries, one per line (# comments).
	Watchlist string `yaml:"watchlist"`
	// Period the report covers, back from when it runs (e.g. 168h).
	Period  string   `yaml:"period"`
	Hops    int      `yaml:"hops"`
	Model   string   `yaml:"model"`
	Formats []string `yaml:"formats"`
}

// Notice announces a written report on NATS.
type Notice struct {
	Format    string           `json:"format"`
	Name      string           `json:"name"`
	Generated time.Time        `json:"generated"`
	Since     time.Time        `json:"since"`
	Until     time.Time        `json:"until"`
	Files     []string         `json:"files"`
	Subjects  int              `json:"subjects"`
	Errors    int              `json:"errors"`
	Exposure  map[string]int64 `json:"exposure"` // satoshi by category, all subjects
	Empty     string           `json:"empty,omitempty"`
}

// NewNotice summarises a report.
func NewNotice(rep *Report, files []string) *Notice {
	n := &Notice{Format: NoticeFormat, Name: rep.Name, Generated: rep.Generated, Since: rep.Since, Until: rep.Until,
		Files: files, Subjects: len(rep.Subjects), Exposure: map[string]int64{}, Empty: rep.Empty}
	for i := range rep.Subjects {
		if rep.Subjects[i].Error != "" {
			n.Errors++
		}
		for c, v := range byCategory(&rep.Subjects[i]) {
			n.Exposure[c] += v
		}
	}
	return n
}

// Publish sends the notice on reports.exposure.
func Publish(nc *nats.Conn, n *Notice) error {
	raw, err := json.Marshal(n)
	if err != nil {
		return err
	}
	if err := nc.Publish(NoticeSubject, raw); err != nil {
		return fmt.Errorf("report: publishing the notice: %w", err)
	}
	return nc.Flush()
}

// Period parses a schedule's period: a Go duration or a number of days
// ("7d").
func Period(s string) (time.Duration, error) {
	var days int
	if n, err := fmt.Sscanf(s, "%dd", &days); err == nil && n == 1 && fmt.Sprintf("%dd", days) == s && days > 0 {
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("period %q: want a positive duration (24h) or days (7d)", s)
	}
	return d, nil
}

// Scheduler runs reports on their cron expressions.
type Scheduler struct {
	schedules []Schedule
	run       func(context.Context, Schedule) error
	log       *slog.Logger
}

// NewScheduler checks every schedule before anything runs: a bad cron
// expression or period is an error naming the schedule.
func NewScheduler(schedules []Schedule, run func(context.Context, Schedule) error, log *slog.Logger) (*Scheduler, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	names := map[string]bool{}
	for _, s := range schedules {
		if s.Name == "" || names[s.Name] {
			errs = append(errs, fmt.Errorf("report schedule %q: needs a unique name", s.Name))
			continue
		}
		names[s.Name] = true
		if _, err := Period(s.Period); err != nil {
			errs = append(errs, fmt.Errorf("report schedule %q: %w", s.Name, err))
			continue
		}
		if len(s.Watch) == 0 && s.Watchlist == "" {
			errs = append(errs, fmt.Errorf("report schedule %q: watches nothing (watch or watchlist)", s.Name))
			continue
		}
		for _, f := range s.Formats {
			if !contains(Formats, f) {
				errs = append(errs, fmt.Errorf("report schedule %q: format %q: want json, csv or html", s.Name, f))
			}
		}
		// The parser cron.New uses: five fields or a descriptor.
		if _, err := cron.ParseStandard(s.Cron); err != nil {
			errs = append(errs, fmt.Errorf("report schedule %q: cron %q: %w", s.Name, s.Cron, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Scheduler{schedules: schedules, run: run, log: log}, nil
}

// Run runs the schedules until ctx ends, then waits for the reports that
// are running (they get ctx, so they stop early). A report that fails is
// logged and runs again at its next time: one bad run must not stop the
// other schedules. Run returns nil when ctx ends, and an error when a
// schedule cannot be started.
func (s *Scheduler) Run(ctx context.Context) error {
	c := cron.New(cron.WithLocation(time.UTC))
	for _, sched := range s.schedules {
		if _, err := c.AddFunc(sched.Cron, func() {
			if err := s.run(ctx, sched); err != nil && ctx.Err() == nil {
				s.log.Error("scheduled report failed", "schedule", sched.Name, "err", err)
			}
		}); err != nil {
			return fmt.Errorf("report schedule %q: cron %q: %w", sched.Name, sched.Cron, err)
		}
	}
	c.Start()
	<-ctx.Done()
	<-c.Stop().Done()
	return nil
}
