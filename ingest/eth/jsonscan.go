package eth

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// scanner walks JSON text in place: values come back as sub-slices of the
// input, nothing is copied and nothing is decoded that the caller does not
// ask for. It exists because a block's replies are large (a mainnet block
// with its receipts is a few MB) and encoding/json validates every nested
// json.Unmarshaler's text again at each level, which made JSON most of the
// cost of checking a block.
//
// Everything it skips is still validated as JSON (strings, numbers,
// literals, nesting), so a malformed reply stays an error. Strings it
// returns for decoding (keys, hex values) must not hold escapes: no node
// escapes a hex string or a field name, and refusing them keeps every
// string the decoder compares byte for byte what the node sent.
type scanner struct {
	b []byte
	i int
}

// maxJSONDepth bounds the nesting of skipped values.
const maxJSONDepth = 512

var errJSONEnd = errors.New("unexpected end of JSON")

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("JSON at offset %d: %s", s.i, fmt.Sprintf(format, args...))
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scanner) expect(c byte) error {
	s.ws()
	if s.i >= len(s.b) {
		return s.errorf("%v, want %q", errJSONEnd, c)
	}
	if s.b[s.i] != c {
		return s.errorf("got %q, want %q", s.b[s.i], c)
	}
	s.i++
	return nil
}

// end checks that only white space follows.
func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return s.errorf("data after the value")
	}
	return nil
}

// null consumes a null literal if one is next.
func (s *scanner) null() bool {
	s.ws()
	if bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return true
	}
	return false
}

// str reads a string without escapes and returns its contents.
func (s *scanner) str() ([]byte, error) {
	if err := s.expect('"'); err != nil {
		return nil, err
	}
	start := s.i
	s.plainRun()
	if s.i >= len(s.b) {
		return nil, s.errorf("%v in a string", errJSONEnd)
	}
	switch s.b[s.i] {
	case '"':
		s.i++
		return s.b[start : s.i-1], nil
	case '\\':
		return nil, s.errorf("escaped string where a plain one is expected")
	}
	return nil, s.errorf("control character in a string")
}

// plainRun advances over bytes that stand for themselves in a string,
// eight at a time while no word holds a quote, a backslash or a control
// character (hex strings, most of a reply, are long runs of them).
func (s *scanner) plainRun() {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for s.i+8 <= len(s.b) {
		x := binary.LittleEndian.Uint64(s.b[s.i:])
		q, bs := x^(lo*'"'), x^(lo*'\\')
		if ((x-lo*0x20)&^x|(q-lo)&^q|(bs-lo)&^bs)&hi != 0 {
			break
		}
		s.i += 8
	}
	for s.i < len(s.b) && plain[s.b[s.i]] {
		s.i++
	}
}

// plain marks the bytes a string holds as they are: not the quote, the
// backslash or a control character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipStr skips any valid string, escapes included.
func (s *scanner) skipStr() error {
	if err := s.expect('"'); err != nil {
		return err
	}
	for s.i < len(s.b) {
		s.plainRun()
		if s.i >= len(s.b) {
			break
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return nil
		case c == '\\':
			s.i++
			if s.i >= len(s.b) {
				return s.errorf("%v in a string", errJSONEnd)
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if s.i+5 > len(s.b) {
					return s.errorf("%v in a string", errJSONEnd)
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !isHex(h) {
						return s.errorf("bad \\u escape")
					}
				}
				s.i += 5
			default:
				return s.errorf("bad escape \\%c", s.b[s.i])
			}
		case c < 0x20:
			return s.errorf("control character in a string")
		default:
			s.i++
		}
	}
	return s.errorf("%v in a string", errJSONEnd)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// skipNumber skips a number as RFC 8259 spells it.
func (s *scanner) skipNumber() error {
	digits := func() int {
		n := 0
		for s.i < len(s.b) && isDigit(s.b[s.i]) {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return s.errorf("bad number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return s.errorf("bad number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return s.errorf("bad number")
		}
	}
	return nil
}

// skip skips one value of any kind, checking that it is valid JSON.
func (s *scanner) skip() error { return s.skipDepth(0) }

func (s *scanner) skipDepth(depth int) error {
	if depth > maxJSONDepth {
		return s.errorf("nested deeper than %d", maxJSONDepth)
	}
	switch c := s.peek(); c {
	case 0:
		return s.errorf("%v, want a value", errJSONEnd)
	case '"':
		return s.skipStr()
	case '{':
		return s.object(func([]byte) error { return s.skipDepth(depth + 1) })
	case '[':
		return s.array(func(int) error { return s.skipDepth(depth + 1) })
	case 't', 'f', 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
				s.i += len(lit)
				return nil
			}
		}
		return s.errorf("bad literal")
	default:
		if c == '-' || isDigit(c) {
			return s.skipNumber()
		}
		return s.errorf("unexpected %q", c)
	}
}

// raw skips one value and returns its text.
func (s *scanner) raw() ([]byte, error) {
	s.ws()
	start := s.i
	if err := s.skip(); err != nil {
		return nil, err
	}
	return s.b[start:s.i], nil
}

// object calls field for each member of an object, positioned at the
// member's value, which field must consume.
func (s *scanner) object(field func(key []byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		key, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		case 0:
			return s.errorf("%v in an object", errJSONEnd)
		default:
			return s.errorf("got %q, want ',' or '}'", s.b[s.i])
		}
	}
}

// array calls elem for each element of an array, positioned at the
// element, which elem must consume.
func (s *scanner) array(elem func(i int) error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for n := 0; ; n++ {
		if err := elem(n); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		case 0:
			return s.errorf("%v in an array", errJSONEnd)
		default:
			return s.errorf("got %q, want ',' or ']'", s.b[s.i])
		}
	}
}

// seen records which fields of an object were read, so that a field given
// twice is an error instead of one of its values silently winning.
type seen uint64

func (f *seen) once(bit uint, key []byte) error {
	if *f&(1<<bit) != 0 {
		return fmt.Errorf("field %q given twice", key)
	}
	*f |= 1 << bit
	return nil
}

func (f seen) has(bit uint) bool { return f&(1<<bit) != 0 }
