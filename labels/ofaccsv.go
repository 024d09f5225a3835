package labels

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/tracerproject/tracer/chain"
)

// RemarksLimit is where OFAC cuts SDN.CSV remarks; the rest goes to
// SDN_COMMENTS.CSV under the same entity number.
const RemarksLimit = 1000

// dcaMarker introduces a digital currency address in SDN remarks and names
// the feature type in the advanced XML.
const dcaMarker = "Digital Currency Address - "

// remarkItem is one "Digital Currency Address - ASSET ADDR" item of the
// remarks, with its byte offsets in the remarks text.
type remarkItem struct {
	Asset   string
	Address string
	Raw     string // the item as written, trimmed
	Start   int    // byte offsets of the item in the remarks
	End     int
	// Open: the item is the last one and is not closed by ';' or the final
	// '.', so a cut could have fallen inside it.
	Open bool
}

// parseRemarks finds the digital currency address items in SDN remarks.
// Items are separated by ';' (addresses never contain one); the remarks
// end with '.'. An item reads "[alt. ]Digital Currency Address - ASSET
// ADDR"; an item that names the marker but no address yields Address "".
func parseRemarks(s string) []remarkItem {
	var out []remarkItem
	start := 0
	for start <= len(s) {
		end := strings.IndexByte(s[start:], ';')
		closed := end >= 0
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		item := s[start:end]
		if i := strings.Index(item, dcaMarker); i >= 0 {
			rest := item[i+len(dcaMarker):]
			asset, addr, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
			addr = strings.TrimSpace(addr)
			if f := strings.Fields(addr); len(f) > 0 {
				addr = f[0]
			}
			last := !closed
			if last && strings.HasSuffix(strings.TrimRight(item, " "), ".") {
				// The remarks' final full stop closes the last item.
				closed = true
				addr = strings.TrimSuffix(addr, ".")
			}
			out = append(out, remarkItem{
				Asset:   strings.TrimSpace(asset),
				Address: addr,
				Raw:     strings.TrimSpace(item),
				Start:   start,
				End:     end,
				Open:    last && !closed,
			})
		}
		if !closed || end == len(s) {
			break
		}
		start = end + 1
	}
	return out
}

// assetChain maps an OFAC asset ticker to the chain it names, "" for an
// asset whose chain follows from the address's form (stablecoins issued on
// several chains), or ok=false for an asset on a chain the tracer does not
// follow.
func assetChain(asset string) (chainName string, ok bool) {
	switch strings.ToUpper(asset) {
	case "XBT", "BTC":
		return chain.BTC, true
	case "ETH":
		return chain.ETH, true
	case "TRX":
		return chain.TRON, true
	case "USDT", "USDC":
		return "", true
	}
	return "", false
}

// resolveAddress decides the chain of addr filed under asset: the asset's
// chain when the address parses for it; for USDT/USDC the chain whose form
// the address has; an address of another followed chain's form is taken
// on that chain with a warning (the real list has a TRON address under
// XBT). It returns skip when the asset's chain is not followed, or when a
// USDT/USDC address has the form of none of the followed chains.
func resolveAddress(asset, addr string) (chain, canon, warning string, skip bool, err error) {
	want, ok := assetChain(asset)
	if !ok {
		return "", "", "", true, nil
	}
	if want != "" {
		canon, err = CanonicalAddress(want, addr)
		if err == nil {
			return want, canon, "", false, nil
		}
	}
	if got := GuessChain(addr); got != "" {
		canon, _ = CanonicalAddress(got, addr)
		if want != "" {
			warning = fmt.Sprintf("a %s address filed under %s: labelled on %s, the chain its form shows", got, asset, got)
		}
		return got, canon, warning, false, nil
	}
	if err == nil {
		// A multi-chain asset (USDT is issued on a dozen chains): an
		// address of no followed chain's form is on another chain, unless
		// it looks like one of ours and fails its checks.
		if c := lookalike(addr); c == "" {
			return "", "", "", true, nil
		} else {
			_, err = CanonicalAddress(c, addr)
		}
	}
	return "", "", "", false, err
}

// lookalike names the followed chain whose address form addr resembles
// (prefix and length), whether or not it checks out.
func lookalike(addr string) string {
	switch {
	case strings.HasPrefix(addr, "0x") || strings.HasPrefix(addr, "0X"):
		return chain.ETH
	case len(addr) == 34 && addr[0] == 'T':
		return chain.TRON
	case strings.HasPrefix(strings.ToLower(addr), "bc1"),
		len(addr) >= 26 && len(addr) <= 35 && (addr[0] == '1' || addr[0] == '3'):
		return chain.BTC
	}
	return ""
}

// decodeText returns data as UTF-8: as is when it is valid UTF-8, else
// read as latin-1 (OFAC's files are). A trailing DOS end-of-file (0x1a)
// is dropped.
func decodeText(data []byte) string {
	data = bytes.TrimRight(data, "\x1a")
	if utf8.Valid(data) {
		return string(data)
	}
	var b strings.Builder
	b.Grow(len(data) + len(data)/8)
	for _, c := range data {
		b.WriteRune(rune(c))
	}
	return b.String()
}

// ofacNull: OFAC writes a null as "-0-" (with a trailing space in SDN.CSV).
func ofacNull(s string) string {
	if strings.TrimSpace(s) == "-0-" {
		return ""
	}
	return s
}

type sdnRow struct {
	uid, name, typ, program, remarks string
	line                             int
	// cont: the SDN_COMMENTS.CSV rows appended to the remarks.
	cont []contRow
}

type contRow struct {
	file string
	line int
	text string
}

// parseOFACCSV reads SDN.CSV and, optionally, SDN_COMMENTS.CSV (the second
// file). Which file is which is decided by column count: SDN.CSV has 12
// columns, SDN_COMMENTS.CSV 2.
func parseOFACCSV(imp *Import, files []File, opt Options) error {
	if len(files) > 2 {
		return fmt.Errorf("labels: ofac-csv takes SDN.CSV and at most one SDN_COMMENTS.CSV, got %d files", len(files))
	}
	var sdn []sdnRow
	var sdnFile string
	type commentsFile struct {
		name string
		rows []sdnRow
	}
	var comments []commentsFile
	for _, f := range files {
		rows, kind, err := readOFACRows(f)
		if err != nil {
			return err
		}
		switch kind {
		case 12:
			if sdn != nil {
				return fmt.Errorf("labels: %s and %s are both SDN.CSV files (12 columns)", sdnFile, f.Name)
			}
			sdn, sdnFile = rows, f.Name
		case 2:
			comments = append(comments, commentsFile{f.Name, rows})
		}
	}
	if sdn == nil {
		return fmt.Errorf("%w: no SDN.CSV among %s (want the 12-column file first, SDN_COMMENTS.CSV optional)", ErrFormat, strings.Join(imp.Files, ", "))
	}
	byUID := make(map[string]*sdnRow, len(sdn))
	for i := range sdn {
		byUID[sdn[i].uid] = &sdn[i]
	}
	for _, cf := range comments {
		for _, c := range cf.rows {
			r := byUID[c.uid]
			switch {
			case r == nil:
				imp.Report.Skipped = append(imp.Report.Skipped, Issue{File: cf.name, Line: c.line, Value: c.uid,
					Reason: "SDN_COMMENTS.CSV continues entity " + c.uid + ", which SDN.CSV does not hold (files of different dates?)"})
			case utf8.RuneCountInString(r.remarks) < RemarksLimit:
				// Only a remark cut at the limit has a continuation; joining
				// text from a list of another date onto a complete remark
				// would invent an entry.
				imp.Report.Skipped = append(imp.Report.Skipped, Issue{File: cf.name, Line: c.line, Entity: r.name, Value: clip(c.remarks),
					Reason: fmt.Sprintf("entity %s's remarks in %s are complete (%d characters, not cut at %d): continuation not appended (files of different dates?)",
						c.uid, filepath.Base(sdnFile), utf8.RuneCountInString(r.remarks), RemarksLimit)})
			default:
				r.cont = append(r.cont, contRow{file: cf.name, line: c.line, text: c.remarks})
			}
		}
	}
	for i := range sdn {
		ofacEntity(imp, sdnFile, &sdn[i], opt)
	}
	return nil
}

// readOFACRows reads a headerless OFAC CSV file. Every record must have
// the same number of fields, 12 (SDN.CSV) or 2 (SDN_COMMENTS.CSV). For the
// comments file, remarks holds the continuation text.
func readOFACRows(f File) ([]sdnRow, int, error) {
	r := csv.NewReader(strings.NewReader(decodeText(f.Data)))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	var rows []sdnRow
	kind := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, 0, fmt.Errorf("%w: %s:%d: %v", ErrFormat, f.Name, pe.StartLine, pe.Err)
			}
			return nil, 0, fmt.Errorf("%w: %s: %v", ErrFormat, f.Name, err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if kind == 0 {
			kind = len(rec)
			if kind != 12 && kind != 2 {
				return nil, 0, fmt.Errorf("%w: %s:%d: %d columns; SDN.CSV has 12 and SDN_COMMENTS.CSV 2", ErrFormat, f.Name, line, kind)
			}
		}
		if len(rec) != kind {
			return nil, 0, fmt.Errorf("%w: %s:%d: %d columns where the file's first record has %d", ErrFormat, f.Name, line, len(rec), kind)
		}
		uid := strings.TrimSpace(rec[0])
		if uid == "" || strings.Trim(uid, "0123456789") != "" {
			return nil, 0, fmt.Errorf("%w: %s:%d: entity number %q is not a number", ErrFormat, f.Name, line, clip(rec[0]))
		}
		row := sdnRow{uid: uid, line: line}
		if kind == 12 {
			row.name = strings.TrimSpace(ofacNull(rec[1]))
			row.typ = strings.TrimSpace(ofacNull(rec[2]))
			row.program = ofacPrograms(ofacNull(rec[3]))
			// Not trimmed: a remark cut right after "XBT " continues with
			// the address in SDN_COMMENTS.CSV.
			row.remarks = ofacNull(rec[11])
		} else {
			row.remarks = rec[1]
		}
		rows = append(rows, row)
	}
	return rows, kind, nil
}

// ofacPrograms turns SDN.CSV's "SDNTK] [FTO" into "SDNTK; FTO".
func ofacPrograms(s string) string {
	s = strings.NewReplacer("] [", "; ", "[", "", "]", "").Replace(strings.TrimSpace(s))
	return strings.TrimSpace(s)
}

// ofacEntity turns one SDN row (with its continuations) into labels.
func ofacEntity(imp *Import, file string, r *sdnRow, opt Options) {
	if !strings.Contains(r.remarks, dcaMarker[:len(dcaMarker)-3]) && len(r.cont) == 0 {
		return
	}
	full := r.remarks
	for _, c := range r.cont {
		full += c.text
	}
	cut := utf8.RuneCountInString(r.remarks) >= RemarksLimit
	base := len(r.remarks)
	// origin: the file and line an item was read from, and how to say it.
	origin := func(it remarkItem) (string, int, string) {
		switch {
		case it.Start >= base && len(r.cont) > 0:
			off := base
			for _, c := range r.cont {
				if it.Start < off+len(c.text) || c.line == r.cont[len(r.cont)-1].line {
					return c.file, c.line, fmt.Sprintf("%s:%d entity %s (continuation)", c.file, c.line, r.uid)
				}
				off += len(c.text)
			}
		case it.End > base && len(r.cont) > 0:
			c := r.cont[0]
			return file, r.line, fmt.Sprintf("%s:%d + %s:%d entity %s (joined at the %d-character cut)", file, r.line, c.file, c.line, r.uid, RemarksLimit)
		}
		return file, r.line, fmt.Sprintf("%s:%d entity %s", file, r.line, r.uid)
	}
	for _, it := range parseRemarks(full) {
		ifile, line, where := origin(it)
		iss := Issue{File: ifile, Line: line, Entity: r.name, Value: it.Raw}
		joined := len(r.cont) > 0 && it.Start < base && it.End > base
		truncated := cut && len(r.cont) == 0 && it.Open
		if it.Address == "" {
			reason := "no address after the asset"
			if truncated {
				reason = fmt.Sprintf("address cut off by the %d-character limit of SDN.CSV remarks; give SDN_COMMENTS.CSV as a second file to complete it", RemarksLimit)
			}
			imp.Report.Invalid = append(imp.Report.Invalid, Issue{File: iss.File, Line: iss.Line, Entity: r.name, Value: it.Raw, Reason: reason})
			continue
		}
		chain, canon, warn, skip, err := resolveAddress(it.Asset, it.Address)
		if skip {
			imp.Report.Skipped = append(imp.Report.Skipped, Issue{File: iss.File, Line: iss.Line, Entity: r.name, Value: it.Address,
				Reason: fmt.Sprintf("asset %s: not on a chain the tracer follows (btc, eth, tron)", it.Asset)})
			continue
		}
		if err != nil {
			reason := err.Error()
			switch {
			case truncated:
				reason = fmt.Sprintf("address cut off by the %d-character limit of SDN.CSV remarks (%v); give SDN_COMMENTS.CSV as a second file to complete it", RemarksLimit, err)
			case joined:
				reason = fmt.Sprintf("the address spans the %d-character cut and SDN_COMMENTS.CSV does not complete it to a valid address (%v): the files are probably of different dates", RemarksLimit, err)
			}
			imp.Report.Invalid = append(imp.Report.Invalid, Issue{File: iss.File, Line: iss.Line, Entity: r.name, Value: it.Address, Reason: reason})
			continue
		}
		if truncated {
			// Valid though it sits at the cut: a prefix with a valid
			// checksum is vanishingly unlikely, but say so.
			imp.Report.Warnings = append(imp.Report.Warnings, Issue{File: iss.File, Line: iss.Line, Entity: r.name, Value: it.Address,
				Reason: fmt.Sprintf("last item before the %d-character cut; the address is valid, so it was taken as complete", RemarksLimit)})
		}
		if warn != "" {
			imp.Report.Warnings = append(imp.Report.Warnings, Issue{File: iss.File, Line: iss.Line, Entity: r.name, Value: it.Address, Reason: warn})
		}
		imp.Labels = append(imp.Labels, Label{
			Chain:      chain,
			Address:    canon,
			Entity:     r.name,
			Category:   CategorySanctioned,
			Reference:  "OFAC SDN entity " + r.uid,
			Confidence: opt.OFACConfidence,
			Program:    r.program,
			Asset:      strings.ToUpper(it.Asset),
			Origin:     where,
			Raw:        it.Raw,
		})
	}
}
