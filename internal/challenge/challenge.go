// Package challenge parses WWW-Authenticate headers (RFC 9110 §11.6.1):
// the challenges a resource sends with a 401, such as a Continuous Access
// Evaluation claims challenge.
//
// The input comes from whatever server a request was sent to, so the parser
// accepts anything without panicking, recovers from a malformed challenge at
// the next one, and bounds what it keeps.
package challenge

import "strings"

// Limits on what Parse keeps. Real challenges have a handful of parameters;
// the bounds only stop a hostile header from making the client allocate in
// proportion to its size.
const (
	maxChallenges = 32
	maxParams     = 32
)

// Challenge is one authentication challenge: a scheme and either a token68
// or a list of parameters.
type Challenge struct {
	// Scheme is the auth-scheme as sent ("Bearer"); compare it with
	// strings.EqualFold, schemes are case-insensitive.
	Scheme string
	// Token68 is the challenge's single token68 value, if it has one.
	Token68 string
	// Params are the auth-params in order, names lower-cased (parameter
	// names are case-insensitive), quoted values unquoted.
	Params []Param
}

// Param is one auth-param.
type Param struct{ Name, Value string }

// Param returns the value of the first parameter called name (lower-case),
// and "" when there is none.
func (c *Challenge) Param(name string) string {
	for _, p := range c.Params {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// Parse returns the challenges in the values of WWW-Authenticate headers.
// Malformed parts are skipped: a challenge that cannot be read is dropped
// and parsing resumes at the next comma that can start a challenge.
func Parse(values []string) []Challenge {
	var out []Challenge
	for _, v := range values {
		p := parser{s: v}
		for len(out) < maxChallenges {
			c, ok, more := p.challenge()
			if ok {
				out = append(out, c)
			}
			if !more {
				break
			}
		}
	}
	return out
}

type parser struct {
	s string
	i int
}

func (p *parser) eof() bool { return p.i >= len(p.s) }

// skipOWS skips optional whitespace (SP and HTAB).
func (p *parser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// skipSeparators skips whitespace and empty list elements.
func (p *parser) skipSeparators() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == ',') {
		p.i++
	}
}

// token reads a token (1*tchar) and returns "" when there is none.
func (p *parser) token() string {
	start := p.i
	for p.i < len(p.s) && isTchar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// challenge reads one challenge. ok reports whether one was read; more
// whether the input continues.
func (p *parser) challenge() (c Challenge, ok, more bool) {
	p.skipSeparators()
	if p.eof() {
		return c, false, false
	}
	c.Scheme = p.token()
	if c.Scheme == "" {
		p.recover()
		return c, false, !p.eof()
	}
	p.skipOWS()
	if p.eof() {
		return c, true, false
	}
	if p.s[p.i] == ',' {
		return c, true, true
	}
	// A token68 is one value that is not followed by "=value"; it may end
	// in '=' padding.
	if t, ok := p.token68(); ok {
		c.Token68 = t
		return c, true, p.listContinues()
	}
	for {
		name, value, ok := p.param()
		if !ok {
			p.recover()
			// Keep what was read of a challenge whose later parameters are
			// malformed: its scheme and earlier parameters are still right.
			return c, true, !p.eof()
		}
		if len(c.Params) < maxParams {
			c.Params = append(c.Params, Param{Name: strings.ToLower(name), Value: value})
		}
		if !p.listContinues() {
			return c, true, false
		}
		// After a comma comes another parameter of this challenge
		// (name "=") or the next challenge (scheme, then space or end).
		save := p.i
		p.skipSeparators()
		if p.eof() {
			return c, true, false
		}
		if !p.paramAhead() {
			p.i = save
			return c, true, true
		}
	}
}

// listContinues consumes whitespace and reports whether a comma (or more
// input) follows; at the end of the input it reports false.
func (p *parser) listContinues() bool {
	p.skipOWS()
	return !p.eof()
}

// paramAhead reports whether the input at p.i is "token BWS =" and not a
// token68 (which would end in '=' followed by the end of the list).
func (p *parser) paramAhead() bool {
	save := p.i
	defer func() { p.i = save }()
	if p.token() == "" {
		return false
	}
	p.skipOWS()
	return !p.eof() && p.s[p.i] == '='
}

// token68 reads a token68 when the input at p.i is one: token68 characters,
// optional '=' padding, then the end of the challenge (end of input or a
// comma). Otherwise it reads nothing.
func (p *parser) token68() (string, bool) {
	start := p.i
	j := p.i
	for j < len(p.s) && isToken68Char(p.s[j]) {
		j++
	}
	if j == start {
		return "", false
	}
	for j < len(p.s) && p.s[j] == '=' {
		j++
	}
	k := j
	for k < len(p.s) && (p.s[k] == ' ' || p.s[k] == '\t') {
		k++
	}
	if k < len(p.s) && p.s[k] != ',' {
		return "", false
	}
	// "name=" followed by the end is read as a token68 too: a parameter
	// needs a value, so that is the only reading that fits.
	p.i = j
	return p.s[start:j], true
}

// param reads "name BWS = BWS (token / quoted-string)".
func (p *parser) param() (name, value string, ok bool) {
	name = p.token()
	if name == "" {
		return "", "", false
	}
	p.skipOWS()
	if p.eof() || p.s[p.i] != '=' {
		return "", "", false
	}
	p.i++
	p.skipOWS()
	if p.eof() {
		return "", "", false
	}
	if p.s[p.i] == '"' {
		value, ok = p.quoted()
		return name, value, ok
	}
	value = p.token()
	return name, value, value != ""
}

// quoted reads a quoted-string, undoing backslash escapes.
func (p *parser) quoted() (string, bool) {
	p.i++ // opening quote
	start := p.i
	// Fast path: no escapes, so the value is a substring.
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '"':
			v := p.s[start:p.i]
			p.i++
			return v, true
		case '\\':
			return p.quotedEscaped(start)
		}
		p.i++
	}
	return "", false // unterminated
}

func (p *parser) quotedEscaped(start int) (string, bool) {
	var b strings.Builder
	b.WriteString(p.s[start:p.i])
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '"':
			p.i++
			return b.String(), true
		case '\\':
			p.i++
			if p.i >= len(p.s) {
				return "", false
			}
			c = p.s[p.i]
		}
		b.WriteByte(c)
		p.i++
	}
	return "", false
}

// recover skips past the malformed part: to the next comma outside a
// quoted string, or the end.
func (p *parser) recover() {
	inQuote := false
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case inQuote && c == '\\':
			p.i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == ',':
			return
		}
		p.i++
	}
}

// isTchar reports whether c may appear in a token (RFC 9110 §5.6.2).
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isToken68Char reports whether c may appear in a token68 before its
// padding (RFC 9110 §11.2).
func isToken68Char(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~+/", c) >= 0
}
