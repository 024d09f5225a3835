package labels

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// The advanced XML (sdn_advanced.xml) importer.
//
// The element names were checked against three independent readers of it:
//   - 0xB10C/ofac-sanctioned-digital-currency-addresses (generate-address-list.py
//     and src/lib.rs): FeatureType under ReferenceValueSets/FeatureTypeValues
//     whose text is "Digital Currency Address - <ASSET>" gives the ID; every
//     element under DistinctParties with that FeatureTypeID holds the address
//     in its VersionDetail descendants; namespace
//     https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML
//     (older files used http://www.un.org/sanctions/1.0, so names are
//     matched without their namespace).
//   - WalletWasabi's OfacSdnParser.cs, quoting a real Feature:
//     <Feature ID="31723" FeatureTypeID="344"><FeatureVersion ID="29462"
//     ReliabilityID="1"><Comment /><VersionDetail DetailTypeID="1432">12QtD5...
//     </VersionDetail></FeatureVersion><IdentityReference IdentityID="17012"
//     IdentityFeatureLinkTypeID="1" /></Feature> (the same element shape is in
//     ../shared/realdata/ofac/sdn_advanced_feature_fragment_UNVERIFIED.xml).
//   - Python and TypeScript readers in public repositories for names and
//     programs: DistinctParty(FixedRef)/Profile(ID)/Identity(Primary)/
//     Alias(Primary)/DocumentedName/DocumentedNamePart/NamePartValue(ScriptID),
//     and SanctionsEntries/SanctionsEntry(ProfileID)/SanctionsMeasure/Comment
//     for the program, EntryEvent/Date/Year|Month|Day for the listing date.
// The element names are therefore corroborated; the test document is
// constructed to that shape, not copied from OFAC.

type xmlFeatureType struct {
	ID   string `xml:"ID,attr"`
	Text string `xml:",chardata"`
}

type xmlReferenceValueSets struct {
	FeatureTypes []xmlFeatureType `xml:"FeatureTypeValues>FeatureType"`
}

type xmlNamePart struct {
	ScriptID string `xml:"ScriptID,attr"`
	Value    string `xml:",chardata"`
}

type xmlAlias struct {
	Primary string `xml:"Primary,attr"`
	Names   []struct {
		Parts []xmlNamePart `xml:"DocumentedNamePart>NamePartValue"`
	} `xml:"DocumentedName"`
}

type xmlFeature struct {
	ID            string   `xml:"ID,attr"`
	FeatureTypeID string   `xml:"FeatureTypeID,attr"`
	Details       []string `xml:"FeatureVersion>VersionDetail"`
}

type xmlProfile struct {
	ID         string `xml:"ID,attr"`
	Identities []struct {
		Primary string     `xml:"Primary,attr"`
		Aliases []xmlAlias `xml:"Alias"`
	} `xml:"Identity"`
	Features []xmlFeature `xml:"Feature"`
}

type xmlDistinctParty struct {
	FixedRef string       `xml:"FixedRef,attr"`
	Profiles []xmlProfile `xml:"Profile"`
}

type xmlDate struct {
	Year  int `xml:"Year"`
	Month int `xml:"Month"`
	Day   int `xml:"Day"`
}

type xmlSanctionsEntry struct {
	ProfileID string `xml:"ProfileID,attr"`
	Events    []struct {
		Date xmlDate `xml:"Date"`
	} `xml:"EntryEvent"`
	Measures []struct {
		Comment string `xml:"Comment"`
	} `xml:"SanctionsMeasure"`
}

// latinScriptID is the ScriptID of Latin names in OFAC's reference values;
// other scripts (Chinese, Cyrillic) are used only when there is no Latin.
const latinScriptID = "215"

type xmlParty struct {
	uid, name string
	line      int
	features  []xmlFeature
}

func parseOFACXML(imp *Import, files []File, opt Options) error {
	if len(files) != 1 {
		return fmt.Errorf("labels: ofac-xml takes one sdn_advanced.xml, got %d files", len(files))
	}
	f := files[0]
	dec := xml.NewDecoder(bytes.NewReader(f.Data))
	dcaTypes := map[string]string{} // FeatureType ID -> asset
	var parties []xmlParty
	programs := map[string][]string{}
	listed := map[string]time.Time{}
	sawRoot := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line, _ := dec.InputPos()
			return fmt.Errorf("%w: %s:%d: %v (nothing of %s was imported)", ErrFormat, f.Name, line, err, f.Name)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		line, _ := dec.InputPos()
		fail := func(err error) error {
			return fmt.Errorf("%w: %s:%d: <%s>: %v (nothing of %s was imported)", ErrFormat, f.Name, line, se.Name.Local, err, f.Name)
		}
		switch se.Name.Local {
		case "Sanctions":
			sawRoot = true
		case "ReferenceValueSets":
			var r xmlReferenceValueSets
			if err := dec.DecodeElement(&r, &se); err != nil {
				return fail(err)
			}
			for _, ft := range r.FeatureTypes {
				if asset, ok := strings.CutPrefix(strings.TrimSpace(ft.Text), dcaMarker); ok {
					dcaTypes[ft.ID] = strings.TrimSpace(asset)
				}
			}
		case "DistinctParty":
			var p xmlDistinctParty
			if err := dec.DecodeElement(&p, &se); err != nil {
				return fail(err)
			}
			for _, pr := range p.Profiles {
				uid := p.FixedRef
				if uid == "" {
					uid = pr.ID
				}
				parties = append(parties, xmlParty{uid: uid, name: profileName(pr), line: line, features: pr.Features})
			}
		case "SanctionsEntry":
			var e xmlSanctionsEntry
			if err := dec.DecodeElement(&e, &se); err != nil {
				return fail(err)
			}
			for _, m := range e.Measures {
				if c := strings.TrimSpace(m.Comment); c != "" && !containsString(programs[e.ProfileID], c) {
					programs[e.ProfileID] = append(programs[e.ProfileID], c)
				}
			}
			for _, ev := range e.Events {
				d := ev.Date
				if d.Year == 0 {
					continue
				}
				t := time.Date(d.Year, time.Month(max(d.Month, 1)), max(d.Day, 1), 0, 0, 0, 0, time.UTC)
				if old, ok := listed[e.ProfileID]; !ok || t.Before(old) {
					listed[e.ProfileID] = t
				}
			}
		}
	}
	if !sawRoot {
		return fmt.Errorf("%w: %s: no <Sanctions> root element: not an OFAC advanced XML file", ErrFormat, f.Name)
	}
	if len(dcaTypes) == 0 {
		return fmt.Errorf("%w: %s: no FeatureType named %q<ASSET> in ReferenceValueSets", ErrFormat, f.Name, dcaMarker)
	}
	for _, p := range parties {
		for _, ft := range p.features {
			asset, ok := dcaTypes[ft.FeatureTypeID]
			if !ok {
				continue
			}
			for _, detail := range ft.Details {
				addr := strings.TrimSpace(detail)
				raw := dcaMarker + asset + " " + addr
				iss := Issue{File: f.Name, Line: p.line, Entity: p.name, Value: addr}
				if addr == "" {
					iss.Reason = fmt.Sprintf("feature %s (%s%s) has an empty VersionDetail", ft.ID, dcaMarker, asset)
					imp.Report.Invalid = append(imp.Report.Invalid, iss)
					continue
				}
				chain, canon, warn, skip, err := resolveAddress(asset, addr)
				if skip {
					iss.Reason = fmt.Sprintf("asset %s: not on a chain the tracer follows (btc, eth, tron)", asset)
					imp.Report.Skipped = append(imp.Report.Skipped, iss)
					continue
				}
				if err != nil {
					iss.Reason = err.Error()
					imp.Report.Invalid = append(imp.Report.Invalid, iss)
					continue
				}
				if warn != "" {
					iss.Reason = warn
					imp.Report.Warnings = append(imp.Report.Warnings, iss)
				}
				progs := programs[p.uid]
				sort.Strings(progs)
				imp.Labels = append(imp.Labels, Label{
					Chain:      chain,
					Address:    canon,
					Entity:     p.name,
					Category:   CategorySanctioned,
					Reference:  "OFAC SDN entity " + p.uid,
					Confidence: opt.OFACConfidence,
					KnownSince: listed[p.uid],
					Program:    strings.Join(progs, "; "),
					Asset:      strings.ToUpper(asset),
					Origin:     fmt.Sprintf("%s:%d entity %s feature %s", f.Name, p.line, p.uid, ft.ID),
					Raw:        raw,
				})
			}
		}
	}
	return nil
}

// profileName is the primary identity's primary alias, Latin script
// preferred, its name parts joined by spaces in document order.
func profileName(p xmlProfile) string {
	var fallback string
	for _, id := range p.Identities {
		for _, a := range id.Aliases {
			for _, dn := range a.Names {
				var latin, other []string
				for _, part := range dn.Parts {
					v := strings.TrimSpace(part.Value)
					if v == "" {
						continue
					}
					if part.ScriptID == latinScriptID || part.ScriptID == "" {
						latin = append(latin, v)
					} else {
						other = append(other, v)
					}
				}
				name := strings.Join(latin, " ")
				if name == "" {
					name = strings.Join(other, " ")
				}
				if name == "" {
					continue
				}
				if id.Primary == "true" && a.Primary == "true" && len(latin) > 0 {
					return name
				}
				if fallback == "" {
					fallback = name
				}
			}
		}
	}
	return fallback
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
