package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/trace"
)

// Formats a report is written in.
var Formats = []string{"json", "csv", "html"}

// fileStamp names a report's files by generation time.
const fileStamp = "20060102T150405Z"

// Write writes the report into dir in each format and returns the paths.
// The JSON is always written: the next report compares with it.
func Write(dir string, rep *Report, formats []string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: output directory: %w", err)
	}
	if !contains(formats, "json") {
		formats = append([]string{"json"}, formats...)
	}
	base := filepath.Join(dir, rep.Name+"-"+rep.Generated.Format(fileStamp))
	var paths []string
	for _, f := range formats {
		var write func(io.Writer, *Report) error
		switch f {
		case "json":
			write = WriteJSON
		case "csv":
			write = WriteCSV
		case "html":
			write = WriteHTML
		default:
			return nil, fmt.Errorf("report: format %q: want %s", f, strings.Join(Formats, ", "))
		}
		p := base + "." + f
		if err := writeFile(p, rep, write); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// writeFile writes through a temporary file and renames it, so a reader
// (or the next report) never sees half a report.
func writeFile(path string, rep *Report, write func(io.Writer, *Report) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".report-*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp, rep); err != nil {
		tmp.Close()
		return fmt.Errorf("report: writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("report: writing %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}

// Previous reads the newest JSON report of the name in dir, or nil.
func Previous(dir, name string) (*Report, error) {
	matches, err := filepath.Glob(filepath.Join(dir, name+"-*.json"))
	if err != nil || len(matches) == 0 {
		return nil, err
	}
	sort.Strings(matches) // the stamp sorts by time
	raw, err := os.ReadFile(matches[len(matches)-1])
	if err != nil {
		return nil, fmt.Errorf("report: previous report: %w", err)
	}
	var rep Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		return nil, fmt.Errorf("report: previous report %s: %w", matches[len(matches)-1], err)
	}
	if rep.Format != Format {
		return nil, fmt.Errorf("report: previous report %s has format %q, this build writes %s", matches[len(matches)-1], rep.Format, Format)
	}
	return &rep, nil
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, rep *Report) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(rep)
}

// WriteCSV writes one row per subject, category and direction.
func WriteCSV(w io.Writer, rep *Report) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"watch", "direction", "category", "direct_sat", "indirect_sat", "since", "until", "params", "error"})
	for _, s := range rep.Subjects {
		if s.Error != "" {
			_ = cw.Write([]string{s.Watch, "", "", "", "", rep.Since.Format(time.RFC3339), rep.Until.Format(time.RFC3339), rep.Params, s.Error})
			continue
		}
		for _, side := range []struct {
			dir   string
			flows []trace.CategoryFlow
		}{{"received-from", s.From}, {"sent-to", s.To}} {
			for _, f := range side.flows {
				_ = cw.Write([]string{s.Watch, side.dir, f.Category, strconv.FormatInt(f.Direct, 10), strconv.FormatInt(f.Indirect, 10),
					rep.Since.Format(time.RFC3339), rep.Until.Format(time.RFC3339), rep.Params, ""})
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// btc shows satoshi as BTC with eight decimals, exactly.
func btc(sat int64) string { return chain.FormatAmount(big.NewInt(sat), 8, "", true) }

// WriteHTML writes a single self-contained page: a summary table, a chart
// of exposure by category over the period and the largest flows drawn as a
// graph, in inline SVG; no script, no fetch.
// A report over every cluster lists the most exposed subjects in full and
// counts the rest (they are all in the JSON and CSV files).
func WriteHTML(w io.Writer, rep *Report) error {
	cats := rep.Categories()
	view := htmlView{Report: rep, Categories: cats}
	shown := len(rep.Subjects)
	if shown > htmlSubjects {
		shown = htmlSubjects
		view.More = len(rep.Subjects) - shown
	}
	for i := range rep.Subjects[:shown] {
		s := &rep.Subjects[i]
		sv := subjectView{Subject: s, Totals: map[string]string{}}
		for c, v := range byCategory(s) {
			sv.Totals[c] = btc(v)
		}
		sv.Chart = chart(s, cats)
		sv.Graph = graph(s)
		view.Subjects = append(view.Subjects, sv)
	}
	return page.Execute(w, view)
}

// htmlSubjects bounds the subjects the HTML page draws.
const htmlSubjects = 200

type htmlView struct {
	*Report
	Categories []string
	Subjects   []subjectView
	// More subjects are in the JSON and CSV files only.
	More int
}

type subjectView struct {
	*Subject
	Totals map[string]string
	Chart  template.HTML
	Graph  template.HTML
}

// palette gives each category a fixed colour.
var palette = map[string]string{
	"precursor-broker": "#b91c1c", "cartel": "#7f1d1d", "exchange": "#1d4ed8", "mixer": "#7c3aed",
	"sanctioned": "#ea580c", "darknet-market": "#374151", "other": "#6b7280",
}

func colour(cat string) string {
	if c, ok := palette[cat]; ok {
		return c
	}
	h := 0
	for _, r := range cat {
		h = h*31 + int(r)
	}
	return fmt.Sprintf("hsl(%d,55%%,45%%)", (h%360+360)%360)
}

// chart draws stacked bars: one per period, one colour per category.
func chart(s *Subject, cats []string) template.HTML {
	const w, h, pad = 640, 220, 40
	if len(s.Series) == 0 {
		return ""
	}
	var maxv int64 = 1
	for _, p := range s.Series {
		var sum int64
		for _, v := range p.ByCategory {
			sum += v
		}
		maxv = max(maxv, sum)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" aria-label="exposure by category over time" width="%d" height="%d" viewBox="0 0 %d %d">`, w, h+pad, w, h+pad)
	bw := float64(w-pad) / float64(len(s.Series))
	for i, p := range s.Series {
		x := float64(pad) + float64(i)*bw
		y := float64(h)
		for _, c := range cats {
			v := p.ByCategory[c]
			if v == 0 {
				continue
			}
			bh := float64(v) / float64(maxv) * float64(h-10)
			y -= bh
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s BTC</title></rect>`,
				x+4, y, bw-8, math.Max(bh, 0.5), colour(c), template.HTMLEscapeString(c), btc(v))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%s</text>`, x+bw/2, h+14, p.From.Format("Jan 2 15:04"))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`, pad, h, w, h)
	fmt.Fprintf(&b, `<text x="2" y="12" font-size="10">%s BTC</text>`, btc(maxv))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// graph draws the subject in the middle and its largest flows around it:
// sources on the left, destinations on the right.
func graph(s *Subject) template.HTML {
	if len(s.TopFlows) == 0 {
		return ""
	}
	const w, rowH = 900, 28
	var from, to []Flow
	for _, f := range s.TopFlows {
		if f.Direction == "from" {
			from = append(from, f)
		} else {
			to = append(to, f)
		}
	}
	rows := max(len(from), len(to), 1)
	h := rows*rowH + 20
	cy := h / 2
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="graph" role="img" aria-label="largest flows" width="%d" height="%d" viewBox="0 0 %d %d">`, w, h, w, h)
	side := func(list []Flow, x int, anchor string) {
		for i, f := range list {
			y := 20 + i*rowH
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"><title>%s BTC, %d hops</title></line>`,
				x, y, w/2, cy, colour(f.Category), btc(f.Amount), f.Hops)
			fmt.Fprintf(&b, `<circle cx="%d" cy="%d" r="5" fill="%s"/>`, x, y, colour(f.Category))
			label := fmt.Sprintf("%s %s · %s BTC", f.Category, shortAddr(f.Address), btc(f.Amount))
			dx := 8
			if anchor == "end" {
				dx = -8
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="%s">%s</text>`, x+dx, y+4, anchor, template.HTMLEscapeString(label))
		}
	}
	side(from, w/2-150, "end")
	side(to, w/2+150, "start")
	fmt.Fprintf(&b, `<circle cx="%d" cy="%d" r="9" fill="#111"/><text x="%d" y="%d" font-size="11" text-anchor="middle">%s</text>`,
		w/2, cy, w/2, cy+24, template.HTMLEscapeString(shortAddr(s.Watch)))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func shortAddr(a string) string {
	if len(a) <= 18 {
		return a
	}
	return a[:10] + "…" + a[len(a)-6:]
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"btc": btc, "colour": colour, "time": func(t time.Time) string { return t.Format("2006-01-02 15:04 MST") },
	"total": func(s *Subject, cat string) string {
		for c, v := range byCategory(s) {
			if c == cat {
				return btc(v)
			}
		}
		return ""
	},
	"short": shortAddr,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Exposure report {{.Name}} · {{time .Generated}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:960px;color:#111;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.meta{color:#555} table{border-collapse:collapse;width:100%;margin:.6rem 0} th,td{padding:.3rem .5rem;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left} th{background:#f6f6f6;font-weight:600}
.swatch{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.3rem;vertical-align:-1px}
.error{color:#b91c1c} .empty{background:#fff7ed;border:1px solid #fed7aa;padding:.8rem;border-radius:6px}
code{font-size:12px} .up{color:#b91c1c} .down{color:#15803d}
</style></head><body>
<h1>Exposure report: {{.Name}}</h1>
<p class="meta">{{time .Since}} – {{time .Until}} · generated {{time .Generated}} · {{.Params}}{{if .Previous}} · compared with the report of {{time .Previous}}{{end}}</p>
{{if .Empty}}<p class="empty">{{.Empty}}.</p>{{end}}
<h2>Summary</h2>
<table id="summary"><thead><tr><th>watched</th><th>addresses</th>{{range .Categories}}<th><span class="swatch" style="background:{{colour .}}"></span>{{.}}</th>{{end}}</tr></thead><tbody>
{{range .Subjects}}<tr><td><code>{{.Watch}}</code>{{if .Error}} <span class="error">{{.Error}}</span>{{end}}</td><td>{{.Addresses}}</td>{{$s := .Subject}}{{range $.Categories}}<td>{{total $s .}}</td>{{end}}</tr>
{{end}}</tbody></table>
{{if .More}}<p class="meta">The {{len .Subjects}} most exposed subjects are shown; {{.More}} more are in the JSON and CSV files.</p>{{end}}
<p class="meta">Amounts in BTC: direct (one hop) and indirect (through unlabelled intermediaries) exposure, received and sent together.</p>
{{range .Subjects}}{{if not .Error}}
<h2><code>{{.Watch}}</code></h2>
<table><thead><tr><th>category</th><th>received directly</th><th>received indirectly</th><th>sent directly</th><th>sent indirectly</th></tr></thead><tbody>
{{$s := .}}{{range $.Categories}}{{$c := .}}<tr><td><span class="swatch" style="background:{{colour $c}}"></span>{{$c}}</td>
<td>{{range $s.From}}{{if eq .Category $c}}{{btc .Direct}}{{end}}{{end}}</td><td>{{range $s.From}}{{if eq .Category $c}}{{btc .Indirect}}{{end}}{{end}}</td>
<td>{{range $s.To}}{{if eq .Category $c}}{{btc .Direct}}{{end}}{{end}}</td><td>{{range $s.To}}{{if eq .Category $c}}{{btc .Indirect}}{{end}}{{end}}</td></tr>
{{end}}</tbody></table>
{{if .Change}}<p>Since the previous report: {{range .Change}}<span class="{{if gt .Now .Before}}up{{else}}down{{end}}">{{.Category}} {{btc .Before}} → {{btc .Now}}</span>; {{end}}</p>{{end}}
{{if .Capped}}<p class="error">A cap stopped the trace: {{.Capped}}.</p>{{end}}
<h3>Exposure by category over time</h3>
{{.Chart}}
<h3>Largest flows</h3>
{{.Graph}}
<table><thead><tr><th>direction</th><th>address</th><th>category</th><th>entity</th><th>BTC</th><th>hops</th><th>transactions</th></tr></thead><tbody>
{{range .TopFlows}}<tr><td>{{.Direction}}</td><td><code>{{short .Address}}</code></td><td>{{.Category}}</td><td>{{.Entity}}</td><td>{{btc .Amount}}</td><td>{{.Hops}}</td><td>{{range .Txids}}<code>{{short .}}</code> {{end}}</td></tr>
{{else}}<tr><td colspan="7">no flow to or from a labelled address</td></tr>{{end}}</tbody></table>
{{end}}{{end}}
</body></html>
`))
