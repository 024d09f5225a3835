package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/internal/simworld"
	"github.com/tracerproject/tracer/report"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/stream"
	"github.com/tracerproject/tracer/trace"
)

func TestMain(m *testing.M) { chserver.Main(m) }

// The synthetic chains start on 2024-01-01, a block every 840 s at most.
var (
	chainStart = time.Date(2023, 12, 31, 0, 0, 0, 0, time.UTC)
	chainEnd   = time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
)

// TestReportOnTheSyntheticWorld: the cartels' report says they received
// from precursor brokers what the ground truth planted; the previous report
// is compared with; a period without activity says so; the files are
// written and announced on NATS.
func TestReportOnTheSyntheticWorld(t *testing.T) {
	ctx := context.Background()
	w := simworld.New(t, ctx, 60, 120, 7)
	tr := trace.New(w.Conn, w.Labels)
	cl := cluster.NewClusters(w.Conn)
	resolve := func(ctx context.Context, s string) (trace.Start, error) {
		return trace.ParseStart(ctx, s, cl, w.Labels, time.Time{})
	}
	var want int64
	var n int
	for _, f := range w.Truth.Flows {
		if f.Kind == simulate.FlowCartel {
			want += f.Amount
			n++
		}
	}
	if n == 0 {
		t.Fatal("no planted cartel payment: the chain is too short")
	}
	cfg := report.Config{Name: "cartels", Watch: []string{"label:cartel", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"}, Since: chainStart, Until: chainEnd, Buckets: 4}
	rep, err := report.Build(ctx, tr, resolve, cfg, nil, time.Date(2024, 2, 1, 6, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Subjects) != 2 || rep.Empty != "" {
		t.Fatalf("report: %d subjects, empty %q", len(rep.Subjects), rep.Empty)
	}
	cartels, unknown := rep.Subjects[0], rep.Subjects[1]
	if unknown.Error == "" {
		t.Errorf("an address the store never saw: got no error in its subject")
	}
	var got int64
	for _, f := range cartels.From {
		if f.Category == "precursor-broker" {
			got = f.Direct + f.Indirect
		}
	}
	// Haircut upstream is exact through one-input hops and at most one
	// satoshi short per input of a broker's forward (≤ 100 inputs).
	if got > want || want-got > int64(100*n) {
		t.Errorf("cartels received %d sat from precursor brokers, the truth planted %d sat in %d payments", got, want, n)
	}
	var series int64
	for _, p := range cartels.Series {
		series += p.ByCategory["precursor-broker"]
	}
	if len(cartels.Series) != 4 || series == 0 {
		t.Errorf("series: %d periods, %d sat from brokers in all", len(cartels.Series), series)
	}
	if len(cartels.TopFlows) == 0 || cartels.TopFlows[0].Amount <= 0 || len(cartels.TopFlows[0].Txids) == 0 {
		t.Errorf("top flows: %+v", cartels.TopFlows)
	}
	t.Logf("cartels: %d sat from precursor brokers (planted %d in %d payments), %d top flows", got, want, n, len(cartels.TopFlows))

	// Files, and the next report compares with this one.
	dir := t.TempDir()
	files, err := report.Write(dir, rep, []string{"html", "csv"})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("files: %v", files)
	}
	prev, err := report.Previous(dir, "cartels")
	if err != nil || prev == nil || !prev.Generated.Equal(rep.Generated) {
		t.Fatalf("previous report: %v, %v", prev, err)
	}
	shorter := cfg
	shorter.Until = chainStart.Add(24 * time.Hour) // the first day only
	next, err := report.Build(ctx, tr, resolve, shorter, prev, rep.Generated.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if next.Previous == nil || len(next.Subjects[0].Change) == 0 {
		t.Errorf("a report over a shorter period shows no change against the previous one: %+v", next.Subjects[0].Change)
	}

	// A period without activity says so.
	empty, err := report.Build(ctx, tr, resolve, report.Config{Name: "quiet", Watch: []string{"label:cartel"},
		Since: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2020, 2, 1, 0, 0, 0, 0, time.UTC)}, nil, time.Now())
	if err != nil {
		t.Fatalf("empty period: %v", err)
	}
	if !strings.Contains(empty.Empty, "no exposure") {
		t.Errorf("empty period: Empty = %q", empty.Empty)
	}

	// The notice on NATS.
	srv, err := stream.StartServer(stream.ServerConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(report.NoticeSubject)
	if err != nil {
		t.Fatal(err)
	}
	if err := report.Publish(nc, report.NewNotice(rep, files)); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var notice report.Notice
	if err := json.Unmarshal(m.Data, &notice); err != nil || notice.Format != report.NoticeFormat || len(notice.Files) != 3 ||
		notice.Exposure["precursor-broker"] < got || notice.Errors != 1 {
		t.Errorf("notice: %+v (%v)", notice, err)
	}
}

func TestScheduleConfig(t *testing.T) {
	ok := report.Schedule{Name: "weekly", Cron: "0 6 * * 1", Watch: []string{"label:cartel"}, Period: "7d"}
	for _, tc := range []struct {
		name string
		s    report.Schedule
		want string
	}{
		{"bad cron", report.Schedule{Name: "x", Cron: "every monday", Watch: ok.Watch, Period: "7d"}, `cron "every monday"`},
		{"bad period", report.Schedule{Name: "x", Cron: ok.Cron, Watch: ok.Watch, Period: "a week"}, `period "a week"`},
		{"no watch", report.Schedule{Name: "x", Cron: ok.Cron, Period: "7d"}, "watches nothing"},
		{"bad format", report.Schedule{Name: "x", Cron: ok.Cron, Watch: ok.Watch, Period: "7d", Formats: []string{"pdf"}}, `format "pdf"`},
		{"no name", report.Schedule{Cron: ok.Cron, Watch: ok.Watch, Period: "7d"}, "unique name"},
	} {
		_, err := report.NewScheduler([]report.Schedule{tc.s}, func(context.Context, report.Schedule) error { return nil }, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	// A schedule that runs every second runs.
	ran := make(chan string, 4)
	s, err := report.NewScheduler([]report.Schedule{{Name: "fast", Cron: "@every 1s", Watch: ok.Watch, Period: "24h"}},
		func(_ context.Context, s report.Schedule) error { ran <- s.Name; return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case name := <-ran:
		if name != "fast" {
			t.Errorf("ran %q", name)
		}
	case <-time.After(5 * time.Second):
		t.Error("the schedule did not run within 5s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	for _, p := range []struct{ in string }{{"7d"}, {"36h"}} {
		if _, err := report.Period(p.in); err != nil {
			t.Errorf("period %q: %v", p.in, err)
		}
	}
}

// TestHTMLRendersInChromium opens the HTML report in Debian's headless
// Chromium: the page must lay out its summary table, the chart's bars and
// the flow graph, and a screenshot must come out.
func TestHTMLRendersInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("TRACER_REQUIRE_CHROMIUM") != "" {
			t.Fatalf("chromium not found and TRACER_REQUIRE_CHROMIUM is set: %v", err)
		}
		t.Skip("chromium not found (Debian: apt-get install chromium); TRACER_REQUIRE_CHROMIUM=1 makes this a failure")
	}
	gen := time.Date(2024, 2, 1, 6, 0, 0, 0, time.UTC)
	rep := &report.Report{Format: report.Format, Name: "brokers", Generated: gen, Since: gen.AddDate(0, 0, -7), Until: gen,
		Params: "model=haircut direction=down hops=6", Subjects: []report.Subject{{
			Watch: "label:precursor-broker", Addresses: 24, Received: 4_500_000_000, Sent: 4_400_000_000,
			From: []trace.CategoryFlow{{Category: "cartel", Direct: 0, Indirect: 120_000_000}},
			To:   []trace.CategoryFlow{{Category: "cartel", Direct: 250_000_000, Indirect: 10_000_000}, {Category: "exchange", Direct: 900_000_000}},
			Series: []report.Point{
				{From: gen.AddDate(0, 0, -7), Until: gen.AddDate(0, 0, -4), ByCategory: map[string]int64{"cartel": 200_000_000, "exchange": 300_000_000}},
				{From: gen.AddDate(0, 0, -4), Until: gen, ByCategory: map[string]int64{"cartel": 180_000_000, "exchange": 600_000_000}},
			},
			TopFlows: []report.Flow{
				{Direction: "to", Address: "bc1qcartel000000000000000000000000000000", Category: "cartel", Entity: "cartel-1", Amount: 250_000_000, Hops: 2, Txids: []string{"aa11"}},
				{Direction: "from", Address: "bc1qbuyer0000000000000000000000000000000", Category: "cartel", Entity: "cartel-2", Amount: 120_000_000, Hops: 3, Txids: []string{"bb22"}},
			},
			Change: []report.Change{{Category: "cartel", Before: 100_000_000, Now: 380_000_000}},
		}}}
	dir := t.TempDir()
	files, err := report.Write(dir, rep, []string{"html"})
	if err != nil {
		t.Fatal(err)
	}
	html := files[1]
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--user-data-dir=" + t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dom, err := exec.CommandContext(ctx, bin, append(args, "--dump-dom", "file://"+html)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	for _, want := range []string{`id="summary"`, "<rect", `class="graph"`, "cartel-1", "2.50000000"} {
		if !bytes.Contains(dom, []byte(want)) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	shot := filepath.Join(dir, "report.png")
	if d := os.Getenv("TRACER_REPORT_SHOT"); d != "" {
		shot = d
	}
	if out, err := exec.CommandContext(ctx, bin, append(args, "--screenshot="+shot, "--window-size=1000,1400", "file://"+html)...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	fi, err := os.Stat(shot)
	if err != nil || fi.Size() < 10_000 {
		t.Errorf("screenshot: %v, %d bytes", err, fi.Size())
	}
}
