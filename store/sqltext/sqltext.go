// Package sqltext reads ClickHouse query text the way ClickHouse's lexer
// does (src/Parsers/Lexer.cpp), for the drivers that bind arguments on the
// client: where the `?` placeholders are, and where a quoted literal ends.
package sqltext

// Placeholders calls fn with the offset of every `?` that is a
// placeholder, following ClickHouse's lexer (src/Parsers/Lexer.cpp):
//
//   - 'string' with backslash escapes and ” for a quote;
//   - "identifier" and `identifier`, with the same escapes;
//   - $tag$ heredoc $tag$ (tag may be empty), which starts where a token
//     can start;
//   - -- and "# " / "#!" comments to the end of the line;
//   - /* block comments */, which nest.
//
// An unterminated literal or comment runs to the end of the text, so a `?`
// in it is never replaced (the engine rejects the query anyway).
func Placeholders(q string, fn func(pos int) bool) {
	for i := 0; i < len(q); i++ {
		switch c := q[i]; c {
		case '?':
			if !fn(i) {
				return
			}
		case '\'', '"', '`':
			i = SkipQuoted(q, i, c)
		case '-':
			if i+1 < len(q) && q[i+1] == '-' {
				i = skipLine(q, i)
			}
		case '#':
			if i+1 < len(q) && (q[i+1] == ' ' || q[i+1] == '!') {
				i = skipLine(q, i)
			}
		case '/':
			if i+1 < len(q) && q[i+1] == '*' {
				i = skipBlockComment(q, i)
			}
		case '$':
			if i > 0 && IsWordByte(q[i-1]) {
				continue // part of an identifier such as a$b
			}
			if end, ok := skipHeredoc(q, i); ok {
				i = end
			}
		}
	}
}

// SkipQuoted returns the offset of the closing quote of the literal that
// opens at i, or len(q)-1 when it is unterminated.
func SkipQuoted(q string, i int, quote byte) int {
	for j := i + 1; j < len(q); j++ {
		switch q[j] {
		case '\\':
			j++ // the escaped byte, whatever it is
		case quote:
			if j+1 < len(q) && q[j+1] == quote {
				j++ // doubled quote
				continue
			}
			return j
		}
	}
	return len(q) - 1
}

func skipLine(q string, i int) int {
	for j := i; j < len(q); j++ {
		if q[j] == '\n' {
			return j
		}
	}
	return len(q) - 1
}

func skipBlockComment(q string, i int) int {
	depth := 0
	for j := i; j < len(q); j++ {
		switch {
		case q[j] == '/' && j+1 < len(q) && q[j+1] == '*':
			depth++
			j++
		case q[j] == '*' && j+1 < len(q) && q[j+1] == '/':
			depth--
			j++
			if depth == 0 {
				return j
			}
		}
	}
	return len(q) - 1
}

// skipHeredoc recognizes $tag$ ... $tag$ starting at i. A lone $ that does
// not open a heredoc is not special.
func skipHeredoc(q string, i int) (int, bool) {
	j := i + 1
	for j < len(q) && IsWordByte(q[j]) {
		j++
	}
	if j >= len(q) || q[j] != '$' {
		return i, false
	}
	tag := q[i : j+1]
	for k := j + 1; k+len(tag) <= len(q); k++ {
		if q[k:k+len(tag)] == tag {
			return k + len(tag) - 1, true
		}
	}
	return len(q) - 1, true
}

// IsWordByte reports whether c can be part of an identifier (non-ASCII
// bytes can).
func IsWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}
