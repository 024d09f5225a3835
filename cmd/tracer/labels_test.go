package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLILabels: import, list, show and a bad CSV line through the binary
// on the embedded store.
func TestCLILabels(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("brokers.csv", "chain,address,entity,category,source,confidence\n"+
		"btc,1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th,HEBEI ATUN,precursor-broker,case 17,80\n"+
		"eth,0x983a81ca6FB1e441266D2FbcB7D8E530AC2E05A2,VALERIAN LABS,precursor-broker,case 17,75\n")
	out := ok(t, "--data", data, "labels", "import", "--format", "csv", "--source", "cases", "--added-by", "analyst-7", "--valid-from", "2024-05-03", good)
	if !strings.Contains(out, "2 labels read") || !strings.Contains(out, "the first version of cases") {
		t.Errorf("import report:\n%s", out)
	}
	if out := ok(t, "--data", data, "labels", "import", "--format", "csv", "--source", "cases", "--valid-from", "2024-05-03", good); !strings.Contains(out, "unchanged") {
		t.Errorf("re-import report:\n%s", out)
	}
	bad := write("bad.csv", "chain,address,entity,category,source,confidence\n"+
		"tron,TMStbg5fgb4uTV7fK1gEYF9hKAzP3siPsG,WANG,cartel,phone,60\n"+
		"eth,0x983a81ca6FB1e441266D2FbcB7D8E530AC2E05A3,X,cartel,phone,60\n")
	fails(t, "bad EIP-55 line", []string{"--data", data, "labels", "import", "--format", "csv", "--source", "cases", bad},
		"bad.csv:3", "0x983a81ca6FB1e441266D2FbcB7D8E530AC2E05A3", "EIP-55", "nothing of")

	var list []struct {
		Chain, Address, Entity, Category, Source string
		AddedBy                                  string `json:"added_by"`
	}
	if err := json.Unmarshal([]byte(ok(t, "--data", data, "labels", "list", "--format", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("after the bad import: %d labels, want the 2 of the good file: %+v", len(list), list)
	}
	for _, l := range list {
		if l.AddedBy != "analyst-7" || l.Source != "cases" {
			t.Errorf("label %+v: want added_by analyst-7, source cases", l)
		}
	}
	out = ok(t, "--data", data, "labels", "list", "--chain", "ethereum", "--format", "csv")
	if !strings.Contains(out, "eth,0x983a81ca6fb1e441266d2fbcb7d8e530ac2e05a2,VALERIAN LABS,precursor-broker,cases,75,2024-05-03") || strings.Count(out, "\n") != 2 {
		t.Errorf("csv list:\n%s", out)
	}
	if out := ok(t, "--data", data, "labels", "list", "--category", "cartel,mixer"); !strings.Contains(out, "0 labels") {
		t.Errorf("list of categories without labels:\n%s", out)
	}
	fails(t, "unknown category", []string{"--data", data, "labels", "list", "--category", "exchange,drug-lord"}, `unknown category "drug-lord"`)
	out = ok(t, "--data", data, "labels", "show", "0x983A81CA6FB1E441266D2FBCB7D8E530AC2E05A2")
	for _, want := range []string{"VALERIAN LABS", "precursor-broker", "analyst-7", "brokers.csv:3", "cases"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	out = ok(t, "--data", data, "labels", "list", "--as-of", "2024-05-02")
	if !strings.Contains(out, "0 labels") {
		t.Errorf("as of the day before the import:\n%s", out)
	}
	out = ok(t, "--data", data, "labels", "imports")
	if strings.Count(out, "cases") != 1 || !strings.Contains(out, "in force") || !strings.Contains(out, "analyst-7") {
		t.Errorf("imports (one version of cases, in force):\n%s", out)
	}
	fails(t, "unknown address", []string{"--data", data, "labels", "show", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"}, "no label")
	fails(t, "bad format", []string{"--data", data, "labels", "import", "--format", "xls", good}, "--format", "ofac-csv")
}
