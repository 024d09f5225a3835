package chdb

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/store/sqltext"
)

// Bind replaces each positional `?` placeholder in query with the next
// argument rendered as a ClickHouse literal. A `?` inside a string literal,
// a quoted identifier, a heredoc or a comment is part of the text and left
// alone. The number of placeholders must equal len(args).
//
// Bound types: string, []byte (as a string), bool (1/0), int, int8..int64,
// uint, uint8..uint64, float32, float64, time.Time (as a DateTime, whole
// UTC seconds), nil (NULL), clickhouse.GroupSet (a parenthesised list for
// `x IN ?`), slices of those (an array), pointers to those (nil is NULL)
// and driver.Valuer.
func Bind(query string, args ...any) (string, error) {
	out := make([]byte, 0, len(query)+16*len(args))
	n := 0
	last := 0
	var err error
	sqltext.Placeholders(query, func(pos int) bool {
		if n >= len(args) {
			n++
			return true
		}
		out = append(out, query[last:pos]...)
		out, err = appendLiteral(out, args[n])
		if err != nil {
			err = fmt.Errorf("%w: argument %d: %w", ErrBind, n+1, err)
			return false
		}
		n++
		last = pos + 1
		return true
	})
	if err != nil {
		return "", err
	}
	if n != len(args) {
		return "", fmt.Errorf("%w: query has %d placeholders, got %d arguments", ErrBind, n, len(args))
	}
	if len(args) == 0 {
		return query, nil
	}
	out = append(out, query[last:]...)
	return string(out), nil
}

// Literal renders v as a ClickHouse literal, as Bind does.
func Literal(v any) (string, error) {
	b, err := appendLiteral(nil, v)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBind, err)
	}
	return string(b), nil
}

func appendLiteral(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "NULL"...), nil
	case string:
		return appendString(b, v), nil
	case []byte:
		if v == nil {
			return append(b, "NULL"...), nil
		}
		return appendString(b, string(v)), nil
	case bool:
		if v {
			return append(b, '1'), nil
		}
		return append(b, '0'), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int8:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case uint:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint8:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint16:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(b, v, 10), nil
	case float32:
		return appendFloat(b, float64(v), 32), nil
	case float64:
		return appendFloat(b, v, 64), nil
	case time.Time:
		s := v.Unix()
		if s < 0 || s > math.MaxUint32 {
			return nil, fmt.Errorf("time %s is outside the DateTime range (1970-01-01 to 2106-02-07 UTC)", v.UTC().Format(time.RFC3339))
		}
		// A number of seconds is the same instant whatever the session
		// time zone; a 'YYYY-MM-DD hh:mm:ss' string would not be.
		b = append(b, "toDateTime("...)
		b = strconv.AppendInt(b, s, 10)
		return append(b, ')'), nil
	case store.Keys:
		if len(v) == 0 {
			// format() reads no data as a block without columns.
			return append(b, "(SELECT '' LIMIT 0)"...), nil
		}
		// The keys are one string literal, read as TSV by format(): the
		// engine scans a literal instead of parsing an element per key.
		tsv := make([]byte, 0, 16*len(v))
		for _, k := range v {
			tsv = appendTSV(tsv, k)
			tsv = append(tsv, '\n')
		}
		b = append(b, "(SELECT k FROM format(TSV, 'k String', "...)
		b, _ = appendLiteral(b, string(tsv)) // a string always binds
		return append(b, "))"...), nil
	case ch.GroupSet:
		if len(v.Value) == 0 {
			return nil, errors.New("empty GroupSet: `x IN ()` is not valid on ClickHouse 18.16")
		}
		return appendList(b, '(', ')', len(v.Value), func(b []byte, i int) ([]byte, error) {
			return appendLiteral(b, v.Value[i])
		})
	case driver.Valuer:
		dv, err := v.Value()
		if err != nil {
			return nil, err
		}
		if _, again := dv.(driver.Valuer); again {
			return nil, fmt.Errorf("%T.Value returned another Valuer", v)
		}
		return appendLiteral(b, dv)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return append(b, "NULL"...), nil
		}
		return appendLiteral(b, rv.Elem().Interface())
	}
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		return appendList(b, '[', ']', rv.Len(), func(b []byte, i int) ([]byte, error) {
			return appendLiteral(b, rv.Index(i).Interface())
		})
	}
	return nil, fmt.Errorf("unsupported type %T", v)
}

func appendList(b []byte, open, close byte, n int, elem func([]byte, int) ([]byte, error)) ([]byte, error) {
	b = append(b, open)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ", "...)
		}
		var err error
		if b, err = elem(b, i); err != nil {
			return nil, err
		}
	}
	return append(b, close), nil
}

func appendFloat(b []byte, f float64, bits int) []byte {
	typ := "'Float64')"
	if bits == 32 {
		typ = "'Float32')"
	}
	b = append(b, "CAST("...)
	switch {
	case math.IsNaN(f):
		b = append(b, "'nan'"...)
	case math.IsInf(f, 1):
		b = append(b, "'inf'"...)
	case math.IsInf(f, -1):
		b = append(b, "'-inf'"...)
	default:
		b = strconv.AppendFloat(b, f, 'g', -1, bits)
	}
	b = append(b, ", "...)
	return append(b, typ...)
}

const hexDigits = "0123456789abcdef"

// appendString renders s as a quoted string literal that reads back as
// exactly the same bytes. Quote and backslash are escaped; control bytes,
// DEL and bytes that are not valid UTF-8 become \xHH, so the query text is
// valid UTF-8 without NULs or line breaks whatever s holds.
func appendString(b []byte, s string) []byte {
	b = append(b, '\'')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\\' || c == '\'':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '\'')
}

// appendTSV appends s escaped as a TSV field, as ClickHouse reads it back.
func appendTSV(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case 0:
			b = append(b, '\\', '0')
		default:
			b = append(b, c)
		}
	}
	return b
}
