package eth

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tracerproject/tracer/chain"
)

// TokenSet selects the token contracts whose Transfer logs are kept.
type TokenSet struct {
	all  bool
	keep map[string]bool
}

// DefaultTokens keeps the known stablecoins.
func DefaultTokens() TokenSet {
	s := TokenSet{keep: map[string]bool{}}
	for _, t := range chain.KnownTokens {
		s.keep[strings.ToLower(t.Address)] = true
	}
	return s
}

// ParseTokens reads --tokens: "all", "default" (or empty) for
// chain.KnownTokens,
// or a comma-separated list of known symbols and contract addresses.
func ParseTokens(list string) (TokenSet, error) {
	list = strings.TrimSpace(list)
	switch strings.ToLower(list) {
	case "", "default":
		return DefaultTokens(), nil
	case "all":
		return TokenSet{all: true}, nil
	}
	s := TokenSet{keep: map[string]bool{}}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.HasPrefix(item, "0x") || strings.HasPrefix(item, "0X") {
			a, err := chain.ParseETHAddress(item)
			if err != nil {
				return TokenSet{}, fmt.Errorf("--tokens: %w", err)
			}
			s.keep[a] = true
			continue
		}
		found := false
		for _, t := range chain.KnownTokens {
			if strings.EqualFold(t.Symbol, item) {
				s.keep[strings.ToLower(t.Address)], found = true, true
			}
		}
		if !found {
			return TokenSet{}, fmt.Errorf("--tokens: unknown token %q: give its contract address, a known symbol (%s), default or all", item, strings.Join(chain.KnownTokenSymbols(), ", "))
		}
	}
	if len(s.keep) == 0 {
		return TokenSet{}, fmt.Errorf("--tokens %q selects nothing", list)
	}
	return s, nil
}

// Keeps reports whether transfers of the contract (canonical) are kept.
func (s TokenSet) Keeps(contract string) bool { return s.all || s.keep[contract] }

// String describes the selection.
func (s TokenSet) String() string {
	if s.all {
		return "all"
	}
	var out []string
	for a := range s.keep {
		if t, ok := chain.LookupToken(a); ok {
			out = append(out, t.Symbol)
		} else {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
