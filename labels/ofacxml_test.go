package labels

import (
	"strings"
	"testing"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/internal/realdata"
)

// sdnAdvanced is a constructed document shaped like OFAC's
// sdn_advanced.xml (see ofacxml.go for what the shape was checked
// against): two drug-program entities, one with a TRON address under XBT,
// one with USDT on Ethereum and an LTC address, a bad EIP-55 address, and a
// party without addresses.
const sdnAdvanced = `<?xml version="1.0" encoding="utf-8"?>
<Sanctions xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns="https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML">
  <DateOfIssue><Year>2024</Year><Month>5</Month><Day>3</Day></DateOfIssue>
  <ReferenceValueSets>
    <AliasTypeValues><AliasType ID="1403">Name</AliasType></AliasTypeValues>
    <FeatureTypeValues>
      <FeatureType ID="25" FeatureTypeGroupID="0">Nationality Country</FeatureType>
      <FeatureType ID="344" FeatureTypeGroupID="1">Digital Currency Address - XBT</FeatureType>
      <FeatureType ID="345" FeatureTypeGroupID="1">Digital Currency Address - ETH</FeatureType>
      <FeatureType ID="566" FeatureTypeGroupID="1">Digital Currency Address - LTC</FeatureType>
      <FeatureType ID="887" FeatureTypeGroupID="1">Digital Currency Address - USDT</FeatureType>
    </FeatureTypeValues>
    <SanctionsTypeValues><SanctionsType ID="1">Program</SanctionsType></SanctionsTypeValues>
  </ReferenceValueSets>
  <DistinctParties>
    <DistinctParty FixedRef="45404" DeltaAction="Add">
      <Comment />
      <Profile ID="45404" PartySubTypeID="4">
        <Identity ID="58230" FixedRef="45404" Primary="true" False="false">
          <Alias FixedRef="45404" AliasTypeID="1403" Primary="true" LowQuality="false">
            <DocumentedName ID="81111" FixedRef="45404" DocNameStatusID="1">
              <DocumentedNamePart><NamePartValue ID="1" NamePartGroupID="2" ScriptID="215" ScriptStatusID="1" Acronym="false">WANG</NamePartValue></DocumentedNamePart>
              <DocumentedNamePart><NamePartValue ID="2" NamePartGroupID="3" ScriptID="215" ScriptStatusID="1" Acronym="false">Mingming</NamePartValue></DocumentedNamePart>
            </DocumentedName>
          </Alias>
          <Alias FixedRef="45404" AliasTypeID="1403" Primary="false" LowQuality="false">
            <DocumentedName ID="81112" FixedRef="45404" DocNameStatusID="1">
              <DocumentedNamePart><NamePartValue ID="3" NamePartGroupID="2" ScriptID="2" ScriptStatusID="1" Acronym="false">王明明</NamePartValue></DocumentedNamePart>
            </DocumentedName>
          </Alias>
        </Identity>
        <Feature ID="60001" FeatureTypeID="25">
          <FeatureVersion ID="1" ReliabilityID="1"><Comment /><VersionDetail DetailTypeID="1430">China</VersionDetail></FeatureVersion>
        </Feature>
        <Feature ID="60002" FeatureTypeID="344">
          <FeatureVersion ID="2" ReliabilityID="1"><Comment /><VersionDetail DetailTypeID="1432">1MLPqwaFFUBZePTjpR3nxRoK19Cv9mPCc7</VersionDetail></FeatureVersion>
          <IdentityReference IdentityID="58230" IdentityFeatureLinkTypeID="1" />
        </Feature>
        <Feature ID="60003" FeatureTypeID="344">
          <FeatureVersion ID="3" ReliabilityID="1"><Comment /><VersionDetail DetailTypeID="1432">TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq</VersionDetail></FeatureVersion>
          <IdentityReference IdentityID="58230" IdentityFeatureLinkTypeID="1" />
        </Feature>
        <Feature ID="60004" FeatureTypeID="887">
          <FeatureVersion ID="4" ReliabilityID="1"><Comment /><VersionDetail DetailTypeID="1432">0xfac583c0cf07ea434052c49115a4682172ab6b4f</VersionDetail></FeatureVersion>
          <IdentityReference IdentityID="58230" IdentityFeatureLinkTypeID="1" />
        </Feature>
      </Profile>
    </DistinctParty>
    <DistinctParty FixedRef="45312" DeltaAction="Add">
      <Profile ID="45312" PartySubTypeID="4">
        <Identity ID="58100" FixedRef="45312" Primary="true" False="false">
          <Alias FixedRef="45312" AliasTypeID="1403" Primary="true" LowQuality="false">
            <DocumentedName ID="81000" FixedRef="45312" DocNameStatusID="1">
              <DocumentedNamePart><NamePartValue ID="5" NamePartGroupID="2" ScriptID="215">SHEN</NamePartValue></DocumentedNamePart>
              <DocumentedNamePart><NamePartValue ID="6" NamePartGroupID="3" ScriptID="215">Xingbiao</NamePartValue></DocumentedNamePart>
            </DocumentedName>
          </Alias>
        </Identity>
        <Feature ID="61001" FeatureTypeID="887">
          <FeatureVersion ID="5" ReliabilityID="1"><Comment /><VersionDetail DetailTypeID="1432">TEAqwfMhXLaomXhZ8KeMhx3njGmQEDnsUR</VersionDetail></FeatureVersion>
        </Feature>
        <Feature ID="61002" FeatureTypeID="345">
          <FeatureVersion ID="6" ReliabilityID="1"><Comment /><VersionDetail DetailTypeID="1432">0x530A64c0ce595026a4a556b703644228179e2d57</VersionDetail></FeatureVersion>
        </Feature>
        <Feature ID="61003" FeatureTypeID="566">
          <FeatureVersion ID="7" ReliabilityID="1"><Comment /><VersionDetail DetailTypeID="1432">LaizKtS5DUhPuP1nTQcc83MS7HwK6vk85z</VersionDetail></FeatureVersion>
        </Feature>
      </Profile>
    </DistinctParty>
    <DistinctParty FixedRef="36">
      <Profile ID="36" PartySubTypeID="3">
        <Identity ID="1" FixedRef="36" Primary="true" False="false">
          <Alias FixedRef="36" AliasTypeID="1403" Primary="true" LowQuality="false">
            <DocumentedName ID="2" FixedRef="36" DocNameStatusID="1">
              <DocumentedNamePart><NamePartValue ID="7" NamePartGroupID="1" ScriptID="215">AEROCARIBBEAN AIRLINES</NamePartValue></DocumentedNamePart>
            </DocumentedName>
          </Alias>
        </Identity>
      </Profile>
    </DistinctParty>
  </DistinctParties>
  <SanctionsEntries>
    <SanctionsEntry ID="20001" ProfileID="45404" ListID="1550">
      <EntryEvent ID="1" EntryEventTypeID="1" LegalBasisID="1"><Date CalendarTypeID="1"><Year>2023</Year><Month>10</Month><Day>3</Day></Date><Comment /></EntryEvent>
      <SanctionsMeasure ID="1" SanctionsTypeID="1"><Comment>ILLICIT-DRUGS-EO14059</Comment><DatePeriod /></SanctionsMeasure>
    </SanctionsEntry>
    <SanctionsEntry ID="20002" ProfileID="45312" ListID="1550">
      <EntryEvent ID="2" EntryEventTypeID="1" LegalBasisID="1"><Date CalendarTypeID="1"><Year>2023</Year><Month>10</Month><Day>3</Day></Date><Comment /></EntryEvent>
      <SanctionsMeasure ID="2" SanctionsTypeID="1"><Comment>ILLICIT-DRUGS-EO14059</Comment></SanctionsMeasure>
      <SanctionsMeasure ID="3" SanctionsTypeID="1"><Comment>SDNTK</Comment></SanctionsMeasure>
    </SanctionsEntry>
  </SanctionsEntries>
</Sanctions>
`

func TestOFACXML(t *testing.T) {
	imp := mustParse(t, FormatOFACXML, Options{}, File{Name: "sdn_advanced.xml", Data: []byte(sdnAdvanced)})
	if imp.Source != "ofac-sdn" {
		t.Errorf("source %q", imp.Source)
	}
	want := []struct{ entity, chain, addr, asset, program string }{
		{"WANG Mingming", chain.BTC, "1MLPqwaFFUBZePTjpR3nxRoK19Cv9mPCc7", "XBT", "ILLICIT-DRUGS-EO14059"},
		{"WANG Mingming", chain.TRON, "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq", "XBT", "ILLICIT-DRUGS-EO14059"},
		{"WANG Mingming", chain.ETH, "0xfac583c0cf07ea434052c49115a4682172ab6b4f", "USDT", "ILLICIT-DRUGS-EO14059"},
		{"SHEN Xingbiao", chain.TRON, "TEAqwfMhXLaomXhZ8KeMhx3njGmQEDnsUR", "USDT", "ILLICIT-DRUGS-EO14059; SDNTK"},
	}
	if len(imp.Labels) != len(want) {
		t.Fatalf("got %d labels %+v, want %d", len(imp.Labels), imp.Labels, len(want))
	}
	for i, w := range want {
		l := imp.Labels[i]
		if l.Entity != w.entity || l.Chain != w.chain || l.Address != w.addr || l.Asset != w.asset || l.Program != w.program ||
			l.Category != CategorySanctioned || !l.KnownSince.Equal(day("2023-10-03")) || l.Reference == "" {
			t.Errorf("label %d: got %+v, want %+v", i, l, w)
		}
		if !strings.HasPrefix(l.Origin, "sdn_advanced.xml:") {
			t.Errorf("label %d: origin %q", i, l.Origin)
		}
	}
	// The mixed-case ETH address fails EIP-55 (one letter's case changed):
	// reported, with the entity.
	if len(imp.Report.Invalid) != 1 || imp.Report.Invalid[0].Entity != "SHEN Xingbiao" || !strings.Contains(imp.Report.Invalid[0].Reason, "EIP-55") {
		t.Errorf("invalid: %v", imp.Report.Invalid)
	}
	if len(imp.Report.Skipped) != 1 || imp.Report.Skipped[0].Value != "LaizKtS5DUhPuP1nTQcc83MS7HwK6vk85z" {
		t.Errorf("skipped: %v", imp.Report.Skipped)
	}
	if len(imp.Report.Warnings) != 1 || imp.Report.Warnings[0].Value != "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq" {
		t.Errorf("warnings: %v", imp.Report.Warnings)
	}
}

func TestOFACXMLBad(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"not xml", "<Sanctions><DistinctParties>", "sdn.xml:1"},
		{"no root", "<Other/>", "no <Sanctions> root"},
		{"no feature types", "<Sanctions><ReferenceValueSets/></Sanctions>", "no FeatureType"},
		{"broken party", "<Sanctions>\n<DistinctParties>\n<DistinctParty FixedRef=\"1\"><Profile></DistinctParty>", "sdn.xml:3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(FormatOFACXML, []File{{Name: "sdn.xml", Data: []byte(tt.doc)}}, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestOFACXMLRealFragment: the Feature element quoted from a real
// sdn_advanced.xml (WalletWasabi's parser, see the README of the shared
// ofac folder) decodes with the structures used here, once put in the
// places the full file has them.
func TestOFACXMLRealFragment(t *testing.T) {
	frag := string(readFile(t, realdata.Path(t, "ofac/sdn_advanced_feature_fragment_UNVERIFIED.xml")).Data)
	ftStart := strings.Index(frag, "<FeatureType ")
	ftEnd := strings.Index(frag, "</FeatureType>") + len("</FeatureType>")
	fStart := strings.Index(frag, "<Feature ID=")
	fEnd := strings.Index(frag, "</Feature>") + len("</Feature>")
	if ftStart < 0 || ftEnd < ftStart || fStart < 0 || fEnd < fStart {
		t.Fatalf("fragment does not hold a FeatureType and a Feature:\n%s", frag)
	}
	doc := `<Sanctions xmlns="https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML">` +
		`<ReferenceValueSets><FeatureTypeValues>` + frag[ftStart:ftEnd] + `</FeatureTypeValues></ReferenceValueSets>` +
		`<DistinctParties><DistinctParty FixedRef="25308"><Profile ID="25308">` + frag[fStart:fEnd] + `</Profile></DistinctParty></DistinctParties></Sanctions>`
	imp := mustParse(t, FormatOFACXML, Options{}, File{Name: "fragment.xml", Data: []byte(doc)})
	if len(imp.Labels) != 1 || imp.Labels[0].Address != "12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h" || imp.Labels[0].Chain != chain.BTC ||
		!strings.Contains(imp.Labels[0].Origin, "entity 25308 feature 31723") {
		t.Errorf("got %+v", imp.Labels)
	}
}
