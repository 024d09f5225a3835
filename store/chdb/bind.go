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
	scanPlaceholders(query, func(pos int) bool {
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

// scanPlaceholders calls fn with the offset of every `?` that is a
// placeholder, following ClickHouse's lexer (src/Parsers/Lexer.cpp):
//
//   - 'string' with backslash escapes and ” for a quote;
//   - "identifier" and `identifier`, with the same escapes;
//   - $tag$ heredoc $tag$ (tag may be empty), which starts where a token
//     can start;
//   - -- and "# " / "#!" comments to the end of the line;
//   - /* block comments */, which nest.
//
// An unterminated literal or comment runs to the end of the text, so a `?`
// in it is never replaced (the engine rejects the query anyway).
func scanPlaceholders(q string, fn func(pos int) bool) {
	for i := 0; i < len(q); i++ {
		switch c := q[i]; c {
		case '?':
			if !fn(i) {
				return
			}
		case '\'', '"', '`':
			i = skipQuoted(q, i, c)
		case '-':
			if i+1 < len(q) && q[i+1] == '-' {
				i = skipLine(q, i)
			}
		case '#':
			if i+1 < len(q) && (q[i+1] == ' ' || q[i+1] == '!') {
				i = skipLine(q, i)
			}
		case '/':
			if i+1 < len(q) && q[i+1] == '*' {
				i = skipBlockComment(q, i)
			}
		case '$':
			if i > 0 && isWordByte(q[i-1]) {
				continue // part of an identifier such as a$b
			}
			if end, ok := skipHeredoc(q, i); ok {
				i = end
			}
		}
	}
}

// skipQuoted returns the offset of the closing quote of the literal that
// opens at i, or len(q)-1 when it is unterminated.
func skipQuoted(q string, i int, quote byte) int {
	for j := i + 1; j < len(q); j++ {
		switch q[j] {
		case '\\':
			j++ // the escaped byte, whatever it is
		case quote:
			if j+1 < len(q) && q[j+1] == quote {
				j++ // doubled quote
				continue
			}
			return j
		}
	}
	return len(q) - 1
}

func skipLine(q string, i int) int {
	for j := i; j < len(q); j++ {
		if q[j] == '\n' {
			return j
		}
	}
	return len(q) - 1
}

func skipBlockComment(q string, i int) int {
	depth := 0
	for j := i; j < len(q); j++ {
		switch {
		case q[j] == '/' && j+1 < len(q) && q[j+1] == '*':
			depth++
			j++
		case q[j] == '*' && j+1 < len(q) && q[j+1] == '/':
			depth--
			j++
			if depth == 0 {
				return j
			}
		}
	}
	return len(q) - 1
}

// skipHeredoc recognizes $tag$ ... $tag$ starting at i. A lone $ that does
// not open a heredoc is not special.
func skipHeredoc(q string, i int) (int, bool) {
	j := i + 1
	for j < len(q) && isWordByte(q[j]) {
		j++
	}
	if j >= len(q) || q[j] != '$' {
		return i, false
	}
	tag := q[i : j+1]
	for k := j + 1; k+len(tag) <= len(q); k++ {
		if q[k:k+len(tag)] == tag {
			return k + len(tag) - 1, true
		}
	}
	return len(q) - 1, true
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
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
