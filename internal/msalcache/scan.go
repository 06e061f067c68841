package msalcache

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// A small JSON reader for the cache document. encoding/json decodes a
// 1,000-token cache in tens of milliseconds (maps of RawMessage, every
// field scanned twice); a cache is re-read by every writer under the lock,
// so that cost multiplies across processes. This reader walks the input
// once: strings without escapes are sliced, not copied through a decoder,
// and only values it does not interpret (unknown fields) are kept raw and
// validated.

type scanner struct {
	data []byte
	pos  int
}

var errSyntax = errors.New("invalid JSON")

func (s *scanner) fail() error {
	return fmt.Errorf("%w at byte %d", errSyntax, s.pos)
}

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return s.fail()
	}
	s.pos++
	return nil
}

// object calls member for each member of the object at the cursor; member
// must consume the value.
func (s *scanner) object(member func(key string) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.fail()
		}
		key, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.fail()
		}
	}
}

// str reads a JSON string at the cursor.
func (s *scanner) str() (string, error) {
	start := s.pos
	s.pos++ // the opening quote
	simple := true
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			raw := s.data[start:s.pos]
			if simple {
				if !utf8.Valid(raw[1 : len(raw)-1]) {
					// encoding/json replaces invalid UTF-8; so do we.
					var out string
					_ = json.Unmarshal(raw, &out)
					return out, nil
				}
				return string(raw[1 : len(raw)-1]), nil
			}
			var out string
			if err := json.Unmarshal(raw, &out); err != nil {
				s.pos = start
				return "", s.fail()
			}
			return out, nil
		case c == '\\':
			simple = false
			s.pos += 2
		case c < 0x20:
			return "", s.fail()
		default:
			s.pos++
		}
	}
	return "", s.fail()
}

// skip moves past the value at the cursor and returns its raw bytes.
func (s *scanner) skip() (json.RawMessage, error) {
	s.ws()
	start := s.pos
	if s.pos >= len(s.data) {
		return nil, s.fail()
	}
	switch c := s.data[s.pos]; {
	case c == '"':
		if _, err := s.str(); err != nil {
			return nil, err
		}
		return s.data[start:s.pos], nil
	case c == '{' || c == '[':
		depth := 0
		for s.pos < len(s.data) {
			switch s.data[s.pos] {
			case '"':
				if _, err := s.str(); err != nil {
					return nil, err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.pos++
			if depth == 0 {
				// Compacted (which also validates), so that rewrites are
				// stable and small.
				var buf bytes.Buffer
				if err := json.Compact(&buf, s.data[start:s.pos]); err != nil {
					s.pos = start
					return nil, s.fail()
				}
				return buf.Bytes(), nil
			}
		}
		return nil, s.fail()
	default:
		for s.pos < len(s.data) {
			switch s.data[s.pos] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				raw := s.data[start:s.pos]
				if !json.Valid(raw) {
					s.pos = start
					return nil, s.fail()
				}
				return raw, nil
			}
			s.pos++
		}
		raw := s.data[start:s.pos]
		if !json.Valid(raw) {
			return nil, s.fail()
		}
		return raw, nil
	}
}

// entryValue reads one field value of an entry: for string fields a string
// or null; for timestamps a string, number or null. A value of the wrong
// type makes the entry bad (an error that is not a syntax error), after
// the value has been consumed, so parsing can go on.
func (s *scanner) stringValue() (string, error) {
	switch s.peek() {
	case '"':
		return s.str()
	case 'n':
		raw, err := s.skip()
		if err != nil {
			return "", err
		}
		if string(raw) != "null" {
			return "", errBadValue("not a string")
		}
		return "", nil
	default:
		if _, err := s.skip(); err != nil {
			return "", err
		}
		return "", errBadValue("not a string")
	}
}

func (s *scanner) timestampValue() (int64, error) {
	raw, err := s.skip()
	if err != nil {
		return 0, err
	}
	n, err := parseTimestamp(raw)
	if err != nil {
		return 0, errBadValue(err.Error())
	}
	return n, nil
}

// errBadValue is an entry-level problem, not a syntax error.
type errBadValue string

func (e errBadValue) Error() string { return string(e) }

// entry reads an entry object. A syntax error is returned as is; an entry
// whose fields have the wrong types is consumed and reported as bad.
func (s *scanner) entry() (*Entry, error) {
	if s.peek() != '{' {
		if _, err := s.skip(); err != nil {
			return nil, err
		}
		return nil, errBadValue("not a JSON object")
	}
	e := &Entry{}
	var bad error
	err := s.object(func(name string) error {
		i, known := fieldIndex[name]
		if !known {
			raw, err := s.skip()
			if err != nil {
				return err
			}
			if e.Extra == nil {
				e.Extra = map[string]json.RawMessage{}
			}
			e.Extra[name] = slices.Clip(raw)
			return nil
		}
		f := fields[i]
		var err error
		if f.str != nil {
			*f.str(e), err = s.stringValue()
		} else {
			*f.num(e), err = s.timestampValue()
		}
		var bv errBadValue
		if errors.As(err, &bv) {
			if bad == nil {
				bad = fmt.Errorf("field %q: %s", name, string(bv))
			}
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if bad != nil {
		return nil, errBadValue(bad.Error())
	}
	return e, nil
}

// appendString appends s as a JSON string, escaped as encoding/json does.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x80 {
			out, _ := json.Marshal(s)
			return append(b, out...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendTimestamp(b []byte, n int64) []byte {
	b = append(b, '"')
	b = strconv.AppendInt(b, n, 10)
	return append(b, '"')
}
