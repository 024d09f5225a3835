package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/service"
)

func newLabelsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "labels",
		Short: "Import and look up attributions (OFAC SDN, GraphSense TagPacks, CSV) with provenance",
		Long: `Labels tie an address (or cluster:ID) to an entity and a category, with the
list they came from, where in it, since when, with what confidence and who
added them. Each import is a version of its source: a newer import of the
same source supersedes the older one, and --as-of DATE shows what was known
then. Categories: ` + strings.Join(labels.BuiltinCategories, ", ") + `, plus labels.categories.`,
	}
	cmd.AddCommand(newLabelsImportCmd(a), newLabelsListCmd(a), newLabelsShowCmd(a), newLabelsImportsCmd(a))
	return cmd
}

func newLabelsImportCmd(a *app) *cobra.Command {
	var format, source, addedBy, category, validFrom, reportFormat string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "import --format ofac-csv|ofac-xml|tagpack|csv FILE...",
		Short: "Import labels from files; every file is read and checked before anything is written",
		Long: `Formats:
  ofac-csv  SDN.CSV, optionally followed by SDN_COMMENTS.CSV (remarks are cut at
            1,000 characters and continued there; a continuation is appended
            only to a remark that was cut)
  ofac-xml  sdn_advanced.xml
  tagpack   GraphSense TagPack YAML (one or more packs)
  csv       header chain,address,entity,category,source,confidence; optional
            columns known_since, program, added_by, apply_to_cluster, asset;
            address may be cluster:ID. One bad line fails the whole import.

Addresses are checked for their chain (Bitcoin mainnet, Ethereum with EIP-55
for mixed case, TRON base58check); USDT and USDC go to the chain the address's
form shows. The report lists what was skipped (assets on chains the tracer
does not follow, duplicates), what did not parse (with entity and line) and
warnings. Importing content the source already holds changes nothing.

--source names the list (default: ofac-sdn for the OFAC formats, else
FORMAT:FILENAME). --valid-from is the date the list took effect (default now):
an older list imported later goes into the history without replacing the
current one.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format, labels.Formats...); err != nil {
				return err
			}
			if err := checkFormat(reportFormat, "table", "json"); err != nil {
				return err
			}
			if addedBy == "" {
				addedBy = a.cfg.Labels.AddedBy
			}
			if addedBy == "" {
				addedBy = loginName()
			}
			req := service.LabelImportRequest{Format: format, Source: source, AddedBy: addedBy, Category: category, ValidFrom: validFrom, DryRun: dryRun}
			for _, name := range args {
				data, err := os.ReadFile(name)
				if err != nil {
					return err
				}
				req.Files = append(req.Files, labels.File{Name: name, Data: data})
			}
			return a.withService(cmd, func(ctx context.Context, s *service.Service) error {
				res, err := s.ImportLabels(ctx, req)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if reportFormat == "json" {
					return writeJSON(out, res)
				}
				writeImportReport(out, &res.Report, res.Result)
				if dryRun {
					fmt.Fprintln(out, "dry run: nothing written")
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "", "input format: "+strings.Join(labels.Formats, ", ")+" (required)")
	f.StringVar(&source, "source", "", "name of the list; a newer import of the same source supersedes the older (default: ofac-sdn, or FORMAT:FILENAME)")
	f.StringVar(&addedBy, "added-by", "", "who adds these labels (default labels.added_by, else the login name)")
	f.StringVar(&category, "category", "", "give every imported label this category (e.g. precursor-broker for a TagPack of brokers)")
	f.StringVar(&validFrom, "valid-from", "", "date the list took effect, YYYY-MM-DD or RFC 3339 (default now)")
	f.BoolVar(&dryRun, "dry-run", false, "parse, check and report, but write nothing")
	f.StringVar(&reportFormat, "report", "table", "report format: table or json")
	_ = cmd.MarkFlagRequired("format")
	return cmd
}

func loginName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

func writeImportReport(w io.Writer, r *labels.Report, res *labels.Result) {
	fmt.Fprintf(w, "source %s (%s): %d labels read, %d skipped, %d invalid, %d warnings\n",
		r.Source, r.Format, r.Imported, len(r.Skipped), len(r.Invalid), len(r.Warnings))
	if res != nil {
		v := res.Version
		switch {
		case res.Unchanged:
			fmt.Fprintf(w, "unchanged: import %s (valid from %s) already holds this content; nothing written\n", v.ImportID, ts(v.ValidFrom))
		case res.Superseded != nil:
			fmt.Fprintf(w, "import %s valid from %s supersedes %s: %d added, %d no longer listed, %d kept\n",
				v.ImportID, ts(v.ValidFrom), res.Superseded.ImportID, res.Added, res.Removed, res.Kept)
		default:
			fmt.Fprintf(w, "import %s valid from %s: %d labels, the first version of %s\n", v.ImportID, ts(v.ValidFrom), res.Added, v.Source)
		}
	}
	for _, sec := range []struct {
		name   string
		issues []labels.Issue
	}{{"invalid (not imported)", r.Invalid}, {"warnings (imported)", r.Warnings}, {"skipped", r.Skipped}} {
		if len(sec.issues) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s:\n", sec.name)
		for _, i := range sec.issues {
			fmt.Fprintf(w, "  %s\n", i)
		}
	}
}

func newLabelsListCmd(a *app) *cobra.Command {
	var category, chain, source, entity, asOf, format string
	cmd := &cobra.Command{
		Use:   "list [--category C[,C...]] [--entity E] [--chain X] [--as-of DATE] [--format table|json|csv]",
		Short: "The labels in force now, or as known on a date",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "table", "json", "csv"); err != nil {
				return err
			}
			req := service.LabelsRequest{Chain: chain, Source: source, Entity: entity, AsOf: asOf}
			if category != "" {
				req.Categories = strings.Split(category, ",")
			}
			return a.withService(cmd, func(ctx context.Context, s *service.Service) error {
				list, err := s.Labels(ctx, req)
				if err != nil {
					return err
				}
				return writeLabels(cmd.OutOrStdout(), format, list)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&category, "category", "", "only these categories, comma-separated (e.g. exchange,mixer)")
	f.StringVar(&chain, "chain", "", "only this chain: btc, eth or tron")
	f.StringVar(&source, "source", "", "only this source")
	f.StringVar(&entity, "entity", "", "only labels of this entity (any case)")
	f.StringVar(&asOf, "as-of", "", "as known on this date (YYYY-MM-DD: at the end of that day; or RFC 3339); default now")
	f.StringVar(&format, "format", "table", "table, json or csv")
	return cmd
}

var labelCSVHeader = []string{"chain", "address", "entity", "category", "source", "confidence", "known_since", "program", "asset",
	"apply_to_cluster", "added_by", "reference", "origin", "import_id", "valid_from"}

func writeLabels(w io.Writer, format string, list []labels.Label) error {
	switch format {
	case "json":
		if list == nil {
			list = []labels.Label{}
		}
		return writeJSON(w, list)
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write(labelCSVHeader)
		for _, l := range list {
			_ = cw.Write([]string{l.Chain, l.Subject(), l.Entity, l.Category, l.Source, strconv.Itoa(int(l.Confidence)), date(l.KnownSince),
				l.Program, l.Asset, strconv.FormatBool(l.ApplyToCluster), l.AddedBy, l.Reference, l.Origin, l.ImportID, ts(l.ValidFrom)})
		}
		cw.Flush()
		return cw.Error()
	}
	t := newTable(w)
	t.row("CHAIN", "ADDRESS", "ENTITY", "CATEGORY", "CONF", "SINCE", "SOURCE", "PROGRAM", "CLUSTER")
	for _, l := range list {
		cl := "-"
		if l.ApplyToCluster {
			cl = "applies"
		}
		t.row(l.Chain, l.Subject(), l.Entity, l.Category, l.Confidence, date(l.KnownSince), l.Source, orDash(l.Program), cl)
	}
	if err := t.flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d labels\n", len(list))
	return err
}

func date(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02")
}

func newLabelsShowCmd(a *app) *cobra.Command {
	var asOf, format string
	cmd := &cobra.Command{
		Use:   "show ADDR|cluster:ID [--as-of DATE]",
		Short: "The labels of an address with their provenance, and its history per source",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			return a.withService(cmd, func(ctx context.Context, s *service.Service) error {
				sh, err := s.LabelShow(ctx, service.LabelShowRequest{Subject: args[0], AsOf: asOf})
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(cmd.OutOrStdout(), sh)
				}
				return writeShow(cmd.OutOrStdout(), sh)
			})
		},
	}
	cmd.Flags().StringVar(&asOf, "as-of", "", "as known on this date (YYYY-MM-DD: at the end of that day; or RFC 3339); default now")
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}

func writeShow(w io.Writer, sh *labels.Show) error {
	chain := sh.Chain
	if chain == "" {
		chain = "cluster"
	}
	fmt.Fprintf(w, "%s (%s), labels as of %s:\n", sh.Subject, chain, ts(sh.AsOf))
	if len(sh.Labels) == 0 {
		fmt.Fprintln(w, "  none in force (see the history below)")
	}
	for _, l := range sh.Labels {
		t := newTable(w)
		t.row("  entity", l.Entity)
		t.row("  category", l.Category)
		t.row("  confidence", l.Confidence)
		t.row("  known since", date(l.KnownSince))
		t.row("  source", fmt.Sprintf("%s (import %s, valid from %s)", l.Source, l.ImportID, ts(l.ValidFrom)))
		if l.Program != "" {
			t.row("  program", l.Program)
		}
		if l.Asset != "" {
			t.row("  asset", l.Asset)
		}
		t.row("  applies to cluster", l.ApplyToCluster)
		t.row("  reference", orDash(l.Reference))
		t.row("  added by", orDash(l.AddedBy))
		t.row("  from", l.Origin)
		if l.Raw != "" {
			t.row("  raw", l.Raw)
		}
		if err := t.flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	if len(sh.ViaCluster) > 0 {
		fmt.Fprintf(w, "through cluster %d (labels that apply to the whole cluster):\n", sh.Cluster)
		t := newTable(w)
		t.row("  ENTITY", "CATEGORY", "CONF", "SOURCE", "VIA", "FROM")
		for _, c := range sh.ViaCluster {
			via := c.Via
			if via == "" {
				via = "cluster:" + strconv.FormatUint(uint64(c.Cluster), 10)
			}
			t.row("  "+c.Label.Entity, c.Label.Category, c.Label.Confidence, c.Label.Source, via, c.Label.Origin)
		}
		if err := t.flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "history:")
	t := newTable(w)
	t.row("  SOURCE", "FIRST LISTED", "LAST LISTED", "NOW")
	for _, h := range sh.History {
		now := "listed"
		if !h.Current {
			now = "not listed"
			if h.DroppedBy != nil {
				now = "dropped by import " + h.DroppedBy.ImportID + " (valid from " + ts(h.DroppedBy.ValidFrom) + ")"
			}
		}
		t.row("  "+h.Source, ts(h.First.ValidFrom), ts(h.Last.ValidFrom), now)
	}
	return t.flush()
}

func newLabelsImportsCmd(a *app) *cobra.Command {
	var source, format string
	cmd := &cobra.Command{
		Use:   "imports [--source S]",
		Short: "Every import (version) of every source, and which one is in force now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			return a.withService(cmd, func(ctx context.Context, s *service.Service) error {
				all, err := s.LabelImports(ctx, source)
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(cmd.OutOrStdout(), all)
				}
				t := newTable(cmd.OutOrStdout())
				t.row("SOURCE", "IMPORT", "VALID FROM", "IMPORTED", "FORMAT", "LABELS", "ADDED BY", "NOW", "FILES")
				for _, v := range all {
					now := "superseded"
					if v.InForce {
						now = "in force"
					} else if v.ValidFrom.After(time.Now()) {
						now = "future"
					}
					t.row(v.Source, v.ImportID, ts(v.ValidFrom), ts(v.ImportedAt), v.Format, v.Labels, orDash(v.AddedBy), now, v.Files)
				}
				return t.flush()
			})
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "only this source")
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}
