package labels

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Label ties an address (or a cluster) to an entity and a category, with
// its provenance.
type Label struct {
	Chain string `json:"chain"`
	// Address is canonical for Chain (see CanonicalAddress); empty when the
	// label names a cluster.
	Address string `json:"address,omitempty"`
	// Cluster is the clusterer's cluster id (decimal) when the label names a
	// cluster rather than an address.
	Cluster  string `json:"cluster,omitempty"`
	Entity   string `json:"entity"`
	Category string `json:"category"`
	// Source names the list the label came from (the import's --source):
	// a newer import of the same source supersedes the older one.
	Source string `json:"source"`
	// Reference is where the attribution comes from as the input says it
	// (a TagPack tag's source URL, the CSV's source column, the OFAC entry).
	Reference  string `json:"reference,omitempty"`
	Confidence uint8  `json:"confidence"`
	// KnownSince is the date the attribution became known: from the input
	// when it says (TagPack lastmod, OFAC XML listing date, CSV column),
	// else the first import of the source that held it.
	KnownSince time.Time `json:"known_since"`
	AddedBy    string    `json:"added_by,omitempty"`
	// Program is the OFAC sanctions program(s), e.g. SDNTK.
	Program string `json:"program,omitempty"`
	// Asset is the ticker the input filed the address under (XBT, USDT...).
	Asset string `json:"asset,omitempty"`
	// ApplyToCluster: the attribution extends to the address's cluster
	// (TagPack is_cluster_definer).
	ApplyToCluster bool `json:"apply_to_cluster"`
	// Origin is file:line and the entry's id in the input; Raw the text the
	// label was read from.
	Origin string `json:"origin"`
	Raw    string `json:"raw,omitempty"`

	// Set when read from the store.
	ImportID  string    `json:"import_id,omitempty"`
	ValidFrom time.Time `json:"valid_from,omitzero"`
}

// Subject is the address, or cluster:ID.
func (l *Label) Subject() string {
	if l.Cluster != "" {
		return ClusterPrefix + l.Cluster
	}
	return l.Address
}

// key identifies a label within one import.
func (l *Label) key() string {
	return l.Chain + "\x00" + l.Address + "\x00" + l.Cluster + "\x00" + l.Entity + "\x00" + l.Asset
}

// Built-in categories. Configuration (labels.categories) may add more.
const (
	CategoryPrecursorBroker = "precursor-broker"
	CategoryCartel          = "cartel"
	CategoryExchange        = "exchange"
	CategoryMixer           = "mixer"
	CategorySanctioned      = "sanctioned"
	CategoryDarknetMarket   = "darknet-market"
	CategoryOther           = "other"
)

// BuiltinCategories are always known.
var BuiltinCategories = []string{
	CategoryPrecursorBroker, CategoryCartel, CategoryExchange, CategoryMixer,
	CategorySanctioned, CategoryDarknetMarket, CategoryOther,
}

// Categories is the set of known categories.
type Categories struct{ names []string }

// NewCategories returns the built-in categories plus extra ones. A name
// is lower case letters, digits and '-'.
func NewCategories(extra ...string) (*Categories, error) {
	c := &Categories{names: slices.Clone(BuiltinCategories)}
	for _, e := range extra {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !validCategoryName(e) {
			return nil, fmt.Errorf("labels: category %q: use lower-case letters, digits and '-'", e)
		}
		if !slices.Contains(c.names, e) {
			c.names = append(c.names, e)
		}
	}
	return c, nil
}

func validCategoryName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// Has reports whether name is a known category.
func (c *Categories) Has(name string) bool { return slices.Contains(c.names, name) }

// Names lists the known categories.
func (c *Categories) Names() []string { return slices.Clone(c.names) }

// Check returns an error naming the known categories when name is unknown.
func (c *Categories) Check(name string) error {
	if c.Has(name) {
		return nil
	}
	return fmt.Errorf("unknown category %q (known: %s; add more under labels.categories)", name, strings.Join(c.names, ", "))
}

// Formats of the importers.
const (
	FormatOFACCSV = "ofac-csv"
	FormatOFACXML = "ofac-xml"
	FormatTagPack = "tagpack"
	FormatCSV     = "csv"
)

// Formats lists the importers.
var Formats = []string{FormatOFACCSV, FormatOFACXML, FormatTagPack, FormatCSV}

// File is one input file, read whole: nothing is imported until every
// file has been parsed and checked.
type File struct {
	Name string
	Data []byte
}

// Options shape an import.
type Options struct {
	// Source names the list; see DefaultSource.
	Source  string
	AddedBy string
	// Category, when set, replaces every label's category (for instance an
	// investigator's TagPack of brokers imported as precursor-broker).
	Category string
	// Categories known; nil means the built-in ones.
	Categories *Categories
	// OFACConfidence is the confidence given to OFAC entries (0 means
	// DefaultOFACConfidence).
	OFACConfidence uint8
}

// DefaultOFACConfidence: OFAC's designation is authoritative as to what
// the list says, but the address-to-entity link is OFAC's finding, not a
// proven key ownership (100 in GraphSense's scale).
const DefaultOFACConfidence = 90

// DefaultSource is the source name an import gets without --source: the
// OFAC formats are one list ("ofac-sdn"); a TagPack or CSV file is its own
// list, named by format and file name without extension ("tagpack:ofac").
func DefaultSource(format string, files []string) string {
	switch format {
	case FormatOFACCSV, FormatOFACXML:
		return "ofac-sdn"
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
	}
	return format + ":" + strings.Join(names, "+")
}

// Issue is one entry that was not imported, or imported with a caveat.
type Issue struct {
	File   string `json:"file"`
	Line   int    `json:"line,omitempty"`
	Entity string `json:"entity,omitempty"`
	Value  string `json:"value,omitempty"`
	Reason string `json:"reason"`
}

func (i Issue) String() string {
	var b strings.Builder
	b.WriteString(i.File)
	if i.Line > 0 {
		fmt.Fprintf(&b, ":%d", i.Line)
	}
	if i.Entity != "" {
		fmt.Fprintf(&b, " (%s)", i.Entity)
	}
	if i.Value != "" {
		fmt.Fprintf(&b, " %q", i.Value)
	}
	b.WriteString(": ")
	b.WriteString(i.Reason)
	return b.String()
}

// Report says what an import did with every entry it read.
type Report struct {
	Format   string `json:"format"`
	Source   string `json:"source"`
	Imported int    `json:"imported"`
	// Skipped: entries deliberately not imported (an asset on a chain the
	// tracer does not follow, a duplicate).
	Skipped []Issue `json:"skipped,omitempty"`
	// Invalid: addresses that do not parse for their chain, or cut off.
	Invalid []Issue `json:"invalid,omitempty"`
	// Warnings: imported, but worth a look (a TRON address under XBT).
	Warnings []Issue `json:"warnings,omitempty"`
}

// Import is the parsed, checked content of one import, ready to store.
type Import struct {
	Format string
	Source string
	Files  []string
	// Hash identifies the content: format, options that shape the labels,
	// and every file's bytes.
	Hash   string
	Labels []Label
	Report Report
}

// ErrFormat is wrapped by errors about the input's form.
var ErrFormat = errors.New("labels: bad input")

// Parse reads files in format and returns the labels with a report. Any
// error means nothing of the files may be imported.
func Parse(format string, files []File, opt Options) (*Import, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("labels: no input files")
	}
	if opt.Categories == nil {
		opt.Categories, _ = NewCategories()
	}
	if opt.Category != "" {
		if err := opt.Categories.Check(opt.Category); err != nil {
			return nil, fmt.Errorf("labels: --category: %w", err)
		}
	}
	if opt.OFACConfidence == 0 {
		opt.OFACConfidence = DefaultOFACConfidence
	}
	if opt.OFACConfidence > 100 {
		return nil, fmt.Errorf("labels: OFAC confidence %d out of range 0-100", opt.OFACConfidence)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name
	}
	if opt.Source == "" {
		opt.Source = DefaultSource(format, names)
	}
	imp := &Import{Format: format, Source: opt.Source, Files: names}
	imp.Report.Format, imp.Report.Source = format, opt.Source
	var err error
	switch format {
	case FormatOFACCSV:
		err = parseOFACCSV(imp, files, opt)
	case FormatOFACXML:
		err = parseOFACXML(imp, files, opt)
	case FormatTagPack:
		err = parseTagPacks(imp, files, opt)
	case FormatCSV:
		err = parseCSV(imp, files, opt)
	default:
		return nil, fmt.Errorf("labels: unknown format %q (want %s)", format, strings.Join(Formats, ", "))
	}
	if err != nil {
		return nil, err
	}
	for i := range imp.Labels {
		l := &imp.Labels[i]
		l.Source = opt.Source
		if opt.AddedBy != "" && l.AddedBy == "" {
			l.AddedBy = opt.AddedBy
		}
		if opt.Category != "" {
			l.Category = opt.Category
		}
	}
	imp.dedupe()
	imp.Report.Imported = len(imp.Labels)
	imp.Hash = contentHash(format, opt, files)
	return imp, nil
}

// dedupe keeps the first of labels that say the same thing twice (an
// address listed twice for one entity and asset).
func (imp *Import) dedupe() {
	seen := make(map[string]bool, len(imp.Labels))
	out := imp.Labels[:0]
	for _, l := range imp.Labels {
		k := l.key()
		if seen[k] {
			file, line := originPos(l.Origin)
			imp.Report.Skipped = append(imp.Report.Skipped, Issue{File: file, Line: line, Entity: l.Entity, Value: l.Subject(), Reason: "duplicate of an earlier entry for the same entity and asset (" + l.Origin + ")"})
			continue
		}
		seen[k] = true
		out = append(out, l)
	}
	imp.Labels = out
}

func contentHash(format string, opt Options, files []File) string {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field(format)
	field(opt.Category)
	field(fmt.Sprint(opt.OFACConfidence))
	for _, f := range files {
		field(string(f.Data))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// dateOnly truncates t to its UTC day.
func dateOnly(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// originPos reads the file and line at the start of an Origin
// ("file:line ...").
func originPos(origin string) (string, int) {
	pos, _, _ := strings.Cut(origin, " ")
	i := strings.LastIndexByte(pos, ':')
	if i < 0 {
		return pos, 0
	}
	n, err := strconv.Atoi(pos[i+1:])
	if err != nil {
		return pos, 0
	}
	return pos[:i], n
}
