package metrics_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tracerproject/tracer/metrics"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// get polls url until the server answers, then returns status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServe(t *testing.T) {
	reg := metrics.NewRegistry()
	blocks := prometheus.NewCounter(prometheus.CounterOpts{Name: "tracer_test_blocks_total", Help: "test"})
	reg.MustRegister(blocks)
	blocks.Add(7)
	var sick atomic.Bool
	health := func(context.Context) error {
		if sick.Load() {
			return errors.New("NATS: disconnected")
		}
		return nil
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- metrics.Serve(ctx, addr, reg, health, nil) }()

	code, body := get(t, "http://"+addr+"/metrics")
	if code != http.StatusOK || !strings.Contains(body, "tracer_test_blocks_total 7") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics: %d, body without the counter or the Go collector:\n%.500s", code, body)
	}
	if code, body := get(t, "http://"+addr+"/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz healthy: got %d %q, want 200 ok", code, body)
	}
	sick.Store(true)
	if code, body := get(t, "http://"+addr+"/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "NATS: disconnected") {
		t.Errorf("/healthz sick: got %d %q, want 503 naming the cause", code, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func TestServeBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = metrics.Serve(context.Background(), l.Addr().String(), metrics.NewRegistry(), nil, nil)
	if err == nil || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Errorf("busy port: got %v, want an error naming %s", err, l.Addr())
	}
}
