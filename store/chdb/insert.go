package chdb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/store/sqltext"
)

// Insert appends rows to table. The columns are encoded as
// RowBinaryWithNamesAndTypes into a temporary file and loaded with
//
//	INSERT INTO table (c1, c2, ...) FROM INFILE '<file>' FORMAT RowBinaryWithNamesAndTypes
//
// The header names the Go-side types and the engine checks them against the
// table: a []uint32 for a UInt64 column is an error (as with clickhouse-go),
// not misread bytes.
//
// Why a file: chDB's query API is binary safe (chdb_query_n), but chDB
// splits its input like clickhouse-client in multi-query mode, where the
// inline data of an INSERT ends at the first empty line and what follows
// is run as the next statement. Any "\n\n" in binary data (a UInt32 of
// 2570 is "\n\n\0\0") cuts the insert short, and TabSeparated data has an
// empty line wherever a one-column row is the empty string; the rows before
// it are inserted, the rest is parsed as SQL. FROM INFILE keeps the data
// out of the query text.
func (c *Conn) Insert(ctx context.Context, table string, cols []store.Column) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, names, n, err := encodeRows(table, cols)
	if err != nil {
		return fmt.Errorf("chdb: insert into %s: %w", table, err)
	}
	if n == 0 {
		return nil
	}
	f, err := os.CreateTemp(c.eng.tmpDir, "insert-*.rowbinary")
	if err != nil {
		return fmt.Errorf("chdb: insert into %s: %w", table, err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("chdb: insert into %s: writing %s: %w", table, f.Name(), err)
	}
	q := "INSERT INTO " + table + " (" + strings.Join(names, ", ") + ") FROM INFILE " +
		string(appendString(nil, f.Name())) + " FORMAT " + insertFormat
	if _, err := c.run(ctx, q, "TabSeparated"); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Op = "insert into " + table
			return e
		}
		return fmt.Errorf("chdb: insert into %s: %w", table, err)
	}
	return nil
}

// encoder appends row i of one column.
type encoder struct {
	typ string
	n   int
	put func(b []byte, i int) ([]byte, error)
}

func columnEncoder(v any) (encoder, error) {
	switch s := v.(type) {
	case []string:
		return encoder{"String", len(s), func(b []byte, i int) ([]byte, error) {
			b = binary.AppendUvarint(b, uint64(len(s[i])))
			return append(b, s[i]...), nil
		}}, nil
	case []bool:
		// UInt8, not Bool: the tables use UInt8 flags (ClickHouse 18.16
		// has no Bool).
		return encoder{"UInt8", len(s), func(b []byte, i int) ([]byte, error) {
			if s[i] {
				return append(b, 1), nil
			}
			return append(b, 0), nil
		}}, nil
	case []int8:
		return encoder{"Int8", len(s), func(b []byte, i int) ([]byte, error) { return append(b, byte(s[i])), nil }}, nil
	case []int16:
		return encoder{"Int16", len(s), func(b []byte, i int) ([]byte, error) {
			return binary.LittleEndian.AppendUint16(b, uint16(s[i])), nil
		}}, nil
	case []int32:
		return encoder{"Int32", len(s), func(b []byte, i int) ([]byte, error) {
			return binary.LittleEndian.AppendUint32(b, uint32(s[i])), nil
		}}, nil
	case []int64:
		return encoder{"Int64", len(s), func(b []byte, i int) ([]byte, error) {
			return binary.LittleEndian.AppendUint64(b, uint64(s[i])), nil
		}}, nil
	case []uint8:
		return encoder{"UInt8", len(s), func(b []byte, i int) ([]byte, error) { return append(b, s[i]), nil }}, nil
	case []uint16:
		return encoder{"UInt16", len(s), func(b []byte, i int) ([]byte, error) {
			return binary.LittleEndian.AppendUint16(b, s[i]), nil
		}}, nil
	case []uint32:
		return encoder{"UInt32", len(s), func(b []byte, i int) ([]byte, error) {
			return binary.LittleEndian.AppendUint32(b, s[i]), nil
		}}, nil
	case []uint64:
		return encoder{"UInt64", len(s), func(b []byte, i int) ([]byte, error) {
			return binary.LittleEndian.AppendUint64(b, s[i]), nil
		}}, nil
	case []float64:
		return encoder{"Float64", len(s), func(b []byte, i int) ([]byte, error) {
			return binary.LittleEndian.AppendUint64(b, math.Float64bits(s[i])), nil
		}}, nil
	case []decimal.Decimal:
		// Decimal(38, 0), the exact integer type both engines have for
		// values above 64 bits (wei): Int128 little-endian, two's
		// complement. Fractions and values beyond 38 digits are errors,
		// never rounded.
		return encoder{"Decimal(38, 0)", len(s), func(b []byte, i int) ([]byte, error) {
			return appendDecimal128(b, s[i], i)
		}}, nil
	case []time.Time:
		return encoder{"DateTime", len(s), func(b []byte, i int) ([]byte, error) {
			u := s[i].Unix()
			if u < 0 || u > math.MaxUint32 {
				return nil, fmt.Errorf("row %d: time %s is outside the DateTime range", i, s[i].UTC().Format(time.RFC3339))
			}
			return binary.LittleEndian.AppendUint32(b, uint32(u)), nil
		}}, nil
	}
	return encoder{}, fmt.Errorf("unsupported column type %T", v)
}

// maxDecimal38 is 10^38, one above the largest Decimal(38, 0).
var maxDecimal38 = new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil)

func appendDecimal128(b []byte, d decimal.Decimal, row int) ([]byte, error) {
	v := d.Coefficient()
	if exp := d.Exponent(); exp > 0 {
		v.Mul(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil))
	} else if exp < 0 {
		q, r := new(big.Int).QuoRem(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-exp)), nil), new(big.Int))
		if r.Sign() != 0 {
			return nil, fmt.Errorf("row %d: %s is not an integer, the column is Decimal(38, 0)", row, d)
		}
		v = q
	}
	if new(big.Int).Abs(v).Cmp(maxDecimal38) >= 0 {
		return nil, fmt.Errorf("row %d: %s has more than 38 digits, beyond Decimal(38, 0)", row, v)
	}
	if v.Sign() < 0 {
		v.Add(v, new(big.Int).Lsh(big.NewInt(1), 128))
	}
	var be [16]byte
	v.FillBytes(be[:])
	for i := 15; i >= 0; i-- {
		b = append(b, be[i])
	}
	return b, nil
}

// encodeRows encodes the columns as RowBinaryWithNamesAndTypes and returns
// the column names and the row count.
func encodeRows(table string, cols []store.Column) (data []byte, names []string, rows int, err error) {
	if !isTableName(table) {
		return nil, nil, 0, fmt.Errorf("bad table name %q", table)
	}
	if len(cols) == 0 {
		return nil, nil, 0, errors.New("no columns")
	}
	encs := make([]encoder, len(cols))
	names = make([]string, len(cols))
	for i, col := range cols {
		if !isPlainName(col.Name) {
			return nil, nil, 0, fmt.Errorf("bad column name %q", col.Name)
		}
		e, err := columnEncoder(col.Values)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("column %s: %w", col.Name, err)
		}
		if i > 0 && e.n != encs[0].n {
			return nil, nil, 0, fmt.Errorf("column %s has %d values, column %s has %d", col.Name, e.n, cols[0].Name, encs[0].n)
		}
		encs[i], names[i] = e, col.Name
	}
	rows = encs[0].n
	if rows == 0 {
		return nil, names, 0, nil
	}
	b := make([]byte, 0, rows*len(cols)*12+64)
	b = binary.AppendUvarint(b, uint64(len(cols)))
	for _, n := range names {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
	}
	for _, e := range encs {
		b = binary.AppendUvarint(b, uint64(len(e.typ)))
		b = append(b, e.typ...)
	}
	for i := 0; i < rows; i++ {
		for j, e := range encs {
			if b, err = e.put(b, i); err != nil {
				return nil, nil, 0, fmt.Errorf("column %s: %w", names[j], err)
			}
		}
	}
	return b, names, rows, nil
}

const insertFormat = "RowBinaryWithNamesAndTypes"

// isPlainName accepts an unquoted identifier; names come from code, not
// users, so anything else is a bug worth reporting rather than quoting.
func isPlainName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !sqltext.IsWordByte(s[i]) || s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// isTableName accepts table or database.table.
func isTableName(s string) bool {
	db, t, ok := strings.Cut(s, ".")
	if !ok {
		return isPlainName(s)
	}
	return isPlainName(db) && isPlainName(t)
}
