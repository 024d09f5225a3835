package taint

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Formats the writers below render.
var Formats = []string{"table", "json", "csv", "dot"}

// BTC renders satoshi as BTC with all eight decimals, exactly.
func BTC(sat int64) string {
	sign := ""
	if sat < 0 {
		sign, sat = "-", -sat
	}
	return fmt.Sprintf("%s%d.%08d", sign, sat/100_000_000, sat%100_000_000)
}

func labelText(ls []Label) string {
	var s []string
	for _, l := range ls {
		s = append(s, l.Category+":"+l.Entity+" ("+l.Source+")")
	}
	return strings.Join(s, "; ")
}

func short(s string) string {
	if len(s) > 16 {
		return s[:8] + "…" + s[len(s)-6:]
	}
	return s
}

// WriteTable writes results for people: the parameters, the endpoints and
// each endpoint's path.
func WriteTable(w io.Writer, rs []*Result) error {
	for i, r := range rs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "trace %s from %s\n%s\n", r.Direction, r.Start, r.Params)
		fmt.Fprintf(w, "seeds: %d outputs, %s BTC; reached %d tainted outputs in %s (%d queries)\n", r.Seeds, BTC(r.SeedValue), r.Nodes, r.Elapsed.Round(time.Millisecond), r.Queries)
		if r.Capped != "" {
			fmt.Fprintf(w, "INCOMPLETE: the %s cap stopped the trace; endpoints marked truncated were not followed\n", r.Capped)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tCLUSTER\tTAINTED BTC\tOF BTC\tHOPS\tREASON\tOUTPUT\tLABELS")
		for _, e := range r.Endpoints {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%s\t%s:%d\t%s\n", e.Address, e.Cluster, BTC(e.Amount), BTC(e.Value), e.Hops, e.Reason, short(e.Txid), e.N, labelText(e.Labels))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "\n%d steps in the taint graph (all of them: --format json or dot); one path per endpoint:\n", len(r.Steps))
		for _, e := range r.Endpoints {
			fmt.Fprintf(w, "  to %s (%s, %s BTC):\n", e.Address, e.Reason, BTC(e.Amount))
			for _, h := range e.Path {
				step := ""
				if h.ClusterStep {
					step = fmt.Sprintf("  [cluster %d, no hop: %s]", h.Cluster, orNone(h.Evidence))
				}
				fmt.Fprintf(w, "    %s  block %d  %s  %s -> %s  %s BTC%s\n", h.Txid, h.Height, h.Time.Format("2006-01-02 15:04:05Z"), h.From, h.To, BTC(h.Amount), step)
			}
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "no merge recorded in this transaction"
	}
	return s
}

// WriteCSV writes one row per hop of every path (endpoint columns
// repeated), the parameters in every row, amounts in satoshi.
func WriteCSV(w io.Writer, rs []*Result) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"direction", "start", "params", "endpoint", "endpoint_cluster", "endpoint_labels", "endpoint_amount_sat", "endpoint_hops", "reason", "capped",
		"step", "txid", "block_height", "time", "from", "to", "amount_sat", "cluster_step", "evidence"})
	for _, r := range rs {
		for _, e := range r.Endpoints {
			for i, h := range e.Path {
				cw.Write([]string{r.Direction, r.Start, r.Params, e.Address, strconv.FormatUint(uint64(e.Cluster), 10), labelText(e.Labels),
					strconv.FormatInt(e.Amount, 10), strconv.Itoa(e.Hops), e.Reason, r.Capped,
					strconv.Itoa(i + 1), h.Txid, strconv.FormatUint(uint64(h.Height), 10), h.Time.Format(time.RFC3339), h.From, h.To,
					strconv.FormatInt(h.Amount, 10), strconv.FormatBool(h.ClusterStep), h.Evidence})
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteDOT draws the whole taint graph for Graphviz: addresses are nodes
// (endpoints boxed, with labels), each step an edge with txid and the
// tainted amount of the output it reached; cluster steps dashed.
func WriteDOT(w io.Writer, rs []*Result) error {
	fmt.Fprintln(w, "digraph trace {")
	fmt.Fprintln(w, "  rankdir=LR; node [shape=ellipse, fontsize=10]; edge [fontsize=9];")
	for _, r := range rs {
		fmt.Fprintf(w, "  // %s from %s: %s\n", r.Direction, strings.ReplaceAll(r.Start, "\n", " "), r.Params)
		if r.Capped != "" {
			fmt.Fprintf(w, "  // INCOMPLETE: %s cap hit\n", r.Capped)
		}
		nodes := map[string]bool{}
		edges := map[string]bool{}
		for _, e := range r.Endpoints {
			if nodes[e.Address] {
				continue // one box per address; the first (fewest hops) labels it
			}
			label := fmt.Sprintf("%s\n%s BTC, %d hops, %s", e.Address, BTC(e.Amount), e.Hops, e.Reason)
			if len(e.Labels) > 0 {
				label += "\n" + labelText(e.Labels)
			}
			fmt.Fprintf(w, "  %s [shape=box, label=%s];\n", dotQuote(e.Address), dotQuote(label))
			nodes[e.Address] = true
		}
		for _, h := range r.Steps {
			k := h.Txid + "\x00" + h.From + "\x00" + h.To
			if edges[k] {
				continue
			}
			edges[k] = true
			style := ""
			if h.ClusterStep {
				style = ", style=dashed"
			}
			fmt.Fprintf(w, "  %s -> %s [label=%s%s];\n", dotQuote(h.From), dotQuote(h.To), dotQuote(fmt.Sprintf("%s\n%s BTC @%d", short(h.Txid), BTC(h.Amount), h.Height)), style)
		}
	}
	fmt.Fprintln(w, "}")
	return nil
}

// dotQuote is a DOT string: quotes and backslashes escaped, newlines as
// \n (a centred line break to Graphviz).
func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// WriteExposureTable writes an exposure for people.
func WriteExposureTable(w io.Writer, ex *Exposure) error {
	fmt.Fprintf(w, "exposure of %s\n%s\n", ex.Subject, ex.Params)
	if ex.Capped != "" {
		fmt.Fprintf(w, "INCOMPLETE: the %s cap stopped a trace\n", ex.Capped)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "RECEIVED %s BTC\tDIRECT BTC\tINDIRECT BTC\n", BTC(ex.Received))
	for _, f := range ex.From {
		fmt.Fprintf(tw, "  from %s\t%s\t%s\n", f.Category, BTC(f.Direct), BTC(f.Indirect))
	}
	fmt.Fprintf(tw, "SENT %s BTC\t\t\n", BTC(ex.Sent))
	for _, f := range ex.To {
		fmt.Fprintf(tw, "  to %s\t%s\t%s\n", f.Category, BTC(f.Direct), BTC(f.Indirect))
	}
	return tw.Flush()
}
