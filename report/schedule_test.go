package report_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tracerproject/tracer/report"
)

// A report that fails is tried again at its next time: the scheduler runs
// on, and returns nil when stopped.
func TestSchedulerRunsOnAfterAFailure(t *testing.T) {
	runs := make(chan struct{}, 4)
	s, err := report.NewScheduler([]report.Schedule{{Name: "failing", Cron: "@every 1s", Watch: []string{"label:cartel"}, Period: "24h"}},
		func(context.Context, report.Schedule) error {
			runs <- struct{}{}
			return errors.New("the store is away")
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for i := range 2 {
		select {
		case <-runs:
		case err := <-done:
			t.Fatalf("Run returned after %d failed reports: %v", i, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("run %d of the failing schedule did not come within 10s", i+1)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after a clean shutdown: %v", err)
	}
}
