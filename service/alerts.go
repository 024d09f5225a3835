package service

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tracerproject/tracer/alert"
)

// AlertsRequest selects published alerts.
type AlertsRequest struct {
	// Since: a duration back from now (90m, 24h, 7d), a date (2026-11-20)
	// or an RFC 3339 time; empty: 7d.
	Since string
	// Rule and Severity, when set, keep only alerts of that rule or
	// severity.
	Rule, Severity string
	// Limit: at most this many alerts are read, newest blocks first,
	// before Rule and Severity select among them (0 or less: 1000).
	Limit int
}

// Alerts are the alerts published since a time.
type Alerts struct {
	Since  time.Time
	Alerts []*alert.Alert
}

func (a Alerts) MarshalJSON() ([]byte, error) { return json.Marshal(a.Alerts) }

// Alerts returns the alerts stored since the time asked (Alerts never
// nil).
func (s *Service) Alerts(ctx context.Context, r AlertsRequest) (*Alerts, error) {
	since := r.Since
	if since == "" {
		since = "7d"
	}
	from, err := ParseSince(since, s.cfg.Now())
	if err != nil {
		return nil, invalid(err)
	}
	list, err := alert.List(ctx, s.st.Conn(), alert.Filter{Since: from, Rule: r.Rule, Severity: r.Severity, Limit: r.Limit})
	if err != nil {
		return nil, fmt.Errorf("listing alerts: %w", err)
	}
	if list == nil {
		list = []*alert.Alert{}
	}
	return &Alerts{Since: from, Alerts: list}, nil
}

// ParseSince reads a point in time: a duration back from now (with d for
// days) or a date or RFC 3339 time.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err == nil && n >= 0 && fmt.Sprint(n) == days {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: want a duration (90m, 24h, 7d), a date (2026-11-20) or an RFC 3339 time", s)
}
