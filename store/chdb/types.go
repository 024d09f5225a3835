package chdb

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tracerproject/tracer/store/sqltext"
)

// kind is a ClickHouse type as far as RowBinary decoding cares.
type kind uint8

const (
	kUInt8 kind = iota + 1
	kUInt16
	kUInt32
	kUInt64
	kUInt128
	kUInt256
	kInt8
	kInt16
	kInt32
	kInt64
	kInt128
	kInt256
	kFloat32
	kFloat64
	kBool
	kString
	kFixedString
	kDate
	kDate32
	kDateTime
	kDateTime64
	kDecimal
	kUUID
	kIPv4
	kIPv6
	kEnum8
	kEnum16
	kNothing
	kNullable
	kArray
	kTuple
	kMap
)

// colType is a parsed column type.
type colType struct {
	name  string // as the engine spelled it, for messages
	kind  kind
	size  int // byte width of a fixed-width value, 0 when variable
	scale int // Decimal scale, DateTime64 precision
	elem  *colType
	elems []*colType // Tuple elements; Map key and value
	enum  map[int16]string
}

// parseType parses a type name as RowBinaryWithNamesAndTypes writes it,
// e.g. "Nullable(Decimal(38, 0))" or "DateTime('UTC')".
func parseType(s string) (*colType, error) {
	p := typeParser{s: s}
	t, err := p.parse()
	if err != nil {
		return nil, fmt.Errorf("type %q: %w", s, err)
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("type %q: trailing text at %d", s, p.i)
	}
	return t, nil
}

type typeParser struct {
	s     string
	i     int
	depth int
}

func (p *typeParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *typeParser) ident() string {
	p.space()
	st := p.i
	for p.i < len(p.s) && sqltext.IsWordByte(p.s[p.i]) {
		p.i++
	}
	return p.s[st:p.i]
}

func (p *typeParser) peek(c byte) bool {
	p.space()
	return p.i < len(p.s) && p.s[p.i] == c
}

func (p *typeParser) expect(c byte) error {
	if !p.peek(c) {
		return fmt.Errorf("want %q at %d", c, p.i)
	}
	p.i++
	return nil
}

// rawArgs returns the text of each top-level argument between the
// parentheses that follow, for parameters that are not types (numbers,
// quoted strings, enum members).
func (p *typeParser) rawArgs() ([]string, error) {
	if err := p.expect('('); err != nil {
		return nil, err
	}
	var args []string
	depth, st := 0, p.i
	for ; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; c {
		case '\'':
			p.i = sqltext.SkipQuoted(p.s, p.i, '\'')
		case '(':
			depth++
		case ')':
			if depth == 0 {
				args = append(args, strings.TrimSpace(p.s[st:p.i]))
				p.i++
				return args, nil
			}
			depth--
		case ',':
			if depth == 0 {
				args = append(args, strings.TrimSpace(p.s[st:p.i]))
				st = p.i + 1
			}
		}
	}
	return nil, fmt.Errorf("unclosed parenthesis")
}

// typeArgs parses a parenthesised list of types; named tuple elements
// ("a UInt8") are accepted and the names dropped.
func (p *typeParser) typeArgs() ([]*colType, error) {
	if err := p.expect('('); err != nil {
		return nil, err
	}
	var ts []*colType
	for {
		save := p.i
		// A named element: an identifier followed by another identifier.
		if name := p.ident(); name != "" {
			p.space()
			if p.i < len(p.s) && sqltext.IsWordByte(p.s[p.i]) {
				// name then type
			} else {
				p.i = save
			}
		}
		t, err := p.parse()
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
		if p.peek(',') {
			p.i++
			continue
		}
		if err := p.expect(')'); err != nil {
			return nil, err
		}
		return ts, nil
	}
}

func (p *typeParser) parse() (*colType, error) {
	if p.depth++; p.depth > maxDepth {
		return nil, errors.New("nesting too deep")
	}
	defer func() { p.depth-- }()
	st := p.i
	name := p.ident()
	t := &colType{}
	fixed := func(k kind, size int) { t.kind, t.size = k, size }
	switch name {
	case "UInt8":
		fixed(kUInt8, 1)
	case "UInt16":
		fixed(kUInt16, 2)
	case "UInt32":
		fixed(kUInt32, 4)
	case "UInt64":
		fixed(kUInt64, 8)
	case "UInt128":
		fixed(kUInt128, 16)
	case "UInt256":
		fixed(kUInt256, 32)
	case "Int8":
		fixed(kInt8, 1)
	case "Int16":
		fixed(kInt16, 2)
	case "Int32":
		fixed(kInt32, 4)
	case "Int64":
		fixed(kInt64, 8)
	case "Int128":
		fixed(kInt128, 16)
	case "Int256":
		fixed(kInt256, 32)
	case "Float32":
		fixed(kFloat32, 4)
	case "Float64":
		fixed(kFloat64, 8)
	case "Bool":
		fixed(kBool, 1)
	case "String":
		t.kind = kString
	case "Date":
		fixed(kDate, 2)
	case "Date32":
		fixed(kDate32, 4)
	case "UUID":
		fixed(kUUID, 16)
	case "IPv4":
		fixed(kIPv4, 4)
	case "IPv6":
		fixed(kIPv6, 16)
	case "Nothing":
		t.kind = kNothing
	case "DateTime":
		fixed(kDateTime, 4)
		if p.peek('(') { // time zone
			if _, err := p.rawArgs(); err != nil {
				return nil, err
			}
		}
	case "DateTime64":
		fixed(kDateTime64, 8)
		args, err := p.rawArgs()
		if err != nil {
			return nil, err
		}
		if t.scale, err = strconv.Atoi(args[0]); err != nil || t.scale < 0 || t.scale > 9 {
			return nil, fmt.Errorf("bad DateTime64 precision %q", args[0])
		}
	case "FixedString":
		args, err := p.rawArgs()
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n <= 0 || len(args) != 1 {
			return nil, fmt.Errorf("bad FixedString size %q", args[0])
		}
		fixed(kFixedString, n)
	case "Decimal", "Decimal32", "Decimal64", "Decimal128", "Decimal256":
		args, err := p.rawArgs()
		if err != nil {
			return nil, err
		}
		var prec, scale int
		switch {
		case name == "Decimal" && len(args) == 2:
			prec, err = strconv.Atoi(args[0])
			if err == nil {
				scale, err = strconv.Atoi(args[1])
			}
		case name != "Decimal" && len(args) == 1:
			prec = map[string]int{"Decimal32": 9, "Decimal64": 18, "Decimal128": 38, "Decimal256": 76}[name]
			scale, err = strconv.Atoi(args[0])
		default:
			err = fmt.Errorf("want precision and scale")
		}
		if err != nil || prec < 1 || prec > 76 || scale < 0 || scale > prec {
			return nil, fmt.Errorf("bad %s parameters %v", name, args)
		}
		t.kind, t.scale = kDecimal, scale
		switch {
		case prec <= 9:
			t.size = 4
		case prec <= 18:
			t.size = 8
		case prec <= 38:
			t.size = 16
		default:
			t.size = 32
		}
	case "Enum8", "Enum16":
		args, err := p.rawArgs()
		if err != nil {
			return nil, err
		}
		if name == "Enum8" {
			fixed(kEnum8, 1)
		} else {
			fixed(kEnum16, 2)
		}
		t.enum = make(map[int16]string, len(args))
		for _, a := range args {
			eq := strings.LastIndexByte(a, '=')
			if eq < 0 || len(a) < 2 || a[0] != '\'' {
				return nil, fmt.Errorf("bad enum member %q", a)
			}
			v, err := strconv.ParseInt(strings.TrimSpace(a[eq+1:]), 10, 16)
			if err != nil {
				return nil, fmt.Errorf("bad enum member %q", a)
			}
			lit := strings.TrimSpace(a[:eq])
			s, err := unquote(lit)
			if err != nil {
				return nil, fmt.Errorf("bad enum member %q: %w", a, err)
			}
			t.enum[int16(v)] = s
		}
	case "Nullable", "LowCardinality", "Array":
		args, err := p.typeArgs()
		if err != nil {
			return nil, err
		}
		if len(args) != 1 {
			return nil, fmt.Errorf("%s takes one type", name)
		}
		if name == "LowCardinality" {
			// RowBinary writes the dictionary-encoded type as its values.
			t = args[0]
			break
		}
		t.elem = args[0]
		t.kind = map[string]kind{"Nullable": kNullable, "Array": kArray}[name]
	case "Tuple", "Map":
		args, err := p.typeArgs()
		if err != nil {
			return nil, err
		}
		if name == "Map" && len(args) != 2 {
			return nil, fmt.Errorf("Map takes two types")
		}
		t.elems = args
		t.kind = map[string]kind{"Tuple": kTuple, "Map": kMap}[name]
	case "":
		return nil, fmt.Errorf("want a type name at %d", p.i)
	default:
		return nil, fmt.Errorf("unsupported type %s (cast it in the query, e.g. toString(x))", name)
	}
	t.name = strings.TrimSpace(p.s[st:p.i])
	return t, nil
}

// unquote decodes a ClickHouse single-quoted string literal.
func unquote(lit string) (string, error) {
	if len(lit) < 2 || lit[0] != '\'' || lit[len(lit)-1] != '\'' {
		return "", fmt.Errorf("not a quoted string")
	}
	body := lit[1 : len(lit)-1]
	if !strings.ContainsAny(body, `\'`) {
		return body, nil
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\'' && i+1 < len(body) && body[i+1] == '\'':
			b.WriteByte('\'')
			i++
		case c == '\\' && i+1 < len(body):
			i++
			switch e := body[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '0':
				b.WriteByte(0)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'a':
				b.WriteByte('\a')
			case 'v':
				b.WriteByte('\v')
			case 'e':
				b.WriteByte(0x1b)
			case 'x':
				if i+2 < len(body) {
					v, err := strconv.ParseUint(body[i+1:i+3], 16, 8)
					if err == nil {
						b.WriteByte(byte(v))
						i += 2
						continue
					}
				}
				b.WriteString(`\x`)
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
