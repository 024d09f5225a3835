package pipeline_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/pipeline"
)

// goroutinesIn reports whether some goroutine is running the function.
func goroutinesIn(fn string) bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Contains(string(buf[:n]), fn)
		}
		buf = make([]byte, 2*len(buf))
	}
}

const loaderRun = "store.(*Loader).Run("

// When a setup step fails after the loader and an earlier service have
// started, Run cancels them, waits for them, closes the pipeline and
// returns the step's error.
func TestRunStopsWhatStartedWhenSetupFails(t *testing.T) {
	if goroutinesIn(loaderRun) {
		t.Fatal("a loader is running before the test starts")
	}
	dir := t.TempDir()
	started, stopped := make(chan struct{}), make(chan struct{})
	boom := errors.New("the later step fails")
	cfg := pipeline.RunConfig{
		Config: pipeline.Config{DataDir: dir, StoreDSN: chserver.TempDatabase(t)},
		Load:   []string{chain.BTC},
		Services: []pipeline.Service{
			{Name: "earlier", Start: func(context.Context, *pipeline.Pipeline) (func(context.Context) error, error) {
				return func(ctx context.Context) error {
					close(started)
					<-ctx.Done()
					// A service that takes a while to shut down: Run
					// must wait for it.
					time.Sleep(time.Second)
					close(stopped)
					return nil
				}, nil
			}},
			{Name: "later", Start: func(context.Context, *pipeline.Pipeline) (func(context.Context) error, error) {
				// Fail only once the loader and the earlier service run.
				<-started
				for deadline := time.Now().Add(30 * time.Second); !goroutinesIn(loaderRun); time.Sleep(10 * time.Millisecond) {
					if time.Now().After(deadline) {
						return nil, errors.New("the loader never ran")
					}
				}
				return nil, boom
			}},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := pipeline.Run(ctx, cfg)
	if !errors.Is(err, boom) {
		t.Fatalf("Run: got %v, want the later step's error", err)
	}
	if !strings.Contains(err.Error(), "starting later") {
		t.Errorf("Run's error %q does not name the step", err)
	}
	select {
	case <-stopped:
	default:
		t.Error("Run returned while the earlier service was still running")
	}
	if goroutinesIn(loaderRun) {
		t.Error("the loader still runs after Run returned")
	}
	if goroutinesIn("pipeline.Run.") || goroutinesIn("pipeline.(*group).Go.") {
		t.Error("a goroutine of Run still runs after it returned")
	}
	// The pipeline is closed: the data directory can be opened again.
	p, err := pipeline.Open(pipeline.Config{DataDir: dir})
	if err != nil {
		t.Fatalf("the data directory is still held after Run returned: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Error(err)
	}
}

// A clean shutdown returns nil and saves the clusterer's state.
func TestRunCleanShutdown(t *testing.T) {
	dir := t.TempDir()
	ran := make(chan struct{})
	cfg := pipeline.RunConfig{
		Config:  pipeline.Config{DataDir: dir, StoreDSN: chserver.TempDatabase(t)},
		Load:    []string{chain.BTC},
		Cluster: []string{chain.BTC},
		Services: []pipeline.Service{{Name: "probe", Start: func(context.Context, *pipeline.Pipeline) (func(context.Context) error, error) {
			return func(ctx context.Context) error { close(ran); <-ctx.Done(); return ctx.Err() }, nil
		}}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pipeline.Run(ctx, cfg) }()
	select {
	case <-ran:
	case err := <-done:
		t.Fatalf("Run returned before it was stopped: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the services did not start within a minute")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after a clean shutdown: %v", err)
	}
	if goroutinesIn(loaderRun) {
		t.Error("the loader still runs after Run returned")
	}
}
