package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/service"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/trace"
)

// exposureReport labels the planted brokers, cartels and exchanges (as an
// investigator's own list would) and writes the exposure report of the
// brokers and the cartels over the demo chain; it returns the HTML file.
func exposureReport(ctx context.Context, w io.Writer, p *pipeline.Pipeline, truth *simulate.Truth, cfg Config) (string, error) {
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
	since := cfg.Sim.StartTime.Add(-24 * time.Hour)
	until := cfg.Sim.StartTime.Add(time.Duration(cfg.Sim.Blocks)*840*time.Second + 24*time.Hour)
	svc, err := service.New(service.Config{Store: st, Labels: ls})
	if err != nil {
		return "", err
	}
	rep, err := svc.Report(ctx, service.ReportRequest{Name: "demo-exposure", Watch: []string{"label:precursor-broker", "label:cartel"},
		Since: since.Format(time.RFC3339Nano), Until: until.Format(time.RFC3339Nano), Buckets: 6,
		Dir: filepath.Join(cfg.Dir, "reports"), Formats: []string{"html", "csv"}})
	if err != nil {
		return "", fmt.Errorf("demo exposure report: %w", err)
	}
	fmt.Fprintf(w, "\n8. Labels and the exposure report (%d planted addresses labelled; report over %s – %s)\n", n, since.Format("2006-01-02"), until.Format("2006-01-02"))
	t := newTable(w)
	row(t, "  watched", "received from", "sent to")
	for _, s := range rep.Report.Subjects {
		row(t, "  "+s.Watch, flowsLine(s.From), flowsLine(s.To))
	}
	t.Flush()
	html := ""
	for _, f := range rep.Files {
		if filepath.Ext(f) == ".html" {
			html = f
		}
	}
	if html == "" {
		return "", fmt.Errorf("demo: the report wrote no HTML file (%v)", rep.Files)
	}
	fmt.Fprintf(w, "   report: %s\n", html)
	return html, nil
}

// flowsLine lists what flowed from or to a category, in BTC.
func flowsLine(fs []trace.CategoryFlow) string {
	s := ""
	for _, f := range fs {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%s %s", f.Category, chain.FormatBTC(f.Direct+f.Indirect))
	}
	if s == "" {
		return "—"
	}
	return s
}
