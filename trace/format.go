package trace

import (
	"encoding/csv"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tracerproject/tracer/chain"
)

// Formats the writers below render.
var Formats = []string{"table", "json", "csv", "dot"}

// BTC renders satoshi as BTC with all eight decimals, exactly.
func BTC(sat int64) string { return chain.FormatAmount(big.NewInt(sat), 8, "", true) }

// units renders an account-chain amount (exact base units, decimal) in
// the result's asset: "1.5 USDT"; a token of unknown decimals stays in
// base units.
func (r *Result) units(s string) string {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		v = new(big.Int)
	}
	return chain.FormatAmount(v, r.Decimals, r.Symbol, false)
}

// unitName is the column unit: BTC, or the account asset's symbol.
func (r *Result) unitName() string {
	if r.Chain == "" {
		return "BTC"
	}
	if r.Decimals < 0 {
		return "UNITS"
	}
	return r.Symbol
}

// amount renders an endpoint's or step's amount in the result's unit,
// without the unit (columns name it).
func (r *Result) amount(sat int64, units string) string {
	if r.Chain == "" {
		return BTC(sat)
	}
	v, ok := new(big.Int).SetString(units, 10)
	if !ok {
		v = new(big.Int)
	}
	if r.Decimals < 0 {
		return v.String()
	}
	return chain.FormatUnits(v, r.Decimals)
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
		u := r.unitName()
		if r.Chain != "" {
			fmt.Fprintf(w, "trace %s from %s on %s, asset %s\n%s\n", r.Direction, r.Start, r.Chain, assetText(r), r.Params)
			what := "sent"
			if r.Direction == Up {
				what = "received"
			}
			fmt.Fprintf(w, "seeds: %d transfers, %s %s; reached %d tainted transfers in %s (%d queries)\n", r.Seeds, r.units(r.SeedUnits), what, r.Nodes, r.Elapsed.Round(time.Millisecond), r.Queries)
		} else {
			fmt.Fprintf(w, "trace %s from %s\n%s\n", r.Direction, r.Start, r.Params)
			fmt.Fprintf(w, "seeds: %d outputs, %s BTC; reached %d tainted outputs in %s (%d queries)\n", r.Seeds, BTC(r.SeedValue), r.Nodes, r.Elapsed.Round(time.Millisecond), r.Queries)
		}
		if r.Capped != "" {
			fmt.Fprintf(w, "INCOMPLETE: the %s cap stopped the trace; endpoints marked truncated were not followed\n", r.Capped)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		if r.Chain != "" {
			fmt.Fprintf(tw, "ADDRESS\tCLUSTER\tTAINTED %s\tOF %s\tHOPS\tREASON\tTRANSFER\tLABELS\n", u, u)
		} else {
			fmt.Fprintln(tw, "ADDRESS\tCLUSTER\tTAINTED BTC\tOF BTC\tHOPS\tREASON\tOUTPUT\tLABELS")
		}
		for _, e := range r.Endpoints {
			where := fmt.Sprintf("%s:%d", short(e.Txid), e.N)
			if r.Chain != "" {
				where = e.Kind
				if e.Txid != "" {
					where = fmt.Sprintf("%s/%s/%d", short(e.Txid), e.Kind, e.N)
				}
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\n", e.Address, e.Cluster, r.amount(e.Amount, e.AmountUnits), r.amount(e.Value, e.ValueUnits), e.Hops, e.Reason, where, labelText(e.Labels))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "\n%d steps in the taint graph (all of them: --format json or dot); one path per endpoint:\n", len(r.Steps))
		for _, e := range r.Endpoints {
			fmt.Fprintf(w, "  to %s (%s, %s %s):\n", e.Address, e.Reason, r.amount(e.Amount, e.AmountUnits), u)
			for _, h := range e.Path {
				step := ""
				if h.ClusterStep {
					step = fmt.Sprintf("  [cluster %d, no hop: %s]", h.Cluster, orNone(h.Evidence))
				}
				fmt.Fprintf(w, "    %s  block %d  %s  %s -> %s  %s %s%s\n", h.Txid, h.Height, h.Time.Format("2006-01-02 15:04:05Z"), h.From, h.To, r.amount(h.Amount, h.AmountUnits), u, step)
			}
		}
	}
	return nil
}

func assetText(r *Result) string {
	if r.Symbol != "" && r.Symbol != r.Asset {
		return r.Symbol + " (" + r.Asset + ")"
	}
	return r.Asset
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
	if len(rs) > 0 && rs[0].Chain != "" {
		return writeAccountCSV(w, rs)
	}
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

// writeAccountCSV is WriteCSV for account chains: amounts are exact base
// units of the row's asset, transfers named txid/kind/index.
func writeAccountCSV(w io.Writer, rs []*Result) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"chain", "asset", "symbol", "decimals", "direction", "start", "params", "endpoint", "endpoint_cluster", "endpoint_labels",
		"endpoint_amount_units", "endpoint_hops", "reason", "capped", "step", "txid", "block_height", "time", "from", "to", "amount_units", "cluster_step", "evidence"})
	for _, r := range rs {
		for _, e := range r.Endpoints {
			for i, h := range e.Path {
				cw.Write([]string{r.Chain, r.Asset, r.Symbol, strconv.Itoa(r.Decimals), r.Direction, r.Start, r.Params, e.Address,
					strconv.FormatUint(uint64(e.Cluster), 10), labelText(e.Labels), e.AmountUnits, strconv.Itoa(e.Hops), e.Reason, r.Capped,
					strconv.Itoa(i + 1), h.Txid, strconv.FormatUint(uint64(h.Height), 10), h.Time.Format(time.RFC3339), h.From, h.To,
					h.AmountUnits, strconv.FormatBool(h.ClusterStep), h.Evidence})
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
			label := fmt.Sprintf("%s\n%s %s, %d hops, %s", e.Address, r.amount(e.Amount, e.AmountUnits), r.unitName(), e.Hops, e.Reason)
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
			fmt.Fprintf(w, "  %s -> %s [label=%s%s];\n", dotQuote(h.From), dotQuote(h.To), dotQuote(fmt.Sprintf("%s\n%s %s @%d", short(h.Txid), r.amount(h.Amount, h.AmountUnits), r.unitName(), h.Height)), style)
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
	if b := ex.Index; b != nil {
		fmt.Fprintf(w, "from the exposure index: build %d of %s, as of block %d %s and %d label imports (latest %s)\n",
			b.Build, b.BuiltAt.Format(time.RFC3339), b.BlockHeight, b.BlockHash, b.LabelImports, b.LabelsImportedAt.Format(time.RFC3339))
		for _, s := range ex.Stale {
			fmt.Fprintf(w, "STALE: %s; tracer exposure --build-index refreshes it, --live traces now\n", s)
		}
	}
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

// WriteAccountExposureTable writes account-chain exposures for people, one
// block per asset, amounts in the asset's units.
func WriteAccountExposureTable(w io.Writer, exs []*AccountExposure) error {
	for i, ex := range exs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		r := &Result{Chain: ex.Chain, Asset: ex.Asset, Symbol: ex.Symbol, Decimals: ex.Decimals}
		u := r.unitName()
		fmt.Fprintf(w, "exposure of %s on %s, asset %s\n%s\n", ex.Subject, ex.Chain, assetText(r), ex.Params)
		if ex.Capped != "" {
			fmt.Fprintf(w, "INCOMPLETE: the %s cap stopped a trace\n", ex.Capped)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "RECEIVED %s %s\tDIRECT %s\tINDIRECT %s\n", r.amount(0, ex.Received), u, u, u)
		for _, f := range ex.From {
			fmt.Fprintf(tw, "  from %s\t%s\t%s\n", f.Category, r.amount(0, f.Direct), r.amount(0, f.Indirect))
		}
		fmt.Fprintf(tw, "SENT %s %s\t\t\n", r.amount(0, ex.Sent), u)
		for _, f := range ex.To {
			fmt.Fprintf(tw, "  to %s\t%s\t%s\n", f.Category, r.amount(0, f.Direct), r.amount(0, f.Indirect))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
