package labels

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseRemarks: the remarks parser never panics, its items lie inside
// the input in order, and the OFAC CSV importer built on it accepts any
// remarks: every address it imports is canonical for its chain.
func FuzzParseRemarks(f *testing.F) {
	for _, s := range []string{
		"",
		"DOB 25 Mar 1977; Digital Currency Address - XBT 12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h; alt. Digital Currency Address - XBT 1Kuf2Rd8mDyAViwBozGTNYnvWL8uYFrkVo; Gender Male.",
		"Digital Currency Address - USDT 0x983a81ca6FB1e441266D2FbcB7D8E530AC2E05A2; Digital Currency Address - USDT TEAqwfMhXLaomXhZ8KeMhx3njGmQEDnsUR.",
		"alt. Digital Currency Address - XBT TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq; x",
		"x; alt. Digital Currency Address - XBT 1N6XqS",
		"x; alt. Digital Currency Address - XBT ",
		"Digital Currency Address - ",
		";;;Digital Currency Address - ETH;;.",
		"Digital Currency Address - LTC LaizKtS5DUhPuP1nTQcc83MS7HwK6vk85z.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		items := parseRemarks(s)
		prev := 0
		for _, it := range items {
			if it.Start < prev || it.End < it.Start || it.End > len(s) {
				t.Fatalf("item %+v out of order or outside the input (len %d)", it, len(s))
			}
			if !strings.Contains(s[it.Start:it.End], it.Address) || strings.ContainsAny(it.Address, " ;") {
				t.Fatalf("address %q is not a token of its item %q", it.Address, s[it.Start:it.End])
			}
			prev = it.End
		}
		if !utf8.ValidString(s) || strings.ContainsAny(s, "\"\r\n") {
			return
		}
		row := `1,"DOE, John",individual,SDNTK,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"` + s + "\"\r\n"
		imp, err := Parse(FormatOFACCSV, []File{{Name: "SDN.CSV", Data: []byte(row)}}, Options{})
		if err != nil {
			t.Fatalf("remarks %q: %v", s, err)
		}
		for _, l := range imp.Labels {
			if c, err := CanonicalAddress(l.Chain, l.Address); err != nil || c != l.Address {
				t.Fatalf("imported %s %q, which is not canonical: %v", l.Chain, l.Address, err)
			}
		}
	})
}

// FuzzCSV: the CSV importer never panics; it either fails with an error
// naming the file, or every label it returns is valid.
func FuzzCSV(f *testing.F) {
	f.Add(csvHeader + "btc,1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th,A,cartel,s,50\n")
	f.Add(csvHeader + "eth,0x983a81ca6FB1e441266D2FbcB7D8E530AC2E05A2,B,exchange,s,100\n")
	f.Add(csvHeader + "tron,TMStbg5fgb4uTV7fK1gEYF9hKAzP3siPsG,C,mixer,s,0\nbtc,cluster:7,D,other,s,1\n")
	f.Add("confidence,source,category,entity,address,chain,known_since,apply_to_cluster\n50,s,cartel,A,1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th,btc,2024-05-03,true\n")
	f.Add(csvHeader + "btc,\"1JPf,A,cartel,s,50\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, data string) {
		imp, err := Parse(FormatCSV, []File{{Name: "f.csv", Data: []byte(data)}}, Options{})
		if err != nil {
			if !strings.Contains(err.Error(), "f.csv") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		cats, _ := NewCategories()
		for _, l := range imp.Labels {
			if l.Cluster == "" {
				if c, err := CanonicalAddress(l.Chain, l.Address); err != nil || c != l.Address {
					t.Fatalf("label %+v: address not canonical: %v", l, err)
				}
			}
			if l.Confidence > 100 || !cats.Has(l.Category) || l.Entity == "" {
				t.Fatalf("invalid label %+v", l)
			}
		}
	})
}

// checkImport: whatever an importer accepts is canonical and categorised.
func checkImport(t *testing.T, imp *Import) {
	cats, _ := NewCategories()
	for _, l := range imp.Labels {
		if l.Cluster == "" {
			if c, err := CanonicalAddress(l.Chain, l.Address); err != nil || c != l.Address {
				t.Fatalf("label %+v: address not canonical: %v", l, err)
			}
		}
		if l.Confidence > 100 || !cats.Has(l.Category) {
			t.Fatalf("invalid label %+v", l)
		}
	}
}

func FuzzTagPack(f *testing.F) {
	f.Add("title: x\nlabel: Broker\ncurrency: ETH\nconfidence: forensic\ntags:\n- address: '0x983a81ca6FB1e441266D2FbcB7D8E530AC2E05A2'\n")
	f.Add("header:\n  title: x\n  currency: TRX\n  confidence: 77\ntags:\n- address: TMStbg5fgb4uTV7fK1gEYF9hKAzP3siPsG\n  label: Wang\n  is_cluster_definer: true\n")
	f.Add("title: t\ncurrency: USDT\ntags:\n- address: 3LtcaPbCj87CwJHnRX3vh7c2y9RZQqeSy8\n  abuse: sanction\n  lastmod: 2022-01-02\n- tx_hash: ab\n")
	f.Fuzz(func(t *testing.T, data string) {
		imp, err := Parse(FormatTagPack, []File{{Name: "p.yaml", Data: []byte(data)}}, Options{})
		if err != nil {
			if !strings.Contains(err.Error(), "p.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		checkImport(t, imp)
	})
}

func FuzzOFACXML(f *testing.F) {
	f.Add(sdnAdvanced)
	f.Add("<Sanctions><ReferenceValueSets><FeatureTypeValues><FeatureType ID=\"1\">Digital Currency Address - USDT</FeatureType></FeatureTypeValues></ReferenceValueSets>" +
		"<DistinctParties><DistinctParty FixedRef=\"2\"><Profile ID=\"2\"><Feature ID=\"3\" FeatureTypeID=\"1\"><FeatureVersion><VersionDetail>TEAqwfMhXLaomXhZ8KeMhx3njGmQEDnsUR</VersionDetail></FeatureVersion></Feature></Profile></DistinctParty></DistinctParties></Sanctions>")
	f.Fuzz(func(t *testing.T, data string) {
		imp, err := Parse(FormatOFACXML, []File{{Name: "sdn.xml", Data: []byte(data)}}, Options{})
		if err != nil {
			if !strings.Contains(err.Error(), "sdn.xml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		checkImport(t, imp)
	})
}
