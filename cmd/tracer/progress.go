package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/tracerproject/tracer/ingest/btc"
)

// progress draws one status line on a terminal: height, blocks/s, tx/s and
// ETA. When the output is not a terminal it stays quiet.
type progress struct {
	mu      sync.Mutex
	out     *os.File
	tty     bool
	start   time.Time
	last    time.Time
	drawn   bool
	startAt int64
}

func newProgress(out *os.File) *progress {
	return &progress{out: out, tty: isTerminal(out), start: time.Now(), startAt: -1}
}

func (p *progress) update(pr btc.Progress) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.startAt < 0 {
		p.startAt = pr.Height - pr.Blocks + 1
	}
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond && pr.Height != pr.Target {
		return
	}
	p.last = now
	el := now.Sub(p.start).Seconds()
	bps := float64(pr.Blocks) / el
	tps := float64(pr.Txs) / el
	eta := "-"
	if bps > 0 && pr.Target > pr.Height {
		eta = (time.Duration(float64(pr.Target-pr.Height)/bps) * time.Second).Round(time.Second).String()
	}
	phase := "ingest"
	if !pr.Publishing {
		phase = "indexing outputs below --from"
	}
	fmt.Fprintf(p.out, "\r\033[K%s: height %d/%d  %.1f blocks/s  %.0f tx/s  ETA %s", phase, pr.Height, pr.Target, bps, tps, eta)
	p.drawn = true
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.out)
	}
}
