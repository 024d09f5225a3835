package labels

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/internal/realdata"
)

func findLabel(t *testing.T, imp *Import, addr string) Label {
	t.Helper()
	for _, l := range imp.Labels {
		if l.Address == addr {
			return l
		}
	}
	t.Fatalf("%s: no label for %s", imp.Source, addr)
	return Label{}
}

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestTagPackReal imports the real GraphSense packs: every tag is
// accounted for (imported, skipped or invalid), with the counts per pack,
// and header fields are inherited by the tags that do not override them.
func TestTagPackReal(t *testing.T) {
	dir := realdata.Path(t, "tags/graphsense-tagpacks/packs")
	tests := []struct {
		file                       string
		tags                       int // "- " entries in the file
		imported, skipped, invalid int
	}{
		{"ofac.yaml", 572, 544, 28, 0},
		{"tornado_cash.yaml", 39, 38, 1, 0}, // one address listed twice
		{"exchange-wallets-binance.yaml", 86, 45, 41, 0},
		{"exchange-wallets-bybit.yaml", 8, 8, 0, 0},
		{"exchange-wallets-kucoin.yaml", 59, 39, 20, 0},
		{"hydra.yaml", 117, 117, 0, 0},
		{"lazarus.yaml", 21, 21, 0, 0},
		{"usdt_blacklist.yaml", 774, 774, 0, 0},
		{"walletexplorer.yaml", 386, 386, 0, 0},
		{"demo.yaml", 5, 2, 3, 0},
	}
	imps := map[string]*Import{}
	for _, tt := range tests {
		f := readFile(t, filepath.Join(dir, tt.file))
		if n := strings.Count("\n"+string(f.Data), "\n- "); n != tt.tags {
			t.Fatalf("%s: the file has %d tags, the table says %d", tt.file, n, tt.tags)
		}
		imp := mustParse(t, FormatTagPack, Options{}, f)
		imps[tt.file] = imp
		got := []int{len(imp.Labels), len(imp.Report.Skipped), len(imp.Report.Invalid)}
		want := []int{tt.imported, tt.skipped, tt.invalid}
		if got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("%s: imported/skipped/invalid %v, want %v", tt.file, got, want)
		}
		if sum := got[0] + got[1] + got[2]; sum != tt.tags {
			t.Errorf("%s: %d tags accounted for of %d", tt.file, sum, tt.tags)
		}
		if want := "tagpack:" + strings.TrimSuffix(tt.file, ".yaml"); imp.Source != want {
			t.Errorf("%s: source %q, want %q", tt.file, imp.Source, want)
		}
	}

	// tornado_cash.yaml sets everything in the header.
	l := findLabel(t, imps["tornado_cash.yaml"], "0x8589427373d6d84e98730d7795d8f6f8731fda16")
	if l.Chain != chain.ETH || l.Entity != "tornado.cash" || l.Category != CategoryMixer || l.Confidence != 60 ||
		l.ApplyToCluster || !l.KnownSince.Equal(day("2022-08-10")) ||
		l.Reference != "https://home.treasury.gov/policy-issues/financial-sanctions/recent-actions/20220808" {
		t.Errorf("tornado_cash header not inherited: %+v", l)
	}
	// bybit: label from the header; one tag overrides source.
	by := imps["exchange-wallets-bybit.yaml"]
	l = findLabel(t, by, "1GrwDkr33gT6LuumniYjKEGjTLhsL5kmqC")
	if l.Reference != "https://www.bybithelp.com/bybitHC_Article?id=000001880" || l.Entity != "Bybit reserve wallets" || !l.ApplyToCluster || l.Confidence != 50 {
		t.Errorf("bybit tag override/inheritance: %+v", l)
	}
	l = findLabel(t, by, "0x1db92e2eebc8e0c075a02bea49a2935bcd2dfcf4")
	if l.Reference != "https://blog.bybit.com/en-US/post/statement-from-ben-on-bybit-s-wallets-bltfb7a70c50462875b/" || l.Chain != chain.ETH {
		t.Errorf("bybit header source not inherited: %+v", l)
	}
	// binance: a tag's own label wins over none in the header.
	l = findLabel(t, imps["exchange-wallets-binance.yaml"], "34xp4vRoCGJym3xR7yCVPFHoCNxv4Twseo")
	if l.Entity != "binance reserve wallets BTC" || l.Category != CategoryExchange || !l.KnownSince.Equal(day("2022-11-16")) {
		t.Errorf("binance tag: %+v", l)
	}
	// hydra: category market is a darknet market.
	if l := findLabel(t, imps["hydra.yaml"], "1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbA"); l.Category != CategoryDarknetMarket || l.Entity != "Hydra Market" {
		t.Errorf("hydra: %+v", l)
	}
	// lazarus: abuse sanction wins over category user; not a cluster definer.
	if l := findLabel(t, imps["lazarus.yaml"], "134r8iHv69xdT6p5qVKTsHrcUEuBVZAYak"); l.Category != CategorySanctioned || l.ApplyToCluster || l.Confidence != 60 {
		t.Errorf("lazarus: %+v", l)
	}
	// ofac.yaml has no confidence anywhere: unknown (5), with a warning;
	// its TRON address under BTC is labelled on tron.
	of := imps["ofac.yaml"]
	if l := findLabel(t, of, "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq"); l.Chain != chain.TRON || l.Confidence != 5 {
		t.Errorf("ofac.yaml TRON-under-BTC: %+v", l)
	}
	warned := false
	for _, w := range of.Report.Warnings {
		warned = warned || strings.Contains(w.Reason, "544 tags without confidence")
	}
	if !warned {
		t.Errorf("ofac.yaml: no warning about the missing confidence: %v", of.Report.Warnings)
	}
	// usdt_blacklist: ledger_immanent is 100.
	if l := findLabel(t, imps["usdt_blacklist.yaml"], "0x008fe40574e881e7247b50b991c0cc057d66647f"); l.Confidence != 100 || l.Entity != "USDT_blacklisted" {
		t.Errorf("usdt_blacklist: %+v", l)
	}
	// kucoin lists USDT on chains the tracer does not follow: skipped.
	for _, s := range imps["exchange-wallets-kucoin.yaml"].Report.Skipped {
		if s.Line == 0 || s.Reason == "" {
			t.Errorf("kucoin skip without line or reason: %+v", s)
		}
	}
}

func TestTagPackAllRealPacksParse(t *testing.T) {
	dir := realdata.Path(t, "tags/graphsense-tagpacks/packs")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []File
	for _, e := range ents {
		files = append(files, readFile(t, filepath.Join(dir, e.Name())))
	}
	imp := mustParse(t, FormatTagPack, Options{Source: "graphsense-public"}, files...)
	if len(imp.Labels) < 2000 {
		t.Errorf("%d labels from %d packs", len(imp.Labels), len(files))
	}
	for _, l := range imp.Labels {
		if _, err := CanonicalAddress(l.Chain, l.Address); err != nil || l.Source != "graphsense-public" {
			t.Fatalf("label %+v: %v", l, err)
		}
	}
}

func TestTagPackBad(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"not yaml", "title: x\ntags: [\n", "p.yaml"},
		{"no tags", "title: x\n", "no tags: list"},
		{"tags not a list", "title: x\ntags: 3\n", "p.yaml:2: tags: must be a list"},
		{"bad confidence", "title: x\ncurrency: BTC\ntags:\n- address: 1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th\n  confidence: sure\n", `p.yaml:5: column confidence "sure"`},
		{"bad lastmod", "title: x\nlastmod: yesterday\nlabel: L\ncurrency: BTC\ntags:\n- address: 1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th\n", `p.yaml:2: column lastmod "yesterday"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(FormatTagPack, []File{{Name: "p.yaml", Data: []byte(tt.yaml)}}, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	// A bad address is reported with its line and label, and the good tags
	// still import.
	imp := mustParse(t, FormatTagPack, Options{}, File{Name: "p.yaml", Data: []byte(
		"title: x\nlabel: Broker\ncurrency: ETH\nconfidence: forensic\ntags:\n- address: '0x983a81ca6FB1e441266D2FbcB7D8E530AC2E05A3'\n- address: '0x983a81ca6FB1e441266D2FbcB7D8E530AC2E05A2'\n")})
	if len(imp.Labels) != 1 || len(imp.Report.Invalid) != 1 || imp.Report.Invalid[0].Line != 6 || !strings.Contains(imp.Report.Invalid[0].Reason, "EIP-55") {
		t.Errorf("got labels %+v invalid %+v", imp.Labels, imp.Report.Invalid)
	}
	// A tag without label or actor names nobody: reported, not imported.
	imp = mustParse(t, FormatTagPack, Options{}, File{Name: "p.yaml", Data: []byte(
		"title: x\ncurrency: BTC\ntags:\n- address: 1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th\n- address: 1Kr6QSydW9bFQG1mXiPNNu6WpJGmUa9i1g\n  actor: bitfinex\n")})
	if len(imp.Labels) != 1 || imp.Labels[0].Entity != "bitfinex" || len(imp.Report.Invalid) != 1 || imp.Report.Invalid[0].Line != 4 {
		t.Errorf("tag without label: labels %+v invalid %+v", imp.Labels, imp.Report.Invalid)
	}
	// A header: block is lifted, as graphsense-tagpack-tool does; a number
	// is a confidence; the category option overrides.
	imp = mustParse(t, FormatTagPack, Options{Category: CategoryPrecursorBroker}, File{Name: "p.yaml", Data: []byte(
		"header:\n  title: x\n  currency: TRX\n  confidence: 77\ntags:\n- address: TMStbg5fgb4uTV7fK1gEYF9hKAzP3siPsG\n  label: Wang\n  is_cluster_definer: true\n")})
	if len(imp.Labels) != 1 || imp.Labels[0].Chain != chain.TRON || imp.Labels[0].Confidence != 77 || imp.Labels[0].Category != CategoryPrecursorBroker || !imp.Labels[0].ApplyToCluster {
		t.Errorf("got %+v", imp.Labels)
	}
}
