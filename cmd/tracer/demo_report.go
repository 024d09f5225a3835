package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/big"
	"path/filepath"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/report"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/trace"
)

// demoReport labels the planted brokers, cartels and exchanges (as an
// investigator's own list would) and writes the exposure report of the
// brokers and the cartels over the demo chain; it returns the HTML file.
func demoReport(ctx context.Context, w io.Writer, p *pipeline.Pipeline, truth *simulate.Truth, cfg simulate.Config, dir string) (string, error) {
	st, err := p.Store(ctx)
	if err != nil {
		return "", err
	}
	ls, err := labels.NewStore(ctx, st.Conn())
	if err != nil {
		return "", err
	}
	var csv bytes.Buffer
	csv.WriteString("chain,address,entity,category,source,confidence\n")
	n := 0
	for _, e := range truth.Entities {
		switch e.Kind {
		case simulate.KindBroker, simulate.KindCartel, simulate.KindExchange:
		default:
			continue
		}
		for _, a := range e.Addresses {
			fmt.Fprintf(&csv, "btc,%s,%s,%s,demo ground truth,100\n", a, e.Name, e.Kind)
			n++
		}
	}
	imp, err := labels.Parse(labels.FormatCSV, []labels.File{{Name: "demo-truth.csv", Data: csv.Bytes()}}, labels.Options{Source: "demo"})
	if err != nil {
		return "", fmt.Errorf("demo labels: %w", err)
	}
	if _, err := ls.Write(ctx, imp, labels.WriteOptions{}); err != nil {
		return "", err
	}
	since := cfg.StartTime.Add(-24 * time.Hour)
	until := cfg.StartTime.Add(time.Duration(cfg.Blocks)*840*time.Second + 24*time.Hour)
	out := filepath.Join(dir, "reports")
	rep, files, err := reportRun(ctx, p, report.Config{Name: "demo-exposure", Watch: []string{"label:precursor-broker", "label:cartel"},
		Since: since, Until: until, Buckets: 6}, out, []string{"html", "csv"}, nil)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(w, "\n8. Labels and the exposure report (%d planted addresses labelled; report over %s – %s)\n", n, since.Format("2006-01-02"), until.Format("2006-01-02"))
	t := newTable(w)
	t.row("  watched", "received from", "sent to")
	for _, s := range rep.Subjects {
		t.row("  "+s.Watch, flowsLine(s.From), flowsLine(s.To))
	}
	t.flush()
	html := files[len(files)-2]
	fmt.Fprintf(w, "   report: %s\n", html)
	return html, nil
}

func flowsLine(fs []trace.CategoryFlow) string {
	s := ""
	for _, f := range fs {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%s %s BTC", f.Category, btcString8(f.Direct+f.Indirect))
	}
	if s == "" {
		return "—"
	}
	return s
}

func btcString8(sat int64) string { return chain.FormatAmount(big.NewInt(sat), 8, "", true) }
