package labels

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CSV columns. The first six are required, in any order, named by the
// header; the others are optional.
var (
	csvRequired = []string{"chain", "address", "entity", "category", "source", "confidence"}
	csvOptional = []string{"known_since", "program", "added_by", "apply_to_cluster", "asset"}
)

// LineError is a bad line of an input file: nothing of the file is
// imported.
type LineError struct {
	File   string
	Line   int
	Column string
	Value  string
	Err    error
}

func (e *LineError) Error() string {
	col := ""
	if e.Column != "" {
		col = " column " + e.Column
	}
	return fmt.Sprintf("%s:%d:%s %q: %v (nothing of %s was imported)", e.File, e.Line, col, clip(e.Value), e.Err, e.File)
}

func (e *LineError) Unwrap() error { return e.Err }

// parseCSV reads the plain CSV format. Every line must be valid: a bad
// line is an error naming file, line and value, and nothing is imported.
func parseCSV(imp *Import, files []File, opt Options) error {
	for _, f := range files {
		if err := parseCSVFile(imp, f, opt); err != nil {
			return err
		}
	}
	return nil
}

func parseCSVFile(imp *Import, f File, opt Options) error {
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(decodeText(f.Data), "\ufeff")))
	r.FieldsPerRecord = -1
	r.Comment = '#'
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %s: empty file; the first line must be the header %s", ErrFormat, f.Name, strings.Join(csvRequired, ","))
	}
	if err != nil {
		return csvReadError(f.Name, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(csvRequired, h) && !slices.Contains(csvOptional, h) {
			return &LineError{File: f.Name, Line: 1, Value: h, Err: fmt.Errorf("%w: unknown column (want %s, optionally %s)", ErrFormat, strings.Join(csvRequired, ","), strings.Join(csvOptional, ","))}
		}
		if _, dup := col[h]; dup {
			return &LineError{File: f.Name, Line: 1, Value: h, Err: fmt.Errorf("%w: column named twice", ErrFormat)}
		}
		col[h] = i
	}
	for _, h := range csvRequired {
		if _, ok := col[h]; !ok {
			return &LineError{File: f.Name, Line: 1, Value: strings.Join(header, ","), Err: fmt.Errorf("%w: header lacks column %q (want %s)", ErrFormat, h, strings.Join(csvRequired, ","))}
		}
	}
	var out []Label
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return csvReadError(f.Name, err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) != len(header) {
			return &LineError{File: f.Name, Line: line, Value: strings.Join(rec, ","), Err: fmt.Errorf("%w: %d fields, the header has %d", ErrFormat, len(rec), len(header))}
		}
		get := func(name string) string {
			if i, ok := col[name]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		bad := func(name string, err error) error {
			return &LineError{File: f.Name, Line: line, Column: name, Value: get(name), Err: err}
		}
		l := Label{
			Entity:    get("entity"),
			Reference: get("source"),
			Program:   get("program"),
			AddedBy:   get("added_by"),
			Asset:     strings.ToUpper(get("asset")),
			Origin:    fmt.Sprintf("%s:%d", f.Name, line),
			Raw:       strings.Join(rec, ","),
		}
		if l.Chain, err = ParseChain(get("chain")); err != nil {
			return bad("chain", err)
		}
		subject := get("address")
		id, isCluster, err := ParseCluster(subject)
		switch {
		case err != nil:
			return bad("address", err)
		case isCluster:
			l.Cluster = id
		default:
			if l.Address, err = CanonicalAddress(l.Chain, subject); err != nil {
				return bad("address", err)
			}
		}
		if l.Entity == "" {
			return bad("entity", fmt.Errorf("%w: empty entity", ErrFormat))
		}
		l.Category = strings.ToLower(get("category"))
		if err := opt.Categories.Check(l.Category); err != nil {
			return bad("category", err)
		}
		c, err := strconv.ParseUint(get("confidence"), 10, 8)
		if err != nil || c > 100 {
			return bad("confidence", fmt.Errorf("%w: confidence must be a whole number from 0 to 100", ErrFormat))
		}
		l.Confidence = uint8(c)
		if s := get("known_since"); s != "" {
			t, err := ParseDate(s)
			if err != nil {
				return bad("known_since", err)
			}
			l.KnownSince = t
		}
		if s := get("apply_to_cluster"); s != "" {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return bad("apply_to_cluster", fmt.Errorf("%w: want true or false", ErrFormat))
			}
			l.ApplyToCluster = b
		}
		out = append(out, l)
	}
	imp.Labels = append(imp.Labels, out...)
	return nil
}

func csvReadError(file string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &LineError{File: file, Line: pe.StartLine, Err: fmt.Errorf("%w: %v", ErrFormat, pe.Err)}
	}
	return fmt.Errorf("%w: %s: %v", ErrFormat, file, err)
}

// ParseDate reads a date as 2006-01-02 or an RFC 3339 time, in UTC.
func ParseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%w: date %q: want YYYY-MM-DD or an RFC 3339 time", ErrFormat, clip(s))
}
