package chdb

import (
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"reflect"
	"strings"
	"time"

	"github.com/tracerproject/tracer/store"
)

// resultFormat is what queries ask chDB for. RowBinary is exact (no text
// round trip for floats, strings with any bytes, Decimal(38, 0)), cheap to
// decode, and the names-and-types header tells Scan what each column is.
const resultFormat = "RowBinaryWithNamesAndTypes"

var _ store.Rows = (*Rows)(nil)

// Rows iterates over a query's result, decoding RowBinary in place.
type Rows struct {
	data   []byte
	off    int
	names  []string
	types  []*colType
	vals   [][]byte // the current row's value of each column, raw
	row    int
	err    error
	closed bool
}

// newRows reads the header of a RowBinaryWithNamesAndTypes result: the
// column count, the names, then the types.
func newRows(data []byte) (*Rows, error) {
	r := &Rows{data: data}
	if len(data) == 0 {
		return r, nil // a statement without a result set
	}
	n, off, err := uvarint(data, 0)
	if err != nil || n > uint64(len(data)) {
		return nil, fmt.Errorf("chdb: bad result header: column count: %v", err)
	}
	r.names = make([]string, n)
	r.types = make([]*colType, n)
	r.vals = make([][]byte, n)
	for i := range r.names {
		var s []byte
		if s, off, err = readString(data, off); err != nil {
			return nil, fmt.Errorf("chdb: bad result header: column name: %w", err)
		}
		r.names[i] = string(s)
	}
	for i := range r.types {
		var s []byte
		if s, off, err = readString(data, off); err != nil {
			return nil, fmt.Errorf("chdb: bad result header: column type: %w", err)
		}
		if r.types[i], err = parseType(string(s)); err != nil {
			return nil, fmt.Errorf("chdb: column %s: %w", r.names[i], err)
		}
	}
	r.off = off
	return r, nil
}

// Columns returns the column names.
func (r *Rows) Columns() []string { return r.names }

// ColumnTypes returns the column types as the engine names them.
func (r *Rows) ColumnTypes() []string {
	ts := make([]string, len(r.types))
	for i, t := range r.types {
		ts[i] = t.name
	}
	return ts
}

// Next advances to the next row.
func (r *Rows) Next() bool {
	if r.closed || r.err != nil || r.off >= len(r.data) || len(r.types) == 0 {
		return false
	}
	start := r.off
	for i, t := range r.types {
		end, err := skipValue(r.data, r.off, t, 0)
		if err != nil {
			r.err = fmt.Errorf("chdb: decoding row %d, column %s %s: %w", r.row+1, r.names[i], t.name, err)
			return false
		}
		r.vals[i] = r.data[r.off:end]
		r.off = end
	}
	if r.off == start {
		// Every column is zero bytes wide (Nothing, Tuple()): RowBinary
		// does not say how many such rows there are.
		r.err = errors.New("chdb: cannot count rows whose columns are all zero bytes wide")
		return false
	}
	r.row++
	return true
}

// Scan copies the current row into dest, one pointer per column. The Go
// type must match the column type as clickhouse-go demands it (UInt32 into
// *uint32, not *uint64), so code that works here works on a server too,
// with these extras: *int takes any integer column whose value fits, *bool
// takes UInt8 as well as Bool, and *string takes Decimal (e.g. wei in
// Decimal(38, 0)), big integers, Enum, UUID and IP columns as text.
// **T and *any (nil for NULL) and sql.Scanner work too.
func (r *Rows) Scan(dest ...any) error {
	if r.closed {
		return errors.New("chdb: Scan on closed rows")
	}
	if r.row == 0 || r.err != nil {
		return errors.New("chdb: Scan called without a successful Next")
	}
	if len(dest) != len(r.types) {
		return fmt.Errorf("chdb: Scan: got %d destinations for %d columns", len(dest), len(r.types))
	}
	for i, d := range dest {
		if err := scanValue(r.vals[i], r.types[i], d); err != nil {
			return fmt.Errorf("chdb: Scan column %d (%s %s): %w", i+1, r.names[i], r.types[i].name, err)
		}
	}
	return nil
}

// Err returns the error that ended iteration, if any.
func (r *Rows) Err() error { return r.err }

// Close releases the result.
func (r *Rows) Close() error {
	r.closed = true
	r.data, r.vals = nil, nil
	return nil
}

var (
	errShort  = errors.New("result truncated")
	errVarint = errors.New("bad varint")
)

// maxDepth bounds nesting (Array(Array(...))) while decoding.
const maxDepth = 64

func uvarint(b []byte, off int) (uint64, int, error) {
	v, n := binary.Uvarint(b[off:])
	if n <= 0 {
		return 0, off, errVarint
	}
	return v, off + n, nil
}

func readString(b []byte, off int) ([]byte, int, error) {
	n, off, err := uvarint(b, off)
	if err != nil {
		return nil, off, err
	}
	if n > uint64(len(b)-off) {
		return nil, off, errShort
	}
	end := off + int(n)
	return b[off:end], end, nil
}

// skipValue returns the offset after the value of type t that starts at off.
func skipValue(b []byte, off int, t *colType, depth int) (int, error) {
	if t.size > 0 {
		if len(b)-off < t.size {
			return off, errShort
		}
		return off + t.size, nil
	}
	if depth > maxDepth {
		return off, errors.New("nesting too deep")
	}
	switch t.kind {
	case kString:
		_, end, err := readString(b, off)
		return end, err
	case kNothing:
		// Nothing has no values; it only appears as the NULL of
		// Nullable(Nothing), which writes the flag alone.
		return off, nil
	case kNullable:
		if off >= len(b) {
			return off, errShort
		}
		if b[off] != 0 {
			return off + 1, nil
		}
		return skipValue(b, off+1, t.elem, depth+1)
	case kArray, kMap:
		n, off, err := uvarint(b, off)
		if err != nil {
			return off, err
		}
		if n > uint64(len(b)-off) { // every element takes at least a byte, except Nothing
			if t.kind == kArray && t.elem.kind == kNothing {
				return off, nil
			}
			return off, errShort
		}
		for range n {
			if t.kind == kArray {
				if off, err = skipValue(b, off, t.elem, depth+1); err != nil {
					return off, err
				}
				continue
			}
			for _, e := range t.elems {
				if off, err = skipValue(b, off, e, depth+1); err != nil {
					return off, err
				}
			}
		}
		return off, nil
	case kTuple:
		var err error
		for _, e := range t.elems {
			if off, err = skipValue(b, off, e, depth+1); err != nil {
				return off, err
			}
		}
		return off, nil
	}
	return off, fmt.Errorf("cannot decode %s", t.name)
}

// Little-endian readers; callers have checked the width.
func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// intValue reads an integer column of at most 64 bits, reporting whether
// it is signed.
func intValue(raw []byte, k kind) (u uint64, i int64, signed, ok bool) {
	switch k {
	case kUInt8, kBool:
		return uint64(raw[0]), 0, false, true
	case kUInt16:
		return uint64(le16(raw)), 0, false, true
	case kUInt32:
		return uint64(le32(raw)), 0, false, true
	case kUInt64:
		return le64(raw), 0, false, true
	case kInt8, kEnum8:
		return 0, int64(int8(raw[0])), true, true
	case kInt16, kEnum16:
		return 0, int64(int16(le16(raw))), true, true
	case kInt32:
		return 0, int64(int32(le32(raw))), true, true
	case kInt64:
		return 0, int64(le64(raw)), true, true
	}
	return 0, 0, false, false
}

type mismatchError struct {
	dest any
	want string
}

func (e *mismatchError) Error() string {
	if e.want == "" {
		return fmt.Sprintf("cannot scan into %T", e.dest)
	}
	return fmt.Sprintf("cannot scan into %T, use %s", e.dest, e.want)
}

// goTypeFor names the destination a column type scans into, for errors.
func goTypeFor(t *colType) string {
	switch t.kind {
	case kUInt8:
		return "*uint8 or *bool"
	case kUInt16:
		return "*uint16"
	case kUInt32:
		return "*uint32"
	case kUInt64:
		return "*uint64"
	case kInt8:
		return "*int8"
	case kInt16:
		return "*int16"
	case kInt32:
		return "*int32"
	case kInt64:
		return "*int64"
	case kFloat32:
		return "*float32"
	case kFloat64:
		return "*float64"
	case kBool:
		return "*bool"
	case kString, kFixedString, kDecimal, kUInt128, kUInt256, kInt128, kInt256, kEnum8, kEnum16, kUUID:
		return "*string"
	case kDate, kDate32, kDateTime, kDateTime64:
		return "*time.Time"
	case kNullable:
		return "**" + strings.TrimPrefix(goTypeFor(t.elem), "*")
	}
	return "*any"
}

func scanValue(raw []byte, t *colType, dest any) error {
	if t.kind == kNullable {
		if raw[0] != 0 {
			return scanNull(dest)
		}
		raw, t = raw[1:], t.elem
	}
	switch d := dest.(type) {
	case *string:
		s, ok := textValue(raw, t)
		if !ok {
			return &mismatchError{dest, goTypeFor(t)}
		}
		*d = s
		return nil
	case *[]byte:
		if t.kind != kString && t.kind != kFixedString {
			return &mismatchError{dest, goTypeFor(t)}
		}
		s := stringBytes(raw, t)
		*d = append([]byte(nil), s...)
		return nil
	case *bool:
		if t.kind != kBool && t.kind != kUInt8 {
			return &mismatchError{dest, goTypeFor(t)}
		}
		*d = raw[0] != 0
		return nil
	case *int:
		u, i, signed, ok := intValue(raw, t.kind)
		if !ok || t.kind == kEnum8 || t.kind == kEnum16 || t.kind == kBool {
			return &mismatchError{dest, goTypeFor(t)}
		}
		if !signed {
			if u > math.MaxInt {
				return fmt.Errorf("value %d overflows int", u)
			}
			i = int64(u)
		}
		*d = int(i)
		return nil
	case *time.Time:
		tm, ok := timeValue(raw, t)
		if !ok {
			return &mismatchError{dest, goTypeFor(t)}
		}
		*d = tm
		return nil
	case *any:
		v, err := naturalValue(raw, t, 0)
		if err != nil {
			return err
		}
		*d = v
		return nil
	case sql.Scanner:
		v, err := naturalValue(raw, t, 0)
		if err != nil {
			return err
		}
		return d.Scan(v)
	}
	if ok, err := scanExact(raw, t, dest); ok || err != nil {
		return err
	}
	// **T: allocate the T.
	rv := reflect.ValueOf(dest)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Kind() == reflect.Pointer {
		p := reflect.New(rv.Elem().Type().Elem())
		if err := scanValue(raw, t, p.Interface()); err != nil {
			return err
		}
		rv.Elem().Set(p)
		return nil
	}
	return &mismatchError{dest, goTypeFor(t)}
}

// scanExact fills the destinations whose Go type must match the column
// type exactly.
func scanExact(raw []byte, t *colType, dest any) (bool, error) {
	switch d := dest.(type) {
	case *uint8:
		if t.kind == kUInt8 {
			*d = raw[0]
			return true, nil
		}
	case *uint16:
		if t.kind == kUInt16 {
			*d = le16(raw)
			return true, nil
		}
	case *uint32:
		if t.kind == kUInt32 {
			*d = le32(raw)
			return true, nil
		}
	case *uint64:
		if t.kind == kUInt64 {
			*d = le64(raw)
			return true, nil
		}
	case *int8:
		if t.kind == kInt8 {
			*d = int8(raw[0])
			return true, nil
		}
	case *int16:
		if t.kind == kInt16 {
			*d = int16(le16(raw))
			return true, nil
		}
	case *int32:
		if t.kind == kInt32 {
			*d = int32(le32(raw))
			return true, nil
		}
	case *int64:
		if t.kind == kInt64 {
			*d = int64(le64(raw))
			return true, nil
		}
	case *float32:
		if t.kind == kFloat32 {
			*d = math.Float32frombits(le32(raw))
			return true, nil
		}
	case *float64:
		if t.kind == kFloat64 {
			*d = math.Float64frombits(le64(raw))
			return true, nil
		}
	default:
		return false, nil
	}
	return false, &mismatchError{dest, goTypeFor(t)}
}

// scanNull stores NULL: nil into **T and *any, the zero value into *T.
func scanNull(dest any) error {
	if s, ok := dest.(sql.Scanner); ok {
		return s.Scan(nil)
	}
	rv := reflect.ValueOf(dest)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("cannot scan into %T", dest)
	}
	rv.Elem().SetZero()
	return nil
}

func stringBytes(raw []byte, t *colType) []byte {
	if t.kind == kFixedString {
		return raw
	}
	// The varint length was checked by skipValue.
	_, n := binary.Uvarint(raw)
	return raw[n:]
}

// textValue renders the column types that *string accepts.
func textValue(raw []byte, t *colType) (string, bool) {
	switch t.kind {
	case kString, kFixedString:
		return string(stringBytes(raw, t)), true
	case kDecimal:
		return formatDecimal(bigLE(raw, true), t.scale), true
	case kInt128, kInt256:
		return bigLE(raw, true).String(), true
	case kUInt128, kUInt256:
		return bigLE(raw, false).String(), true
	case kEnum8, kEnum16:
		_, i, _, _ := intValue(raw, t.kind)
		if s, ok := t.enum[int16(i)]; ok {
			return s, true
		}
		return fmt.Sprint(i), true
	case kUUID:
		return formatUUID(raw), true
	case kIPv4, kIPv6:
		return ipValue(raw, t).String(), true
	}
	return "", false
}

func timeValue(raw []byte, t *colType) (time.Time, bool) {
	switch t.kind {
	case kDateTime:
		return time.Unix(int64(le32(raw)), 0).UTC(), true
	case kDate:
		return time.Unix(int64(le16(raw))*86400, 0).UTC(), true
	case kDate32:
		return time.Unix(int64(int32(le32(raw)))*86400, 0).UTC(), true
	case kDateTime64:
		ticks := int64(le64(raw))
		unit := int64(math.Pow10(t.scale))
		sec, frac := ticks/unit, ticks%unit
		if frac < 0 {
			sec, frac = sec-1, frac+unit
		}
		return time.Unix(sec, frac*int64(math.Pow10(9-t.scale))).UTC(), true
	}
	return time.Time{}, false
}

// bigLE reads a little-endian two's complement (or unsigned) integer.
func bigLE(raw []byte, signed bool) *big.Int {
	be := make([]byte, len(raw))
	for i, c := range raw {
		be[len(raw)-1-i] = c
	}
	v := new(big.Int).SetBytes(be)
	if signed && len(raw) > 0 && raw[len(raw)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(raw))))
	}
	return v
}

// formatDecimal writes v·10^-scale as ClickHouse prints it: no trailing
// fractional zeros.
func formatDecimal(v *big.Int, scale int) string {
	s := v.String()
	if scale == 0 {
		return s
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if len(s) <= scale {
		s = strings.Repeat("0", scale-len(s)+1) + s
	}
	intPart, frac := s[:len(s)-scale], strings.TrimRight(s[len(s)-scale:], "0")
	if frac != "" {
		intPart += "." + frac
	}
	if neg {
		return "-" + intPart
	}
	return intPart
}

// formatUUID: RowBinary writes a UUID as two little-endian UInt64, the
// high half first.
func formatUUID(raw []byte) string {
	const hex = "0123456789abcdef"
	var b [36]byte
	j := 0
	for _, half := range [][]byte{raw[:8], raw[8:16]} {
		for i := 7; i >= 0; i-- {
			if j == 8 || j == 13 || j == 18 || j == 23 {
				b[j] = '-'
				j++
			}
			b[j], b[j+1] = hex[half[i]>>4], hex[half[i]&15]
			j += 2
		}
	}
	return string(b[:])
}

func ipValue(raw []byte, t *colType) netip.Addr {
	if t.kind == kIPv4 {
		v := le32(raw)
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	return netip.AddrFrom16([16]byte(raw[:16]))
}

// naturalValue decodes a value into the Go type that *any receives.
func naturalValue(raw []byte, t *colType, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("nesting too deep")
	}
	switch t.kind {
	case kUInt8:
		return raw[0], nil
	case kUInt16:
		return le16(raw), nil
	case kUInt32:
		return le32(raw), nil
	case kUInt64:
		return le64(raw), nil
	case kInt8:
		return int8(raw[0]), nil
	case kInt16:
		return int16(le16(raw)), nil
	case kInt32:
		return int32(le32(raw)), nil
	case kInt64:
		return int64(le64(raw)), nil
	case kInt128, kInt256:
		return bigLE(raw, true), nil
	case kUInt128, kUInt256:
		return bigLE(raw, false), nil
	case kFloat32:
		return math.Float32frombits(le32(raw)), nil
	case kFloat64:
		return math.Float64frombits(le64(raw)), nil
	case kBool:
		return raw[0] != 0, nil
	case kDate, kDate32, kDateTime, kDateTime64:
		tm, _ := timeValue(raw, t)
		return tm, nil
	case kIPv4, kIPv6:
		return ipValue(raw, t), nil
	case kString, kFixedString, kDecimal, kEnum8, kEnum16, kUUID:
		s, _ := textValue(raw, t)
		return s, nil
	case kNothing:
		return nil, nil
	case kNullable:
		if raw[0] != 0 {
			return nil, nil
		}
		return naturalValue(raw[1:], t.elem, depth+1)
	case kArray, kTuple, kMap:
		return compositeValue(raw, t, depth)
	}
	return nil, fmt.Errorf("cannot decode %s", t.name)
}

// compositeValue decodes an Array or Tuple into []any and a Map into
// map[any]any (ClickHouse map keys are scalars, so comparable).
func compositeValue(raw []byte, t *colType, depth int) (any, error) {
	off := 0
	next := func(et *colType) (any, error) {
		end, err := skipValue(raw, off, et, depth+1)
		if err != nil {
			return nil, err
		}
		v, err := naturalValue(raw[off:end], et, depth+1)
		off = end
		return v, err
	}
	if t.kind == kTuple {
		out := make([]any, len(t.elems))
		for i, et := range t.elems {
			var err error
			if out[i], err = next(et); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	n, o, err := uvarint(raw, 0)
	if err != nil {
		return nil, err
	}
	off = o
	if t.kind == kArray {
		out := make([]any, 0, min(n, uint64(len(raw))))
		for range n {
			v, err := next(t.elem)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	out := make(map[any]any, min(n, uint64(len(raw))))
	for range n {
		k, err := next(t.elems[0])
		if err != nil {
			return nil, err
		}
		v, err := next(t.elems[1])
		if err != nil {
			return nil, err
		}
		if k != nil && !reflect.TypeOf(k).Comparable() {
			return nil, fmt.Errorf("map key of type %T", k)
		}
		out[k] = v
	}
	return out, nil
}
