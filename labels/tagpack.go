package labels

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// TagPackConfidence maps GraphSense's named confidence levels to 0-100. The
// levels are GraphSense's own (graphsense-tagpack-tool
// src/tagpack/db/confidence.csv, column "level"), which are already on a
// 0-100 scale, so the mapping is the identity on their numbers:
//
//	override 100, ownership 100, ledger_immanent 100, manual_transaction 90,
//	service_api 70, forensic_investigation 70, authority_data 60,
//	trusted_provider 50, service_data 50, forensic 50,
//	untrusted_transaction 40, web_crawl 20, heuristic 10, unknown 5.
//
// (ledger_immanent, heuristic and unknown came with tagpack-tool 23.03,
// per its CHANGELOG; forensic_investigation with a later release.)
//
// A pack that sets no confidence on its header or tag gets "unknown" (5),
// as graphsense-tagpack-tool does (it falls back to the lowest level), and
// the report says so. A number 0-100 is accepted as is.
var TagPackConfidence = map[string]uint8{
	"override":               100,
	"ownership":              100,
	"ledger_immanent":        100,
	"manual_transaction":     90,
	"forensic_investigation": 70,
	"service_api":            70,
	"authority_data":         60,
	"trusted_provider":       50,
	"service_data":           50,
	"forensic":               50,
	"untrusted_transaction":  40,
	"web_crawl":              20,
	"heuristic":              10,
	"unknown":                5,
}

// TagPackCategories maps GraphSense concepts (category, and abuse which
// wins when it maps) to the tracer's categories. A concept not listed here
// keeps its own name (underscores as '-') when that is a configured
// category (labels.categories: [gambling] keeps "gambling"), else becomes
// "other". "market" is GraphSense's concept for Hydra and the other
// darknet markets in the public packs.
var TagPackCategories = map[string]string{
	"exchange":       CategoryExchange,
	"mixing_service": CategoryMixer,
	"mixing":         CategoryMixer,
	"coinjoin":       CategoryMixer,
	"market":         CategoryDarknetMarket,
	"sanction":       CategorySanctioned, // abuse: sanction
}

// tagFields are the TagPack fields a header may set for every tag
// (graphsense tagpack_schema.yaml, "tag:" section).
var tagFields = map[string]bool{
	"label": true, "source": true, "currency": true, "network": true, "context": true,
	"confidence": true, "is_cluster_definer": true, "lastmod": true, "category": true,
	"abuse": true, "address": true, "tx_hash": true, "actor": true, "concepts": true, "tag_type": true,
}

type yamlField struct {
	value string
	line  int
}

func parseTagPacks(imp *Import, files []File, opt Options) error {
	for _, f := range files {
		if err := parseTagPack(imp, f, opt); err != nil {
			return err
		}
	}
	return nil
}

func parseTagPack(imp *Import, f File, opt Options) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(strings.NewReader(decodeText(f.Data)))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: %s: empty TagPack", ErrFormat, f.Name)
		}
		return fmt.Errorf("%w: %s: %v (nothing of %s was imported)", ErrFormat, f.Name, err, f.Name)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return fmt.Errorf("%w: %s:%d: a TagPack is a mapping with a tags: list", ErrFormat, f.Name, doc.Line)
	}
	top := doc.Content[0]
	header := map[string]yamlField{}
	var tags *yaml.Node
	var readHeader func(m *yaml.Node) error
	readHeader = func(m *yaml.Node) error {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			switch {
			case k.Value == "tags":
				if v.Kind != yaml.SequenceNode {
					return fmt.Errorf("%w: %s:%d: tags: must be a list", ErrFormat, f.Name, v.Line)
				}
				tags = v
			case k.Value == "header" && v.Kind == yaml.MappingNode:
				// graphsense-tagpack-tool lifts a header: block to the top.
				if err := readHeader(v); err != nil {
					return err
				}
			case tagFields[k.Value]:
				s, err := scalar(f.Name, k.Value, v)
				if err != nil {
					return err
				}
				header[k.Value] = yamlField{s, v.Line}
			}
		}
		return nil
	}
	if err := readHeader(top); err != nil {
		return err
	}
	if tags == nil {
		return fmt.Errorf("%w: %s: no tags: list", ErrFormat, f.Name)
	}
	var out []Label
	var report Report
	noConfidence := 0
	for n, t := range tags.Content {
		if t.Kind != yaml.MappingNode {
			return fmt.Errorf("%w: %s:%d: tag %d is not a mapping", ErrFormat, f.Name, t.Line, n+1)
		}
		fields := make(map[string]yamlField, len(header)+4)
		for k, v := range header {
			fields[k] = v
		}
		for i := 0; i+1 < len(t.Content); i += 2 {
			k, v := t.Content[i], t.Content[i+1]
			s, err := scalar(f.Name, k.Value, v)
			if err != nil {
				return err
			}
			fields[k.Value] = yamlField{s, v.Line}
		}
		get := func(k string) string { return strings.TrimSpace(fields[k].value) }
		line := t.Line
		entity := get("label")
		iss := Issue{File: f.Name, Line: line, Entity: entity}
		addr := get("address")
		if addr == "" {
			iss.Value = get("tx_hash")
			iss.Reason = "tag has no address (a transaction tag): not imported"
			report.Skipped = append(report.Skipped, iss)
			continue
		}
		iss.Value = addr
		currency := strings.ToUpper(get("currency"))
		network := strings.ToUpper(get("network"))
		asset := currency
		if network != "" && network != currency {
			asset = network
		}
		chain, canon, warn, skip, err := resolveAddress(asset, addr)
		if skip {
			iss.Reason = fmt.Sprintf("currency %s: not on a chain the tracer follows (btc, eth, tron)", orNone(asset))
			report.Skipped = append(report.Skipped, iss)
			continue
		}
		if err != nil {
			iss.Reason = fmt.Sprintf("currency %s: %v", asset, err)
			report.Invalid = append(report.Invalid, iss)
			continue
		}
		if warn != "" {
			iss.Reason = warn
			report.Warnings = append(report.Warnings, iss)
		}
		conf, ok := uint8(0), false
		if c := get("confidence"); c == "" {
			conf, ok = TagPackConfidence["unknown"], true
			noConfidence++
		} else if conf, ok = TagPackConfidence[strings.ToLower(c)]; !ok {
			n, err := strconv.ParseUint(c, 10, 8)
			if err != nil || n > 100 {
				return &LineError{File: f.Name, Line: fields["confidence"].line, Column: "confidence", Value: c,
					Err: fmt.Errorf("%w: unknown confidence level (want one of %s, or 0-100)", ErrFormat, confidenceNames())}
			}
			conf = uint8(n)
		}
		l := Label{
			Chain:      chain,
			Address:    canon,
			Entity:     entity,
			Category:   tagCategory(get("category"), get("abuse"), opt.Categories),
			Reference:  get("source"),
			Confidence: conf,
			Asset:      currency,
			Origin:     fmt.Sprintf("%s:%d tag %d", f.Name, line, n+1),
			Raw:        tagRaw(fields),
		}
		if l.Entity == "" {
			l.Entity = get("actor")
		}
		if l.Entity == "" {
			iss.Reason = "tag has no label (mandatory in the TagPack schema) and no actor: no entity to attribute it to"
			report.Invalid = append(report.Invalid, iss)
			continue
		}
		if s := get("is_cluster_definer"); s != "" {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return &LineError{File: f.Name, Line: fields["is_cluster_definer"].line, Column: "is_cluster_definer", Value: s, Err: fmt.Errorf("%w: want true or false", ErrFormat)}
			}
			l.ApplyToCluster = b
		}
		if s := get("lastmod"); s != "" {
			d, err := ParseDate(s)
			if err != nil {
				return &LineError{File: f.Name, Line: fields["lastmod"].line, Column: "lastmod", Value: s, Err: err}
			}
			l.KnownSince = d
		}
		out = append(out, l)
	}
	if noConfidence > 0 {
		report.Warnings = append(report.Warnings, Issue{File: f.Name, Reason: fmt.Sprintf("%d tags without confidence (mandatory in the TagPack schema): given \"unknown\" (%d), as graphsense-tagpack-tool does", noConfidence, TagPackConfidence["unknown"])})
	}
	imp.Labels = append(imp.Labels, out...)
	imp.Report.Skipped = append(imp.Report.Skipped, report.Skipped...)
	imp.Report.Invalid = append(imp.Report.Invalid, report.Invalid...)
	imp.Report.Warnings = append(imp.Report.Warnings, report.Warnings...)
	return nil
}

// scalar reads a field's value; lists (concepts) are joined with ','.
func scalar(file, key string, v *yaml.Node) (string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		return v.Value, nil
	case yaml.SequenceNode:
		parts := make([]string, 0, len(v.Content))
		for _, c := range v.Content {
			if c.Kind != yaml.ScalarNode {
				return "", fmt.Errorf("%w: %s:%d: %s: a list of plain values expected", ErrFormat, file, c.Line, key)
			}
			parts = append(parts, c.Value)
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("%w: %s:%d: %s: a plain value expected", ErrFormat, file, v.Line, key)
}

func tagCategory(category, abuse string, known *Categories) string {
	for _, c := range []string{abuse, category} {
		c = strings.ToLower(strings.TrimSpace(c))
		if c == "" {
			continue
		}
		if m, ok := TagPackCategories[c]; ok {
			return m
		}
		if n := strings.ReplaceAll(c, "_", "-"); known.Has(n) {
			return n
		}
	}
	return CategoryOther
}

func tagRaw(fields map[string]yamlField) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", k, fields[k].value)
	}
	return b.String()
}

func confidenceNames() string {
	names := make([]string, 0, len(TagPackConfidence))
	for k := range TagPackConfidence {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
