package report

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// ReadWatchlist reads watch entries (ADDR, cluster:ID, label:CATEGORY), one
// per line; # starts a comment.
func ReadWatchlist(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("watch list: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		if text = strings.TrimSpace(text); text == "" {
			continue
		}
		if strings.ContainsAny(text, " \t,") {
			return nil, fmt.Errorf("watch list %s:%d: %q: one entry per line (ADDR, cluster:ID or label:CATEGORY)", path, line, text)
		}
		out = append(out, text)
	}
	return out, sc.Err()
}
