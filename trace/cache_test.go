package trace_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/trace"
)

// TestCache: traces that share a cache give the results of traces that do
// not, including a fifo trace (which needs each transaction's position in
// its block) after haircut traces have cached the same transactions
// without it, and traces running side by side; and a repeated trace asks
// the store less.
func TestCache(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn, ls, _ := simWorld(t, ctx, 40, 100, 11)
	start, err := trace.ParseStart(ctx, "label:precursor-broker", cluster.NewClusters(conn), ls, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	plain := trace.New(conn, ls)
	cached := plain.WithCache(trace.NewCache())
	cfgOf := func(model, dir string) trace.Config {
		cfg := trace.DefaultConfig()
		cfg.Model, cfg.Direction = model, dir
		cfg.StopAt = []string{"exchange"}
		return cfg
	}
	type result struct {
		json    string
		queries int
	}
	run := func(tr *trace.Tracer, model, dir string) result {
		res, err := tr.Trace(ctx, start, cfgOf(model, dir))
		if err != nil {
			t.Fatalf("%s %s: %v", model, dir, err)
		}
		r := *res[0]
		q := r.Queries
		r.Queries, r.Elapsed = 0, 0
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return result{string(b), q}
	}
	// Side by side first: the cache fills from several traces at once.
	type job struct{ model, dir string }
	jobs := []job{{trace.Haircut, trace.Down}, {trace.Haircut, trace.Up}, {trace.Poison, trace.Down}}
	got := make([]result, len(jobs))
	done := make(chan int)
	for i, j := range jobs {
		go func() { got[i] = run(cached, j.model, j.dir); done <- i }()
	}
	for range jobs {
		<-done
	}
	for i, j := range jobs {
		want := run(plain, j.model, j.dir)
		if got[i].json != want.json {
			t.Errorf("%s %s: the cached trace differs from the plain one", j.model, j.dir)
		}
		again := run(cached, j.model, j.dir)
		if again.json != want.json {
			t.Errorf("%s %s: the second cached trace differs from the plain one", j.model, j.dir)
		}
		if again.queries >= want.queries {
			t.Errorf("%s %s: the second cached trace made %d queries, the plain one %d: the cache answered nothing", j.model, j.dir, again.queries, want.queries)
		}
		t.Logf("%s %s: %d queries plain, %d with a warm cache", j.model, j.dir, want.queries, again.queries)
	}
	// Fifo after haircut: the cached transactions lack their positions.
	if got, want := run(cached, trace.FIFO, trace.Down), run(plain, trace.FIFO, trace.Down); got.json != want.json {
		t.Error("fifo: the cached trace differs from the plain one")
	}
}

// TestLabelsReadAsReached: a trace that reads the labels of the addresses
// it reaches stops where one holding every label stops, with the same
// labels on its endpoints, and reads labels only for what it reached.
func TestLabelsReadAsReached(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn, ls, _ := simWorld(t, ctx, 40, 100, 12)
	start, err := trace.ParseStart(ctx, "label:precursor-broker", cluster.NewClusters(conn), ls, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	all := trace.New(conn, ls)
	if err := all.LoadLabels(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{trace.Down, trace.Up} {
		cfg := trace.DefaultConfig()
		cfg.Direction = dir
		cfg.StopAt = []string{"exchange", "cartel"}
		var out [2]string
		var stops int
		for i, tr := range []*trace.Tracer{trace.New(conn, ls), all} {
			res, err := tr.Trace(ctx, start, cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := *res[0]
			r.Queries, r.Elapsed = 0, 0
			b, _ := json.Marshal(r)
			out[i] = string(b)
			stops = 0
			for _, e := range r.Endpoints {
				if len(e.Labels) > 0 {
					stops++
				}
			}
		}
		if out[0] != out[1] {
			t.Errorf("%s: reading labels as reached differs from holding them all", dir)
		}
		if stops == 0 {
			t.Errorf("%s: no endpoint has a label: the test shows nothing", dir)
		}
	}
}
