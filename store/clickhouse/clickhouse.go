// Package clickhouse is the store driver for a ClickHouse server or cluster,
// over the native protocol with github.com/ClickHouse/clickhouse-go/v2.
//
// Arguments are bound by clickhouse-go on the client side (`?` placeholders),
// which ClickHouse 18.16 needs: it has no server-side query parameters. A
// store.Keys argument goes as an external table sent with the query.
package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/store/sqltext"
)

var _ store.Conn = (*Conn)(nil)

// Conn is a pool of native connections to one database.
type Conn struct {
	db      driver.Conn
	version string
}

// Open connects to the server named by dsn
// (clickhouse://[user[:password]@]host:9000[,host2:9000]/database?settings),
// creates the database when it does not exist yet, and checks the server
// answers.
func Open(ctx context.Context, dsn string) (*Conn, error) {
	opts, err := ch.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: bad DSN %q: %w", redact(dsn), err)
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 10 * time.Second
	}
	dbName := opts.Auth.Database
	if dbName == "" {
		dbName = "default"
	}
	if dbName != "default" {
		// The database must exist before a connection can select it.
		boot := *opts
		boot.Auth.Database = "default"
		c, err := ch.Open(&boot)
		if err != nil {
			return nil, fmt.Errorf("clickhouse: connecting to %s: %w", redact(dsn), err)
		}
		err = c.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(dbName))
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("clickhouse: creating database %s on %s: %w", dbName, redact(dsn), err)
		}
	}
	db, err := ch.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: connecting to %s: %w", redact(dsn), err)
	}
	sv, err := db.ServerVersion()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("clickhouse: connecting to %s: %w", redact(dsn), err)
	}
	return &Conn{db: db, version: sv.String()}, nil
}

// Engine names the server and its version.
func (c *Conn) Engine() string { return "clickhouse-server " + c.version }

// Exec runs a statement without results.
func (c *Conn) Exec(ctx context.Context, query string, args ...any) error {
	ctx, query, args, err := bindKeys(ctx, query, args)
	if err != nil {
		return err
	}
	if err := c.db.Exec(ctx, query, args...); err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	return nil
}

// Query runs a SELECT.
func (c *Conn) Query(ctx context.Context, query string, args ...any) (store.Rows, error) {
	ctx, query, args, err := bindKeys(ctx, query, args)
	if err != nil {
		return nil, err
	}
	rows, err := c.db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	return rows, nil
}

// bindKeys sends each store.Keys argument as an external table of one
// String column, named in the query where its placeholder was; the other
// arguments are left for clickhouse-go to bind.
func bindKeys(ctx context.Context, query string, args []any) (context.Context, string, []any, error) {
	n := 0
	for _, a := range args {
		if _, ok := a.(store.Keys); ok {
			n++
		}
	}
	if n == 0 {
		return ctx, query, args, nil
	}
	var (
		out    strings.Builder
		rest   = make([]any, 0, len(args)-n)
		tables []*ext.Table
		err    error
		i      int
		last   int
	)
	sqltext.Placeholders(query, func(pos int) bool {
		if i >= len(args) {
			return false
		}
		keys, ok := args[i].(store.Keys)
		i++
		if !ok {
			rest = append(rest, args[i-1])
			return true
		}
		name := fmt.Sprintf("_tracer_keys%d", len(tables))
		var t *ext.Table
		if t, err = ext.NewTable(name, ext.Column("k", "String")); err != nil {
			return false
		}
		if _, err = t.Block().Columns[0].Append([]string(keys)); err != nil {
			return false
		}
		tables = append(tables, t)
		out.WriteString(query[last:pos])
		out.WriteString(name)
		last = pos + 1
		return true
	})
	if err != nil {
		return nil, "", nil, fmt.Errorf("clickhouse: binding keys: %w", err)
	}
	for _, a := range args[i:] {
		if _, ok := a.(store.Keys); ok {
			return nil, "", nil, fmt.Errorf("clickhouse: binding keys: argument %d has no placeholder", i+1)
		}
		rest = append(rest, a) // clickhouse-go reports the count
	}
	out.WriteString(query[last:])
	return ch.Context(ctx, ch.WithExternalTable(tables...)), out.String(), rest, nil
}

// Insert sends the columns as one native block.
func (c *Conn) Insert(ctx context.Context, table string, cols []store.Column) error {
	names := make([]string, len(cols))
	for i, col := range cols {
		names[i] = col.Name
	}
	b, err := c.db.PrepareBatch(ctx, "INSERT INTO "+table+" ("+strings.Join(names, ", ")+")")
	if err != nil {
		return fmt.Errorf("clickhouse: preparing insert into %s: %w", table, err)
	}
	defer b.Close()
	presize(b.Columns(), cols)
	for i, col := range cols {
		if err := b.Column(i).Append(col.Values); err != nil {
			return fmt.Errorf("clickhouse: insert into %s, column %s: %w", table, col.Name, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("clickhouse: insert into %s: %w", table, err)
	}
	return nil
}

// Close closes the pool.
func (c *Conn) Close() error { return c.db.Close() }

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// redact hides a password in a DSN for error messages.
func redact(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	scheme := strings.Index(dsn, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return dsn
	}
	userinfo := dsn[scheme+3 : at]
	if u, _, ok := strings.Cut(userinfo, ":"); ok {
		return dsn[:scheme+3] + u + ":***" + dsn[at:]
	}
	return dsn
}
