package sts

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// oneLine makes server-provided text safe to embed in a one-paragraph error: it
// replaces invalid UTF-8, turns control characters (newlines included, so a
// server cannot forge extra log lines) into spaces and collapses runs of
// whitespace.
func oneLine(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// truncate shortens s to at most n runes, marking the cut with an ellipsis. It
// never splits a rune, so the result stays valid UTF-8.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for i < len(s) && count < n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	return s[:i] + "…"
}

// display prepares a short server-provided value (an ID, a code, a title) for an
// error: scrubbed, on one line, at most n runes. It scrubs again after oneLine
// because joining lines can assemble a secret that a server split across them.
func display(sc scrubber, s string, n int) string {
	return truncate(sc.String(oneLine(sc.String(s))), n)
}
