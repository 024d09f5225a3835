package labels

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/internal/realdata"
)

func readFile(t testing.TB, path string) File {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return File{Name: filepath.Base(path), Data: data}
}

func mustParse(t testing.TB, format string, opt Options, files ...File) *Import {
	t.Helper()
	imp, err := Parse(format, files, opt)
	if err != nil {
		t.Fatalf("Parse(%s): %v", format, err)
	}
	return imp
}

// byEntity groups labels by entity name.
func labelsOf(imp *Import, entity string) []Label {
	var out []Label
	for _, l := range imp.Labels {
		if l.Entity == entity {
			out = append(out, l)
		}
	}
	return out
}

func hasLabel(ls []Label, chain, addr string) bool {
	for _, l := range ls {
		if l.Chain == chain && l.Address == addr {
			return true
		}
	}
	return false
}

func TestParseRemarks(t *testing.T) {
	tests := []struct {
		name    string
		remarks string
		want    []remarkItem // Asset, Address, Open only
	}{
		{"none", "DOB 1977; POB Wuhan.", nil},
		{"one closed by full stop", "Website x.com; Digital Currency Address - XBT 1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th.",
			[]remarkItem{{Asset: "XBT", Address: "1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th"}}},
		{"alt and several", "Digital Currency Address - XBT a1; alt. Digital Currency Address - ETH 0xab; Gender Male.",
			[]remarkItem{{Asset: "XBT", Address: "a1"}, {Asset: "ETH", Address: "0xab"}}},
		{"cut inside an address", "x; alt. Digital Currency Address - XBT 1N6XqS",
			[]remarkItem{{Asset: "XBT", Address: "1N6XqS", Open: true}}},
		{"cut after the asset", "x; alt. Digital Currency Address - XBT ",
			[]remarkItem{{Asset: "XBT", Address: "", Open: true}}},
		{"extra words after the address", "Digital Currency Address - USDT TEAqwfMhXLaomXhZ8KeMhx3njGmQEDnsUR (TRC20); x.",
			[]remarkItem{{Asset: "USDT", Address: "TEAqwfMhXLaomXhZ8KeMhx3njGmQEDnsUR"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseRemarks(tt.remarks)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d items %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i].Asset != tt.want[i].Asset || got[i].Address != tt.want[i].Address || got[i].Open != tt.want[i].Open {
					t.Errorf("item %d: got %s %q open=%v, want %s %q open=%v", i, got[i].Asset, got[i].Address, got[i].Open, tt.want[i].Asset, tt.want[i].Address, tt.want[i].Open)
				}
			}
		})
	}
}

// TestOFACCSVDrugPrograms: every drug-program entity (SDNTK,
// ILLICIT-DRUGS-EO14059) with a digital currency address in the real
// SDN.CSV of 2024-05-03 is imported, on the right chain.
func TestOFACCSVDrugPrograms(t *testing.T) {
	sdn := readFile(t, realdata.Path(t, "ofac/SDN_20240503.CSV"))
	imp := mustParse(t, FormatOFACCSV, Options{}, sdn)

	// The 14 drug-program rows with addresses, as filtered from the same file.
	f, err := os.Open(realdata.Path(t, "ofac/sdn_drug_programs_with_crypto_20240503.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 14 {
		t.Fatalf("reference list has %d rows, want 14", len(rows))
	}
	// Independently of the parser: every "Digital Currency Address - "
	// of these rows is imported, skipped or reported, none lost.
	names := map[string]bool{}
	mentions := 0
	for _, r := range rows {
		names[r[1]] = true
		mentions += strings.Count(r[11], "Digital Currency Address - ")
	}
	accounted := 0
	for _, l := range imp.Labels {
		if names[l.Entity] {
			accounted++
		}
	}
	for _, list := range [][]Issue{imp.Report.Skipped, imp.Report.Invalid} {
		for _, i := range list {
			if names[i.Entity] {
				accounted++
			}
		}
	}
	if accounted != mentions {
		t.Errorf("drug-program rows mention %d addresses; %d imported, skipped or reported", mentions, accounted)
	}
	for _, r := range rows {
		name := r[1]
		got := labelsOf(imp, name)
		// Every address the reference row names, by our own reading.
		for _, it := range parseRemarks(r[11]) {
			chain, canon, _, skip, err := resolveAddress(it.Asset, it.Address)
			if skip || err != nil {
				continue // asserted below for the known cases
			}
			if !hasLabel(got, chain, canon) {
				t.Errorf("%s (%s): %s %s not imported on %s", r[0], name, it.Asset, it.Address, chain)
			}
		}
		if len(got) == 0 {
			t.Errorf("%s (%s): no label imported", r[0], name)
		}
		for _, l := range got {
			if !strings.Contains(l.Program, "SDNTK") && !strings.Contains(l.Program, "ILLICIT-DRUGS-EO14059") {
				t.Errorf("%s: program %q", name, l.Program)
			}
			if l.Category != CategorySanctioned || l.Confidence != DefaultOFACConfidence {
				t.Errorf("%s: category %q confidence %d", name, l.Category, l.Confidence)
			}
			if !strings.HasPrefix(l.Origin, "SDN_20240503.CSV:") || !strings.Contains(l.Origin, "entity "+r[0]) {
				t.Errorf("%s: origin %q", name, l.Origin)
			}
		}
	}

	// And over the whole file: nothing silently dropped.
	if all, got := strings.Count(string(sdn.Data), "Digital Currency Address - "), len(imp.Labels)+len(imp.Report.Skipped)+len(imp.Report.Invalid); all != got {
		t.Errorf("SDN.CSV mentions %d addresses; %d imported, skipped or reported", all, got)
	}

	// The traps, each by name.
	check := func(entity, chain, addr, asset string) {
		t.Helper()
		for _, l := range labelsOf(imp, entity) {
			if l.Address == addr && l.Asset == asset {
				if l.Chain != chain {
					t.Errorf("%s %s %s: chain %s, want %s", entity, asset, addr, l.Chain, chain)
				}
				return
			}
		}
		t.Errorf("%s: no %s label for %s", entity, asset, addr)
	}
	// 45404: a TRON address listed under XBT goes to tron, with a warning.
	check("WANG, Mingming", chain.TRON, "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq", "XBT")
	if !slices.ContainsFunc(imp.Report.Warnings, func(i Issue) bool {
		return i.Value == "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq" && strings.Contains(i.Reason, "tron address filed under XBT")
	}) {
		t.Errorf("no warning for the TRON address under XBT; warnings: %v", imp.Report.Warnings)
	}
	// USDT is TRON for 45312 and Ethereum for 45314 and 45404.
	check("SHEN, Xingbiao", chain.TRON, "TEAqwfMhXLaomXhZ8KeMhx3njGmQEDnsUR", "USDT")
	check("VALERIAN LABS, INC.", chain.ETH, "0x983a81ca6fb1e441266d2fbcb7d8e530ac2e05a2", "USDT")
	check("VALERIAN LABS, INC.", chain.ETH, "0x983a81ca6fb1e441266d2fbcb7d8e530ac2e05a2", "USDC")
	check("WANG, Mingming", chain.ETH, "0xfac583c0cf07ea434052c49115a4682172ab6b4f", "USDT")
	// EIP-55 mixed case and lower case both end up lower case.
	check("VALERIAN LABS, INC.", chain.ETH, "0x983a81ca6fb1e441266d2fbcb7d8e530ac2e05a2", "ETH")
	check("JIMENEZ CASTRO, Mario Alberto", chain.ETH, "0x9c2bc757b66f24d60f016b6237f8cdd414a879fa", "ETH")
	// Bech32, P2WSH length, lower case as written.
	check("XIA, Fengbing", chain.BTC, "bc1qkfqh5p2qsakseg5gnwen6zh5xf3elmku2xaup29mw3l0wnncy3es880dss", "XBT")
	check("WANG, Jiantong", chain.TRON, "TMStbg5fgb4uTV7fK1gEYF9hKAzP3siPsG", "TRX")

	// 39585 and 39593 are cut at 1,000 characters; without the comments
	// file the cut addresses are reported, never imported truncated.
	for _, c := range []struct{ entity, value string }{
		{"PEIJNENBURG, Alex Adrianus Martinus", "1N6XqS"},
		{"GRIMM, Matthew Simon", "alt. Digital Currency Address - XBT"},
	} {
		if !slices.ContainsFunc(imp.Report.Invalid, func(i Issue) bool {
			return i.Entity == c.entity && i.Value == c.value && strings.Contains(i.Reason, "cut off by the 1000-character limit")
		}) {
			t.Errorf("%s: cut address %q not reported; invalid: %v", c.entity, c.value, imp.Report.Invalid)
		}
		for _, l := range labelsOf(imp, c.entity) {
			if strings.HasPrefix(l.Address, "1N6XqS") && l.Address != "1N6XqSf3ULpNjko9LrJmHudRoLitjwkETN" || l.Address == "" {
				t.Errorf("%s: truncated address imported: %+v", c.entity, l)
			}
		}
	}
	// LTC (26323) is reported as skipped, not dropped in silence.
	if !slices.ContainsFunc(imp.Report.Skipped, func(i Issue) bool {
		return i.Entity == "ZHENG, Guanghua" && i.Value == "LaizKtS5DUhPuP1nTQcc83MS7HwK6vk85z"
	}) {
		t.Errorf("LTC address of ZHENG, Guanghua not reported as skipped")
	}
	// Nothing in Invalid other than cut-off addresses, from this file.
	for _, i := range imp.Report.Invalid {
		if !strings.Contains(i.Reason, "cut off") {
			t.Errorf("unexpected invalid entry: %v", i)
		}
	}
	t.Logf("%d labels, %d skipped, %d invalid, %d warnings", len(imp.Labels), len(imp.Report.Skipped), len(imp.Report.Invalid), len(imp.Report.Warnings))
}

// TestOFACCSVAgainst0xB10C: the addresses imported from the whole SDN.CSV
// (2024-05) are in 0xB10C's per-asset lists (generated from the advanced
// XML, 2024-09), by chain.
func TestOFACCSVAgainst0xB10C(t *testing.T) {
	sdn := readFile(t, realdata.Path(t, "ofac/SDN_20240503.CSV"))
	dir := realdata.Path(t, "ofac/0xB10C_lists")
	imp := mustParse(t, FormatOFACCSV, Options{}, sdn)
	lists := map[string]map[string]bool{}
	for _, asset := range []string{"XBT", "ETH", "USDT", "USDC", "TRX"} {
		data, err := os.ReadFile(filepath.Join(dir, "sanctioned_addresses_"+asset+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, a := range strings.Fields(string(data)) {
			m[strings.ToLower(a)] = true
		}
		lists[asset] = m
	}
	missing := 0
	for _, l := range imp.Labels {
		if !lists[l.Asset][strings.ToLower(l.Address)] {
			// The lists are five months newer, but OFAC removed none of
			// these addresses in between: any missing one was misread.
			missing++
			t.Logf("not in 0xB10C's %s list: %s (%s)", l.Asset, l.Address, l.Entity)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d imported addresses are not in 0xB10C's lists", missing, len(imp.Labels))
	}
	// And the drug-program entities' addresses are all there, per asset.
	for _, l := range imp.Labels {
		if strings.Contains(l.Program, "SDNTK") || strings.Contains(l.Program, "ILLICIT-DRUGS") {
			if !lists[l.Asset][strings.ToLower(l.Address)] {
				t.Errorf("%s %s (%s) not in 0xB10C's %s list", l.Asset, l.Address, l.Entity, l.Asset)
			}
		}
	}
	// Every XBT-list address of TRON form is one we put on tron.
	for a := range lists["XBT"] {
		if strings.HasPrefix(a, "t") {
			found := false
			for _, l := range imp.Labels {
				if strings.ToLower(l.Address) == a {
					found = l.Chain == chain.TRON
				}
			}
			if !found {
				t.Errorf("TRON-form address %s in the XBT list is not labelled on tron", a)
			}
		}
	}
}

// TestOFACCSVComments: with SDN_COMMENTS.CSV (a real one, of another
// date) the cut addresses of 39585 and 39593 are completed; continuations
// of complete remarks and of absent entities are reported, not joined.
func TestOFACCSVComments(t *testing.T) {
	sdn := readFile(t, realdata.Path(t, "ofac/SDN_20240503.CSV"))
	comments := readFile(t, realdata.Path(t, "ofac/watchman_sdn_comments.csv"))
	imp := mustParse(t, FormatOFACCSV, Options{}, sdn, comments)

	peij := labelsOf(imp, "PEIJNENBURG, Alex Adrianus Martinus")
	if !hasLabel(peij, chain.BTC, "1N6XqSf3ULpNjko9LrJmHudRoLitjwkETN") {
		t.Errorf("39585: the address spanning the cut was not completed; got %d labels", len(peij))
	}
	for _, l := range peij {
		if l.Address == "1N6XqSf3ULpNjko9LrJmHudRoLitjwkETN" && !strings.Contains(l.Origin, "joined at the 1000-character cut") {
			t.Errorf("39585: origin %q does not say the address was joined", l.Origin)
		}
	}
	// Addresses only in the continuation.
	if !hasLabel(peij, chain.BTC, "bc1qwa6zu6qhl6wqnlxp642vcf89nptsassle25ulf") ||
		!hasLabel(peij, chain.ETH, "0x83e5bc4ffa856bb84bb88581f5dd62a433a25e0d") {
		t.Errorf("39585: continuation addresses missing")
	}
	grimm := labelsOf(imp, "GRIMM, Matthew Simon")
	if !hasLabel(grimm, chain.BTC, "194xmrZA53UBsZau2PnJLdmVVW9m5feeS") {
		t.Errorf("39593: the address after the cut was not completed")
	}
	if len(grimm) <= len(labelsOf(mustParse(t, FormatOFACCSV, Options{}, sdn), "GRIMM, Matthew Simon")) {
		t.Errorf("39593: the continuation added no labels")
	}
	for _, i := range imp.Report.Invalid {
		if i.Entity == "PEIJNENBURG, Alex Adrianus Martinus" || i.Entity == "GRIMM, Matthew Simon" {
			t.Errorf("still invalid after joining: %v", i)
		}
	}
	// 34682's remarks are complete (947 characters): its comments row, of
	// another date, must not be appended.
	if !slices.ContainsFunc(imp.Report.Skipped, func(i Issue) bool {
		return i.Line > 0 && strings.Contains(i.Reason, "entity 34682") && strings.Contains(i.Reason, "complete")
	}) {
		t.Errorf("comments row of 34682 (complete remarks) not reported as skipped")
	}
	// 17016 and 43421 are not in this SDN.CSV.
	for _, uid := range []string{"17016", "43421"} {
		if !slices.ContainsFunc(imp.Report.Skipped, func(i Issue) bool { return i.Value == uid }) {
			t.Errorf("comments row of absent entity %s not reported", uid)
		}
	}
}

func TestOFACCSVJoinMismatch(t *testing.T) {
	// A remark cut in an address, continued by text from a list of another
	// date that does not complete it: reported, and not imported.
	pad := "DOB 1980; " + strings.Repeat("x", RemarksLimit-10-len("Digital Currency Address - XBT 1N6XqS")) + "Digital Currency Address - XBT 1N6XqS"
	if n := len(pad); n != RemarksLimit {
		t.Fatalf("test remark is %d characters", n)
	}
	sdn := File{Name: "SDN.CSV", Data: []byte(`1,"DOE, John",individual,SDNTK,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"` + pad + `"` + "\r\n")}
	comments := File{Name: "SDN_COMMENTS.CSV", Data: []byte(`1,"zzzWRONG; alt. Digital Currency Address - XBT 1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th."` + "\r\n")}
	imp := mustParse(t, FormatOFACCSV, Options{}, sdn, comments)
	if len(imp.Labels) != 1 || imp.Labels[0].Address != "1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th" {
		t.Fatalf("got labels %+v, want only the continuation's complete address", imp.Labels)
	}
	if len(imp.Report.Invalid) != 1 || !strings.Contains(imp.Report.Invalid[0].Reason, "different dates") {
		t.Errorf("mismatched join not reported: %v", imp.Report.Invalid)
	}
	if !strings.HasPrefix(imp.Labels[0].Origin, "SDN_COMMENTS.CSV:1") {
		t.Errorf("origin %q, want the comments file's line", imp.Labels[0].Origin)
	}
}

func TestOFACCSVBadFiles(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"bad column count", "1,\"A\",x,SDNTK\r\n", "SDN.CSV:1: 4 columns"},
		{"ragged", "1,a,b,c,d,e,f,g,h,i,j,k\r\n2,a\r\n", "SDN.CSV:2: 2 columns"},
		{"bad quote", "1,\"a\"b,c,d,e,f,g,h,i,j,k,l\r\n", "SDN.CSV:1:"},
		{"entity number", "x1,a,b,c,d,e,f,g,h,i,j,k\r\n", `entity number "x1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(FormatOFACCSV, []File{{Name: "SDN.CSV", Data: []byte(tt.data)}}, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestOFACCSVLatin1(t *testing.T) {
	// OFAC's files are latin-1: 0xe9 is é.
	data := []byte("7,\"CAF\xc9 S.A.\",-0- ,SDNTK,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"Digital Currency Address - XBT 1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th.\"\r\n\x1a")
	imp := mustParse(t, FormatOFACCSV, Options{}, File{Name: "SDN.CSV", Data: data})
	if len(imp.Labels) != 1 || imp.Labels[0].Entity != "CAFÉ S.A." || imp.Labels[0].Program != "SDNTK" {
		t.Fatalf("got %+v", imp.Labels)
	}
}
