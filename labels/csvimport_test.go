package labels

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/tracerproject/tracer/chain"
)

const csvHeader = "chain,address,entity,category,source,confidence\n"

func TestCSVImport(t *testing.T) {
	data := csvHeader +
		"btc,1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th,HEBEI ATUN,precursor-broker,case 2024-17,80\n" +
		"bitcoin,BC1QARDCXZ845JW83VGFVCMEWHUXA0AG9GCHJWMCFD,VALERIAN LABS,precursor-broker,case 2024-17,75\n" +
		"eth,0x983a81ca6FB1e441266D2FbcB7D8E530AC2E05A2,VALERIAN LABS,precursor-broker,case 2024-17,75\n" +
		"TRX,TMStbg5fgb4uTV7fK1gEYF9hKAzP3siPsG,WANG Jiantong,cartel,seized phone,60\n" +
		"btc,cluster:42,Sinaloa cash-out,cartel,informant,40\n"
	imp := mustParse(t, FormatCSV, Options{AddedBy: "analyst-7"}, File{Name: "mine.csv", Data: []byte(data)})
	want := []struct{ chain, addr, cluster, cat string }{
		{chain.BTC, "1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th", "", CategoryPrecursorBroker},
		{chain.BTC, "bc1qardcxz845jw83vgfvcmewhuxa0ag9gchjwmcfd", "", CategoryPrecursorBroker},
		{chain.ETH, "0x983a81ca6fb1e441266d2fbcb7d8e530ac2e05a2", "", CategoryPrecursorBroker},
		{chain.TRON, "TMStbg5fgb4uTV7fK1gEYF9hKAzP3siPsG", "", CategoryCartel},
		{chain.BTC, "", "42", CategoryCartel},
	}
	if len(imp.Labels) != len(want) {
		t.Fatalf("got %d labels, want %d", len(imp.Labels), len(want))
	}
	for i, w := range want {
		l := imp.Labels[i]
		if l.Chain != w.chain || l.Address != w.addr || l.Cluster != w.cluster || l.Category != w.cat || l.AddedBy != "analyst-7" || l.Origin != "mine.csv:"+itoa(i+2) {
			t.Errorf("line %d: got %+v, want %+v", i+2, l, w)
		}
	}
	if imp.Source != "csv:mine" {
		t.Errorf("source %q", imp.Source)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestCSVBadLines(t *testing.T) {
	good := "btc,1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th,A,cartel,s,50\n"
	tests := []struct {
		name, data string
		line       int
		want       string
	}{
		{"no header", "btc,1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th,A,cartel,s,50\n", 1, "unknown column"},
		{"missing column", "chain,address,entity,category,source\n", 1, `lacks column "confidence"`},
		{"unknown chain", csvHeader + good + "ltc,LaizKtS5DUhPuP1nTQcc83MS7HwK6vk85z,A,cartel,s,50\n", 3, `column chain "ltc"`},
		{"bad checksum", csvHeader + good + "btc,1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4tj,A,cartel,s,50\n", 3, `column address "1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4tj"`},
		{"eip55", csvHeader + "eth,0x983a81ca6FB1e441266D2FbcB7D8E530AC2E05A3,A,cartel,s,50\n", 2, "EIP-55"},
		{"cropped eth", csvHeader + "eth,0x983a81ca6fb1e441266d2fbcb7d8e530ac2e05,A,cartel,s,50\n", 2, "38 hex digits"},
		{"tron under btc", csvHeader + "btc,TMStbg5fgb4uTV7fK1gEYF9hKAzP3siPsG,A,cartel,s,50\n", 2, "not a Bitcoin mainnet address"},
		{"testnet", csvHeader + "btc,tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx,A,cartel,s,50\n", 2, "column address"},
		{"category", csvHeader + good + "btc,1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th,A,drug-lord,s,50\n", 3, `unknown category "drug-lord"`},
		{"confidence", csvHeader + "btc,1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th,A,cartel,s,101\n", 2, `column confidence "101"`},
		{"confidence text", csvHeader + "btc,1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th,A,cartel,s,high\n", 2, `column confidence "high"`},
		{"empty entity", csvHeader + "btc,1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th,,cartel,s,50\n", 2, "empty entity"},
		{"fields", csvHeader + good + "btc,1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th,A,cartel\n", 3, "4 fields"},
		{"quote", csvHeader + good + "btc,\"1JPf,A,cartel,s,50\n", 3, "extraneous or missing"},
		{"cluster", csvHeader + "btc,cluster:x,A,cartel,s,50\n", 2, "cluster reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			imp, err := Parse(FormatCSV, []File{{Name: "in.csv", Data: []byte(tt.data)}}, Options{})
			if err == nil {
				t.Fatalf("got %d labels and no error, want an error at line %d", len(imp.Labels), tt.line)
			}
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("got %T %v, want a *LineError", err, err)
			}
			if le.File != "in.csv" || le.Line != tt.line || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q (line %d), want line %d and %q", err, le.Line, tt.line, tt.want)
			}
			if !strings.Contains(err.Error(), "nothing of in.csv was imported") {
				t.Errorf("error does not say nothing was imported: %v", err)
			}
		})
	}
}

func TestCSVExtraCategory(t *testing.T) {
	cats, err := NewCategories("gambling", "ransomware-operator")
	if err != nil {
		t.Fatal(err)
	}
	imp := mustParse(t, FormatCSV, Options{Categories: cats}, File{Name: "x.csv", Data: []byte(csvHeader + "btc,1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th,A,gambling,s,50\n")})
	if imp.Labels[0].Category != "gambling" {
		t.Errorf("got %q", imp.Labels[0].Category)
	}
	if _, err := NewCategories("Bad Name"); err == nil {
		t.Errorf("a category with spaces was accepted")
	}
}

func TestCanonicalAddress(t *testing.T) {
	tests := []struct{ chain, in, want string }{
		{chain.BTC, "1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th", "1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th"},
		{chain.BTC, "BC1QARDCXZ845JW83VGFVCMEWHUXA0AG9GCHJWMCFD", "bc1qardcxz845jw83vgfvcmewhuxa0ag9gchjwmcfd"},
		{chain.BTC, "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr", "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"},
		{chain.BTC, "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798", ""}, // a bare public key
		{chain.BTC, "bc1qARDCXZ845jw83vgfvcmewhuxa0ag9gchjwmcfd", ""},                         // mixed-case bech32
		{chain.ETH, "0X983A81CA6FB1E441266D2FBCB7D8E530AC2E05A2", "0x983a81ca6fb1e441266d2fbcb7d8e530ac2e05a2"},
		{chain.ETH, "983a81ca6fb1e441266d2fbcb7d8e530ac2e05a2", ""},
		{chain.ETH, "0x983a81ca6fb1e441266d2fbcb7d8e530ac2e05a2ff", ""},
		{chain.TRON, "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq", "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq"},
		{chain.TRON, "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzr", ""},
		{chain.TRON, "1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th", ""}, // base58check, version 0x00
	}
	for _, tt := range tests {
		got, err := CanonicalAddress(tt.chain, tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("%s %s: got %s, want an error", tt.chain, tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s %s: got %q, %v, want %q", tt.chain, tt.in, got, err, tt.want)
		}
	}
}
