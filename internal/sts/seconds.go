package sts

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxLifetime bounds every duration in a token response. Entra issues tokens for
// minutes to a day; a value beyond 30 days is a broken or hostile server, and
// accepting it would pin a token in caches far longer than it can be valid.
const maxLifetime = 30 * 24 * time.Hour

// maxSeconds is maxLifetime in seconds.
const maxSeconds = int64(maxLifetime / time.Second)

// parseSeconds reads a token response duration: a whole number of seconds, sent
// by Entra as a JSON number and by ADFS and the v1 endpoint as a string of
// digits. The returned error describes the problem for a field called name and
// never quotes anything but a number, since the response also holds the token.
// present is false, with no error, when the field is absent or null.
func parseSeconds(name string, raw json.RawMessage) (secs int64, present bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	var literal string
	switch c := raw[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, true, fmt.Errorf("%q is not a number", name)
		}
		s = strings.TrimSpace(s)
		if !isNumberLiteral(s) {
			return 0, true, fmt.Errorf("%q is not a number of seconds", name)
		}
		literal = s
	case c == '-' || ('0' <= c && c <= '9'):
		literal = string(raw)
	default:
		return 0, true, fmt.Errorf("%q is not a number", name)
	}

	outOfRange := func() error {
		if strings.HasPrefix(literal, "-") {
			return fmt.Errorf("%q is %s; it must be a positive number of seconds", name, shortNumber(literal))
		}
		return fmt.Errorf("%q is %s; it must be at most 30 days (%d seconds)", name, shortNumber(literal), maxSeconds)
	}
	if v, err := strconv.ParseInt(literal, 10, 64); err == nil {
		return v, true, nil
	} else if errors.Is(err, strconv.ErrRange) {
		return 0, true, outOfRange()
	}
	// A fraction or an exponent: accept it only when it denotes a whole number.
	f, err := strconv.ParseFloat(literal, 64)
	switch {
	case err != nil || math.IsInf(f, 0) || math.Abs(f) > float64(maxSeconds):
		return 0, true, outOfRange()
	case f != math.Trunc(f):
		return 0, true, fmt.Errorf("%q is %s; it must be a whole number of seconds", name, shortNumber(literal))
	}
	return int64(f), true, nil
}

// isNumberLiteral reports whether s is a JSON number. Checking the grammar
// ourselves keeps strconv's extras (hex, "Inf", "NaN", underscores) out.
func isNumberLiteral(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	if i == start {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start = i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

// shortNumber quotes a number literal in an error, shortened so that a megabyte
// of digits cannot flood a log line.
func shortNumber(literal string) string {
	if len(literal) > 24 {
		return literal[:20] + "…"
	}
	return literal
}
