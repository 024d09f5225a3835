package labels

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/internal/realdata"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/store/chdb"
	"github.com/tracerproject/tracer/store/clickhouse"
)

func TestMain(m *testing.M) { chserver.Main(m) }

// TestStoreClickHouseServer runs the store suite on the Debian ClickHouse
// server (18.16), in a database of its own.
func TestStoreClickHouseServer(t *testing.T) {
	conn, err := clickhouse.Open(context.Background(), chserver.TempDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	storeSuite(t, conn)
}

// chDB boots one engine per process; the suite runs on it once.
var chdbOnce sync.Once

func TestStoreChDB(t *testing.T) {
	ran := false
	chdbOnce.Do(func() {
		ran = true
		conn, err := chdb.Open(chdb.Config{Path: t.TempDir()})
		if errors.Is(err, chdb.ErrNoLibrary) && os.Getenv("TRACER_REQUIRE_CHDB") != "1" {
			t.Skipf("%v (TRACER_REQUIRE_CHDB=1 makes this a failure)", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		storeSuite(t, conn)
	})
	if !ran {
		t.Skip("chDB suite already ran in this process (-count > 1)")
	}
}

func storeSuite(t *testing.T, conn store.Conn) {
	ctx := context.Background()
	s, err := NewStore(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, ctx, s) })
	t.Run("Idempotent", func(t *testing.T) { testIdempotent(t, ctx, s) })
	t.Run("SupersedeAndAsOf", func(t *testing.T) { testSupersede(t, ctx, s) })
	t.Run("InterruptedImportInvisible", func(t *testing.T) { testInterrupted(t, ctx, s) })
	t.Run("RealLists", func(t *testing.T) { testRealLists(t, ctx, s) })
	t.Run("Brief", func(t *testing.T) { testBrief(t, ctx, s) })
}

// testBrief: BriefIn gives what List gives, fields a tracer needs, also
// when every row is stored twice (a retried insert, before ClickHouse
// merges it away), and by address.
func testBrief(t *testing.T, ctx context.Context, s *Store) {
	imp := mustParse(t, FormatCSV, Options{Source: "brief"}, File{Name: "brief.csv", Data: []byte(csvHeader +
		"btc,1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th,HEBEI ATUN,precursor-broker,case 2024-17,80\n" +
		"eth,0x983a81ca6FB1e441266D2FbcB7D8E530AC2E05A2,VALERIAN LABS,precursor-broker,case 2024-17,75\n" +
		"btc,cluster:42,Sinaloa cash-out,cartel,informant,40\n")})
	if _, err := s.Write(ctx, imp, WriteOptions{ValidFrom: day("2024-05-03")}); err != nil {
		t.Fatal(err)
	}
	for _, chain := range []string{chain.BTC, chain.ETH} {
		list, err := s.List(ctx, Filter{Chain: chain})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 0 {
			t.Fatalf("%s: no labels stored before this test", chain)
		}
		brief := func(l Label) string {
			return strings.Join([]string{l.Chain, l.Address, l.Cluster, l.Entity, l.Category, l.Source, l.Asset, l.ImportID}, "|")
		}
		var want []string
		var addrs []string
		for _, l := range list {
			want = append(want, brief(l))
			if l.Address != "" && len(addrs) < 3 {
				addrs = append(addrs, l.Address)
			}
		}
		cols := "import_id, source, chain, address, cluster, entity, category, confidence, known_since, added_by, program, asset, apply_to_cluster, reference, origin, raw"
		if err := s.conn.Exec(ctx, "INSERT INTO label_entries ("+cols+") SELECT "+cols+" FROM label_entries WHERE chain = ?", chain); err != nil {
			t.Fatal(err)
		}
		vs, err := s.InForce(ctx, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		all, err := s.BriefIn(ctx, vs, chain, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range all {
			got = append(got, brief(l))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: BriefIn gives %d labels, List %d; first difference among\n got %q\nwant %q", chain, len(got), len(want), got[:min(3, len(got))], want[:min(3, len(want))])
		}
		some, err := s.BriefIn(ctx, vs, chain, addrs)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range some {
			if !slices.Contains(addrs, l.Address) {
				t.Errorf("%s: BriefIn by address gave a label of %q", chain, l.Address)
			}
		}
		if len(some) < len(addrs) {
			t.Errorf("%s: BriefIn by address gave %d labels for %d labelled addresses", chain, len(some), len(addrs))
		}
	}
}

// testRealLists stores the real SDN.CSV (with the comments file) and the
// real TagPacks and reads them back whole.
func testRealLists(t *testing.T, ctx context.Context, s *Store) {
	sdn := readFile(t, realdata.Path(t, "ofac/SDN_20240503.CSV"))
	comments := readFile(t, realdata.Path(t, "ofac/watchman_sdn_comments.csv"))
	dir := realdata.Path(t, "tags/graphsense-tagpacks/packs")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var packs []File
	for _, e := range ents {
		packs = append(packs, readFile(t, filepath.Join(dir, e.Name())))
	}
	for _, imp := range []*Import{
		mustParse(t, FormatOFACCSV, Options{Source: "real-ofac"}, sdn, comments),
		mustParse(t, FormatTagPack, Options{Source: "real-tagpacks"}, packs...),
	} {
		if _, err := s.Write(ctx, imp, WriteOptions{ValidFrom: day("2024-05-03")}); err != nil {
			t.Fatal(err)
		}
		got, err := s.List(ctx, Filter{Source: imp.Source})
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(imp.Labels)
		sortLabels(want)
		if len(got) != len(want) {
			t.Fatalf("%s: %d labels back, %d written", imp.Source, len(got), len(want))
		}
		for i := range got {
			w := want[i]
			w.ImportID, w.ValidFrom = got[i].ImportID, got[i].ValidFrom
			if w.KnownSince.IsZero() {
				w.KnownSince = day("2024-05-03")
			}
			if !reflect.DeepEqual(got[i], w) {
				t.Fatalf("%s label %d:\n got %+v\nwant %+v", imp.Source, i, got[i], w)
			}
		}
	}
	sh, err := s.Show(ctx, "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, l := range sh.Labels {
		sources = append(sources, l.Source+"/"+l.Chain+"/"+l.Asset)
	}
	slices.Sort(sources)
	if !slices.Equal(sources, []string{"real-ofac/tron/XBT", "real-tagpacks/tron/BTC"}) {
		t.Errorf("the TRON address under XBT: %v", sources)
	}
}

func csvImport(t *testing.T, source string, rows ...string) *Import {
	t.Helper()
	data := csvHeader
	for _, r := range rows {
		data += r + "\n"
	}
	return mustParse(t, FormatCSV, Options{Source: source}, File{Name: source + ".csv", Data: []byte(data)})
}

const (
	addrA = "1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th"
	addrB = "0x983a81ca6FB1e441266D2FbcB7D8E530AC2E05A2"
	addrC = "TMStbg5fgb4uTV7fK1gEYF9hKAzP3siPsG"
)

var (
	rowA = "btc," + addrA + ",HEBEI ATUN,precursor-broker,case 17,80"
	rowB = "eth," + addrB + ",VALERIAN LABS,precursor-broker,case 17,75"
	rowC = "tron," + addrC + ",WANG Jiantong,cartel,seized phone,60"
)

func subjects(ls []Label) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Subject())
	}
	slices.Sort(out)
	return out
}

func testRoundTrip(t *testing.T, ctx context.Context, s *Store) {
	// Every field, through the store and back: a TagPack label (cluster
	// definer, dates, references) and OFAC-style fields set by hand.
	imp := mustParse(t, FormatTagPack, Options{Source: "rt", AddedBy: "tester"}, File{Name: "rt.yaml", Data: []byte(
		"title: t\nlabel: Broker X\ncurrency: BTC\nconfidence: forensic\nis_cluster_definer: true\nlastmod: 2022-02-03\nsource: https://example.org/case\ncategory: exchange\ntags:\n" +
			"- address: " + addrA + "\n- address: bc1qardcxz845jw83vgfvcmewhuxa0ag9gchjwmcfd\n  label: Broker Y\n")})
	imp.Labels[1].Program = "SDNTK; FTO"
	imp.Labels = append(imp.Labels, Label{Chain: chain.BTC, Cluster: "42", Entity: "Cartel wallet cluster", Category: CategoryCartel, Source: "rt",
		Confidence: 33, KnownSince: day("2021-01-01"), Origin: "hand:1", Raw: "ünïcode, \"quotes\" and 'apostrophes'"})
	res, err := s.Write(ctx, imp, WriteOptions{ValidFrom: day("2024-05-03"), AddedBy: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Unchanged || res.Added != 3 || res.Superseded != nil {
		t.Fatalf("first write: %+v", res)
	}
	got, err := s.List(ctx, Filter{Source: "rt"})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(imp.Labels)
	for i := range want {
		want[i].ImportID, want[i].ValidFrom = res.Version.ImportID, day("2024-05-03")
		if want[i].AddedBy == "" {
			want[i].AddedBy = "tester"
		}
	}
	sortLabels(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
	// Filters.
	if ls, err := s.List(ctx, Filter{Source: "rt", Category: CategoryCartel}); err != nil || len(ls) != 1 || ls[0].Cluster != "42" {
		t.Errorf("category filter: %v %+v", err, ls)
	}
	if ls, err := s.List(ctx, Filter{Source: "rt", Chain: chain.ETH}); err != nil || len(ls) != 0 {
		t.Errorf("chain filter: %v %+v", err, ls)
	}
	// Show finds an address given in any case form, and a cluster.
	sh, err := s.Show(ctx, "BC1QARDCXZ845JW83VGFVCMEWHUXA0AG9GCHJWMCFD", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sh.Labels) != 1 || sh.Labels[0].Entity != "Broker Y" || sh.Labels[0].Program != "SDNTK; FTO" || len(sh.History) != 1 || !sh.History[0].Current {
		t.Errorf("show: %+v", sh)
	}
	if sh, err := s.Show(ctx, "cluster:42", time.Time{}); err != nil || len(sh.Labels) != 1 || sh.Labels[0].Entity != "Cartel wallet cluster" {
		t.Errorf("show cluster: %v %+v", err, sh)
	}
	if _, err := s.Show(ctx, "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", time.Time{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown address: got %v, want ErrNotFound", err)
	}
	if _, err := s.Show(ctx, "1BoatSLRHtKNngkdXEeobR76b53LETtpyX", time.Time{}); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("malformed address: got %v, want a parse error", err)
	}
}

func countRows(t *testing.T, ctx context.Context, s *Store, table string) uint64 {
	t.Helper()
	rows, err := s.conn.Query(ctx, "SELECT count() FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n uint64
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func testIdempotent(t *testing.T, ctx context.Context, s *Store) {
	imp := csvImport(t, "idem", rowA, rowB)
	first, err := s.Write(ctx, imp, WriteOptions{})
	if err != nil || first.Unchanged {
		t.Fatalf("first import: %+v %v", first, err)
	}
	entries, imports := countRows(t, ctx, s, "label_entries"), countRows(t, ctx, s, "label_imports")
	// The same file again, parsed anew, even under another file name.
	again := mustParse(t, FormatCSV, Options{Source: "idem"}, File{Name: "copy.csv", Data: []byte(csvHeader + rowA + "\n" + rowB + "\n")})
	res, err := s.Write(ctx, again, WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Unchanged || res.Version.ImportID != first.Version.ImportID {
		t.Errorf("re-import: got %+v, want unchanged %s", res, first.Version.ImportID)
	}
	if e, i := countRows(t, ctx, s, "label_entries"), countRows(t, ctx, s, "label_imports"); e != entries || i != imports {
		t.Errorf("re-import wrote rows: entries %d→%d imports %d→%d", entries, e, imports, i)
	}
	vs, err := s.Versions(ctx, "idem")
	if err != nil || len(vs) != 1 {
		t.Errorf("versions: %v %+v", err, vs)
	}
}

func testSupersede(t *testing.T, ctx context.Context, s *Store) {
	v1, err := s.Write(ctx, csvImport(t, "hist", rowA, rowB), WriteOptions{ValidFrom: day("2024-01-01")})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := s.Write(ctx, csvImport(t, "hist", rowB, rowC), WriteOptions{ValidFrom: day("2024-06-01")})
	if err != nil {
		t.Fatal(err)
	}
	if v2.Superseded == nil || v2.Superseded.ImportID != v1.Version.ImportID || v2.Added != 1 || v2.Removed != 1 || v2.Kept != 1 {
		t.Errorf("v2 result: %+v", v2)
	}
	asOf := func(d string) []string {
		t.Helper()
		var at time.Time
		if d != "" {
			at = day(d)
		}
		ls, err := s.List(ctx, Filter{Source: "hist", AsOf: at})
		if err != nil {
			t.Fatal(err)
		}
		return subjects(ls)
	}
	b := "0x983a81ca6fb1e441266d2fbcb7d8e530ac2e05a2"
	for _, tt := range []struct {
		at   string
		want []string
	}{
		{"2023-12-31", nil},
		{"2024-03-01", []string{b, addrA}},
		{"2024-07-01", []string{b, addrC}},
		{"", []string{b, addrC}},
	} {
		if got := asOf(tt.at); !slices.Equal(got, tt.want) {
			t.Errorf("as of %q: got %v, want %v", tt.at, got, tt.want)
		}
	}
	// B was known since the first version that held it.
	ls, _ := s.List(ctx, Filter{Source: "hist"})
	for _, l := range ls {
		want := day("2024-06-01")
		if l.Address == b {
			want = day("2024-01-01")
		}
		if !l.KnownSince.Equal(want) {
			t.Errorf("%s known since %v, want %v", l.Subject(), l.KnownSince, want)
		}
	}
	// A's provenance: listed by v1, dropped by v2.
	sh, err := s.Show(ctx, addrA, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var h *Appearance
	for i := range sh.History {
		if sh.History[i].Source == "hist" {
			h = &sh.History[i]
		}
	}
	if slices.ContainsFunc(sh.Labels, func(l Label) bool { return l.Source == "hist" }) || h == nil || h.Current || h.First.ImportID != v1.Version.ImportID || h.DroppedBy == nil || h.DroppedBy.ImportID != v2.Version.ImportID {
		t.Errorf("show A now: labels %+v history %+v", sh.Labels, sh.History)
	}
	// As of 2024-02-01, hist's v1 listed it (idem and rt came later).
	sh, err = s.Show(ctx, addrA, day("2024-02-01"))
	if err != nil || len(sh.Labels) != 1 || sh.Labels[0].Source != "hist" {
		t.Errorf("show A as of 2024-02-01: %v %+v", err, sh)
	}
	// An older list imported late lands in the history, not on top.
	if _, err := s.Write(ctx, csvImport(t, "hist", rowA), WriteOptions{ValidFrom: day("2023-06-01")}); err != nil {
		t.Fatal(err)
	}
	if got := asOf("2023-07-01"); !slices.Equal(got, []string{addrA}) {
		t.Errorf("backfilled as of 2023-07-01: got %v", got)
	}
	if got := asOf(""); !slices.Equal(got, []string{b, addrC}) {
		t.Errorf("now after backfill: got %v", got)
	}
	// v1's content again at v1's date changes nothing; re-published today
	// it becomes current again.
	if res, err := s.Write(ctx, csvImport(t, "hist", rowA, rowB), WriteOptions{ValidFrom: day("2024-01-01")}); err != nil || !res.Unchanged {
		t.Errorf("v1 again at its date: %+v %v", res, err)
	}
	if res, err := s.Write(ctx, csvImport(t, "hist", rowA, rowB), WriteOptions{}); err != nil || res.Unchanged || res.Added != 1 || res.Removed != 1 {
		t.Errorf("v1 re-published: %+v %v", res, err)
	}
	if got := asOf(""); !slices.Equal(got, []string{b, addrA}) {
		t.Errorf("now after re-publishing v1: got %v", got)
	}
	// Lookup in bulk, as the tracer labels its endpoints; and several
	// categories at once, as --stop-at asks.
	found, err := s.Lookup(ctx, chain.ETH, []string{b, "0x0000000000000000000000000000000000000001"}, day("2024-03-01"))
	if err != nil || len(found) != 1 || len(found[b]) != 1 || found[b][0].Source != "hist" || found[b][0].Entity != "VALERIAN LABS" {
		t.Errorf("lookup as of 2024-03-01: %v %+v", err, found)
	}
	found, err = s.Lookup(ctx, chain.BTC, []string{b}, time.Time{})
	if err != nil || len(found) != 0 {
		t.Errorf("lookup on the wrong chain: %v %+v", err, found)
	}
	if ls, err := s.List(ctx, Filter{Source: "hist", AsOf: day("2024-07-01"), Categories: []string{CategoryCartel, CategoryMixer}}); err != nil || !slices.Equal(subjects(ls), []string{addrC}) {
		t.Errorf("categories filter: %v %v", err, subjects(ls))
	}
	// Other sources are untouched by all this.
	if ls, err := s.List(ctx, Filter{Source: "idem"}); err != nil || len(ls) != 2 {
		t.Errorf("idem after hist changes: %v %d labels", err, len(ls))
	}
}

func testInterrupted(t *testing.T, ctx context.Context, s *Store) {
	imp := csvImport(t, "crash", rowC)
	imp.Labels[0].Source = "crash"
	// Entries written, import row never written: a crash in between.
	if err := s.insertEntries(ctx, "20240101T000000Z-deadbeef", imp.Labels); err != nil {
		t.Fatal(err)
	}
	if ls, err := s.List(ctx, Filter{Source: "crash"}); err != nil || len(ls) != 0 {
		t.Errorf("half-written import visible: %v %+v", err, ls)
	}
	// The retry imports it properly.
	res, err := s.Write(ctx, imp, WriteOptions{})
	if err != nil || res.Unchanged || res.Added != 1 {
		t.Fatalf("retry: %+v %v", res, err)
	}
	if ls, err := s.List(ctx, Filter{Source: "crash"}); err != nil || len(ls) != 1 {
		t.Errorf("after retry: %v %+v", err, ls)
	}
}
