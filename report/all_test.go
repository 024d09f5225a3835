package report_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/internal/simworld"
	"github.com/tracerproject/tracer/report"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/trace"
)

// TestBuildAll: the report over every cluster, traced from the categories,
// finds the cartels' planted receipts from brokers, and agrees with the
// per-subject report (traced from each subject) on the subjects it lists.
func TestBuildAll(t *testing.T) {
	ctx := context.Background()
	w := simworld.New(t, ctx, 60, 120, 7)
	tr := trace.New(w.Conn, w.Labels)
	cl := cluster.NewClusters(w.Conn)
	src, err := report.LabelSources(ctx, w.Labels, time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(src["precursor-broker"]) == 0 || len(src["cartel"]) == 0 {
		t.Fatalf("label sources: %d categories", len(src))
	}
	cfg := report.AllConfig{Config: report.Config{Name: "all", Since: chainStart, Until: chainEnd, Buckets: 4}}
	rep, err := report.BuildAll(ctx, w.Conn, tr, src, cl.ClustersOf, cfg, nil, time.Date(2024, 2, 1, 6, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Subjects) < 10 || rep.Empty != "" {
		t.Fatalf("report: %d subjects, empty %q", len(rep.Subjects), rep.Empty)
	}
	// The chart puts each share in one period: it adds up to the totals.
	for _, s := range rep.Subjects {
		var series, totals int64
		for _, p := range s.Series {
			for _, v := range p.ByCategory {
				series += v
			}
		}
		for _, f := range append(slices.Clone(s.From), s.To...) {
			totals += f.Direct + f.Indirect
		}
		if len(s.Series) != 4 || series != totals {
			t.Fatalf("%s: %d periods adding up to %d sat, totals %d sat", s.Watch, len(s.Series), series, totals)
		}
	}
	// The cartels' addresses received what the truth planted from brokers.
	cartel := map[string]bool{}
	for _, s := range src["cartel"] {
		cartel[s.Address] = true
	}
	var want int64
	var n int
	for _, f := range w.Truth.Flows {
		if f.Kind == simulate.FlowCartel {
			want += f.Amount
			n++
		}
	}
	clusters, err := cl.ClustersOf(ctx, keys(cartel))
	if err != nil {
		t.Fatal(err)
	}
	cartelKeys := map[string]bool{}
	for a := range cartel {
		if id, ok := clusters[a]; ok {
			cartelKeys["cluster:"+itoa(id)] = true
		} else {
			cartelKeys[a] = true
		}
	}
	var got int64
	for _, s := range rep.Subjects {
		if !cartelKeys[s.Watch] {
			continue
		}
		for _, f := range s.From {
			if f.Category == "precursor-broker" {
				got += f.Direct + f.Indirect
			}
		}
		if len(s.TopFlows) == 0 || len(s.TopFlows[0].Txids) == 0 || s.TopFlows[0].Address == "" {
			t.Errorf("cartel subject %s: top flows %+v", s.Watch, s.TopFlows)
		}
	}
	if got > want || want-got > int64(100*n) {
		t.Errorf("cartels received %d sat from precursor brokers, the truth planted %d sat in %d payments", got, want, n)
	}
	t.Logf("%d subjects; cartels received %d sat from brokers (planted %d in %d payments)", len(rep.Subjects), got, want, n)

	// Agreement with Build, subject by subject, on the most exposed ones.
	resolve := func(ctx context.Context, s string) (trace.Start, error) {
		return trace.ParseStart(ctx, s, cl, w.Labels, time.Time{})
	}
	checked := 0
	for _, s := range rep.Subjects {
		if checked == 12 {
			break
		}
		if strings.HasPrefix(s.Watch, "cluster:") && s.Addresses > 50 {
			continue // an exchange's cluster: slow per subject, and the same code
		}
		checked++
		one, err := report.Build(ctx, tr, resolve, report.Config{Name: "one", Watch: []string{s.Watch}, Since: chainStart, Until: chainEnd, Buckets: 4}, nil, rep.Generated)
		if err != nil {
			t.Fatal(err)
		}
		per := one.Subjects[0]
		start, err := resolve(ctx, s.Watch)
		if err != nil {
			t.Fatal(err)
		}
		// Money moving between addresses of one category is that
		// category's own business in the every-cluster report: a subject
		// with addresses of a category is not compared on it.
		labelled := map[string]bool{}
		for c, ss := range src {
			for _, x := range ss {
				if slices.Contains(start.Addresses, x.Address) {
					labelled[c] = true
				}
			}
		}
		for _, side := range []struct {
			name      string
			all, each []trace.CategoryFlow
		}{{"from", s.From, per.From}, {"to", s.To, per.To}} {
			sum := func(fs []trace.CategoryFlow) map[string]int64 {
				m := map[string]int64{}
				for _, f := range fs {
					m[f.Category] += f.Direct + f.Indirect
				}
				return m
			}
			a, e := sum(side.all), sum(side.each)
			for c, v := range e {
				if labelled[c] {
					continue
				}
				// Money that leaves a subject and comes back counts each time
				// it enters in the every-cluster report: within a fifth.
				if d := a[c] - v; d > max(1000, v/5) || d < -max(1000, v/5) {
					t.Errorf("%s %s %s: every-cluster report %d sat, per-subject report %d sat", s.Watch, side.name, c, a[c], v)
				}
			}
			for c, v := range a {
				if _, ok := e[c]; !ok && v > 1000 && !labelled[c] {
					t.Errorf("%s %s %s: every-cluster report %d sat, per-subject report none", s.Watch, side.name, c, v)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no subject compared")
	}

	// A threshold keeps the subjects at or above it; poison is refused.
	high := cfg
	high.MinExposure = 1 << 40
	if r, err := report.BuildAll(ctx, w.Conn, tr, src, cl.ClustersOf, high, nil, time.Now()); err != nil || len(r.Subjects) != 0 {
		t.Errorf("threshold above everything: %v, %d subjects", err, len(r.Subjects))
	}
	poison := cfg
	poison.Model = trace.Poison
	if _, err := report.BuildAll(ctx, w.Conn, tr, src, cl.ClustersOf, poison, nil, time.Now()); err == nil || !strings.Contains(err.Error(), "haircut") {
		t.Errorf("poison: got %v", err)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
