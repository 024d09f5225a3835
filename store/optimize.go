package store

import (
	"context"
	"fmt"
	"time"
)

// OptimizeResult is what Optimize did to one table.
type OptimizeResult struct {
	Table         string
	PartsBefore   int
	PartsAfter    int
	Seconds       float64
	StillMerging  bool // parts were left because merges of the table were running at the deadline
	SkippedSingle bool // one part or none: nothing to merge
}

// LookupTableNames are the tables read by key (migrations 8 and 9), the
// ones Optimize merges by default.
func LookupTableNames() []string {
	out := make([]string, 0, len(lookupTables)+1)
	for _, t := range lookupTables {
		out = append(out, t.name)
	}
	return append(out, spendsTable.name)
}

// Optimize merges each table into one part (OPTIMIZE TABLE ... FINAL),
// which also drops rows repeated by retries. A keyed read scans a granule
// per key in every part, so a store right after a bulk backfill, whose
// tables hold many parts that each span every key, reads several times
// more than a merged one (docs/benchmarks.md, trace). ClickHouse 18.16
// does nothing when a table's parts are being merged in the background, so
// Optimize waits for those merges and asks again until the table has one
// part or wait has passed. Tables of one part are left alone (FINAL
// would rewrite them). Rows written meanwhile may leave new parts; that
// is not an error.
//
// With rewrite, tables of one part are merged too: a part written before
// the table had its compression block size (CompressBlockSize) gets it.
func Optimize(ctx context.Context, c Conn, tables []string, wait time.Duration, rewrite bool) ([]OptimizeResult, error) {
	var out []OptimizeResult
	for _, t := range tables {
		start := time.Now()
		r := OptimizeResult{Table: t}
		n, err := activeParts(ctx, c, t)
		if err != nil {
			return out, err
		}
		r.PartsBefore, r.PartsAfter = n, n
		if n == 0 || (n == 1 && !rewrite) {
			r.SkippedSingle = true
			out = append(out, r)
			continue
		}
		deadline := start.Add(wait)
		for {
			if err := c.Exec(ctx, "OPTIMIZE TABLE "+t+" FINAL"); err != nil {
				return out, fmt.Errorf("store: optimizing %s: %w", t, err)
			}
			if r.PartsAfter, err = activeParts(ctx, c, t); err != nil {
				return out, err
			}
			if r.PartsAfter <= 1 {
				break // one part written by this OPTIMIZE (or, on a rewrite, rewritten)
			}
			merging, err := count(ctx, c, "SELECT count() FROM system.merges WHERE database = currentDatabase() AND table = ?", t)
			if err != nil {
				return out, fmt.Errorf("store: merges of %s: %w", t, err)
			}
			if time.Now().After(deadline) {
				r.StillMerging = merging > 0
				break
			}
			select {
			case <-ctx.Done():
				return out, ctx.Err()
			case <-time.After(time.Second):
			}
		}
		r.Seconds = time.Since(start).Seconds()
		out = append(out, r)
	}
	return out, nil
}

// activeParts is the number of active data parts of table.
func activeParts(ctx context.Context, c Conn, table string) (int, error) {
	n, err := count(ctx, c, "SELECT count() FROM system.parts WHERE active AND database = currentDatabase() AND table = ?", table)
	if err != nil {
		return 0, fmt.Errorf("store: parts of %s: %w", table, err)
	}
	return n, nil
}

// ActiveParts is the number of active data parts of each table.
func ActiveParts(ctx context.Context, c Conn, tables []string) (map[string]int, error) {
	out := map[string]int{}
	for _, t := range tables {
		n, err := activeParts(ctx, c, t)
		if err != nil {
			return nil, err
		}
		out[t] = n
	}
	return out, nil
}

func count(ctx context.Context, c Conn, q string, args ...any) (int, error) {
	rows, err := c.Query(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n uint64
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, err
		}
	}
	return int(n), rows.Err()
}
