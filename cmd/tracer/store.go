package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/store"
)

func newStoreCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Maintain the ClickHouse store: merge the tables read by key after a bulk backfill",
	}
	var format, tables string
	var wait time.Duration
	var rewrite bool
	opt := &cobra.Command{
		Use:   "optimize",
		Short: "Merge the tables read by key into one part each (OPTIMIZE TABLE ... FINAL)",
		Long: `Merge the tables that traces, exposure, clusters and labels read by key into one
part each. A keyed read scans a granule per key in every part of a table, and
a bulk backfill (tracer ingest btc --blocks-dir) leaves several parts that each
span every key, so traces read several times more than on a merged table
(docs/clickhouse.md). Run it after a backfill; ClickHouse's own
background merges keep a live store's parts few. It rewrites the tables (as
much disk again as the largest one, for the time of the merge), waits for
background merges that hold a table's parts, and leaves tables of one part
alone unless --rewrite is given. It is safe while the pipeline writes: rows
written meanwhile land in new parts.

--rewrite also rewrites tables of one part: after an upgrade that set the
compression block size of the tables read by key (store.CompressBlockSize,
applied at start where the engine has the table setting), their existing
parts get it only when rewritten.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			names := store.LookupTableNames()
			if tables != "" {
				names = nil
				for _, t := range strings.Split(tables, ",") {
					t = strings.TrimSpace(t)
					if !slices.Contains(store.Tables(), t) {
						return fmt.Errorf("--tables: %q is not a table of the store (tables: %s)", t, strings.Join(store.Tables(), ", "))
					}
					names = append(names, t)
				}
			}
			if wait <= 0 {
				return fmt.Errorf("--wait %s: want a positive duration", wait)
			}
			p, err := a.open()
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, p.Close()) }()
			st, err := p.Store(cmd.Context())
			if err != nil {
				return err
			}
			res, err := store.Optimize(cmd.Context(), st.Conn(), names, wait, rewrite)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			t := newTable(cmd.OutOrStdout())
			t.row("TABLE", "PARTS BEFORE", "PARTS AFTER", "SECONDS", "NOTE")
			for _, r := range res {
				note := ""
				switch {
				case r.SkippedSingle:
					note = "one part or none: left alone"
				case r.StillMerging:
					note = "background merges still running at --wait"
				case r.PartsAfter > 1:
					note = "rows written meanwhile"
				}
				t.row(r.Table, r.PartsBefore, r.PartsAfter, fmt.Sprintf("%.1f", r.Seconds), note)
			}
			return t.flush()
		},
	}
	opt.Flags().StringVar(&format, "format", "table", "table or json")
	opt.Flags().StringVar(&tables, "tables", "", "comma-separated tables (default: the tables read by key: "+strings.Join(store.LookupTableNames(), ", ")+")")
	opt.Flags().DurationVar(&wait, "wait", 30*time.Minute, "how long to wait, per table, for background merges that hold its parts")
	opt.Flags().BoolVar(&rewrite, "rewrite", false, "rewrite tables of one part too (parts written before the table had its compression block size)")
	cmd.AddCommand(opt)
	return cmd
}
