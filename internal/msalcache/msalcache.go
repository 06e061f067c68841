// Package msalcache reads and writes the MSAL unified token cache schema,
// the JSON document that MSAL libraries in every language (and azidentity's
// persistent cache) keep on disk: sections AccessToken, RefreshToken,
// IdToken, Account and AppMetadata, each a map from a "-"-joined lower-case
// key to an entry.
//
// Parsing is lenient because the file is shared with other programs and
// may have been written by any of them: timestamps may be strings or
// numbers, null and "" mean absent, credential types compare without
// letter case, unknown fields and sections are kept for the rewrite, and a
// bad entry is skipped (and reported) instead of failing the document.
// Writing is strict: canonical keys, one entry per identity, timestamps as
// strings of Unix seconds, as MSAL writes them.
package msalcache

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Kind is one of the schema's sections.
type Kind int

// The schema's sections, in the order they are written.
const (
	AccessToken Kind = iota
	RefreshToken
	IDToken
	Account
	AppMetadata
	numKinds
)

// sectionNames are the JSON names of the sections.
var sectionNames = [numKinds]string{"AccessToken", "RefreshToken", "IdToken", "Account", "AppMetadata"}

// credentialTypes are the credential_type values of the token sections.
var credentialTypes = [numKinds]string{"AccessToken", "RefreshToken", "IdToken", "", ""}

func (k Kind) String() string {
	if k >= 0 && k < numKinds {
		return sectionNames[k]
	}
	return "unknown section"
}

// Entry is one item of any section. Fields a section does not use stay
// empty. Timestamps are Unix seconds, 0 when absent.
type Entry struct {
	HomeAccountID     string
	Environment       string
	Realm             string
	ClientID          string
	CredentialType    string
	Secret            string
	Target            string
	CachedAt          int64
	ExpiresOn         int64
	ExtendedExpiresOn int64
	RefreshOn         int64
	TokenType         string
	FamilyID          string
	UserAssertionHash string
	KeyID             string
	ExtCacheKey       string
	LocalAccountID    string
	Username          string
	AuthorityType     string

	// Extra holds fields this package does not know, verbatim, so that a
	// rewrite keeps what other programs stored.
	Extra map[string]json.RawMessage
}

// field binds a JSON name to an Entry field.
type field struct {
	name string
	str  func(*Entry) *string
	num  func(*Entry) *int64
}

var fields = []field{
	{name: "home_account_id", str: func(e *Entry) *string { return &e.HomeAccountID }},
	{name: "environment", str: func(e *Entry) *string { return &e.Environment }},
	{name: "realm", str: func(e *Entry) *string { return &e.Realm }},
	{name: "client_id", str: func(e *Entry) *string { return &e.ClientID }},
	{name: "credential_type", str: func(e *Entry) *string { return &e.CredentialType }},
	{name: "secret", str: func(e *Entry) *string { return &e.Secret }},
	{name: "target", str: func(e *Entry) *string { return &e.Target }},
	{name: "cached_at", num: func(e *Entry) *int64 { return &e.CachedAt }},
	{name: "expires_on", num: func(e *Entry) *int64 { return &e.ExpiresOn }},
	{name: "extended_expires_on", num: func(e *Entry) *int64 { return &e.ExtendedExpiresOn }},
	{name: "refresh_on", num: func(e *Entry) *int64 { return &e.RefreshOn }},
	{name: "token_type", str: func(e *Entry) *string { return &e.TokenType }},
	{name: "family_id", str: func(e *Entry) *string { return &e.FamilyID }},
	{name: "user_assertion_hash", str: func(e *Entry) *string { return &e.UserAssertionHash }},
	{name: "keyid", str: func(e *Entry) *string { return &e.KeyID }},
	{name: "ext_cache_key", str: func(e *Entry) *string { return &e.ExtCacheKey }},
	{name: "local_account_id", str: func(e *Entry) *string { return &e.LocalAccountID }},
	{name: "username", str: func(e *Entry) *string { return &e.Username }},
	{name: "authority_type", str: func(e *Entry) *string { return &e.AuthorityType }},
}

var fieldIndex = func() map[string]int {
	m := make(map[string]int, len(fields))
	for i, f := range fields {
		m[f.name] = i
	}
	return m
}()

// maxTimestamp bounds timestamps to year 9999 so that no arithmetic on
// them overflows.
const maxTimestamp = 253402300799

// Document is a decoded cache. Treat a Document as immutable once shared:
// [Document.Clone] before changing it.
type Document struct {
	sections [numKinds]map[string]*Entry
	// other holds unknown top-level members verbatim.
	other map[string]json.RawMessage
}

// Problem describes an entry (or section) skipped while parsing. It names
// where the problem is and never includes a secret.
type Problem struct {
	Section string
	Key     string
	Reason  string
}

func (p Problem) String() string {
	if p.Key == "" {
		return fmt.Sprintf("section %q: %s", p.Section, p.Reason)
	}
	return fmt.Sprintf("section %q, entry %q: %s", p.Section, p.Key, p.Reason)
}

// ErrNotADocument is returned by [Parse] when the data is not a JSON object
// at all: nothing in it can be used.
var ErrNotADocument = errors.New("the token cache is not a JSON object")

// New returns an empty document.
func New() *Document {
	d := &Document{}
	for i := range d.sections {
		d.sections[i] = map[string]*Entry{}
	}
	return d
}

// Parse decodes data. Empty data (or only white space) is an empty
// document. Entries that cannot be used are skipped and described in the
// returned problems; the error is non-nil only when data is not a JSON
// object (or not valid JSON at all, such as a truncated file).
func Parse(data []byte) (*Document, []Problem, error) {
	d := New()
	sc := &scanner{data: data}
	switch sc.peek() {
	case 0:
		if sc.pos >= len(data) {
			return d, nil, nil
		}
		return nil, nil, fmt.Errorf("%w: invalid JSON at byte %d", ErrNotADocument, sc.pos)
	case '{':
	default:
		return nil, nil, fmt.Errorf("%w: the top level is not an object", ErrNotADocument)
	}
	var problems []Problem
	err := sc.object(func(name string) error {
		kind, known := sectionKind(name)
		if !known {
			raw, err := sc.skip()
			if err != nil {
				return err
			}
			if d.other == nil {
				d.other = map[string]json.RawMessage{}
			}
			d.other[name] = raw
			return nil
		}
		switch sc.peek() {
		case '{':
		case 'n':
			raw, err := sc.skip()
			if err == nil && string(raw) != "null" {
				problems = append(problems, Problem{Section: name, Reason: "not a JSON object; section dropped"})
			}
			return err
		default:
			_, err := sc.skip()
			problems = append(problems, Problem{Section: name, Reason: "not a JSON object; section dropped"})
			return err
		}
		return sc.object(func(key string) error {
			e, err := sc.entry()
			var bv errBadValue
			if errors.As(err, &bv) {
				problems = append(problems, Problem{Section: name, Key: key, Reason: string(bv)})
				return nil
			}
			if err != nil {
				return err
			}
			canonicalType(kind, e)
			ck := e.Key(kind)
			if prev, dup := d.sections[kind][ck]; dup && !preferNew(prev, e, key == ck) {
				return nil
			}
			d.sections[kind][ck] = e
			return nil
		})
	})
	// Only white space may follow the object. (peek answers 0 at the end
	// and for a NUL byte alike, so the position decides.)
	if sc.ws(); err == nil && sc.pos < len(sc.data) {
		err = sc.fail()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNotADocument, err)
	}
	return d, problems, nil
}

// preferNew decides between two entries with the same identity: the newer
// token wins; on a tie, the one stored under the canonical key.
func preferNew(prev, e *Entry, canonicalKey bool) bool {
	if e.CachedAt != prev.CachedAt {
		return e.CachedAt > prev.CachedAt
	}
	return canonicalKey
}

func sectionKind(name string) (Kind, bool) {
	for k, n := range sectionNames {
		if n == name {
			return Kind(k), true
		}
	}
	return 0, false
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// canonicalType fixes the credential type of token entries: absent or in
// another letter case becomes the schema's spelling. Other values (MSAL.NET's
// PoP types) are kept, so that the entry does not match a bearer lookup.
func canonicalType(kind Kind, e *Entry) {
	want := credentialTypes[kind]
	if want != "" && (e.CredentialType == "" || strings.EqualFold(e.CredentialType, want)) {
		e.CredentialType = want
	}
}

func parseString(v json.RawMessage) (string, error) {
	if isNull(v) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", errors.New("not a string")
	}
	return s, nil
}

// parseTimestamp accepts Unix seconds as a JSON string or number; null and
// "" are absent (0).
func parseTimestamp(v json.RawMessage) (int64, error) {
	if isNull(v) {
		return 0, nil
	}
	text := string(bytes.TrimSpace(v))
	if strings.HasPrefix(text, `"`) {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return 0, errors.New("not a timestamp")
		}
		text = strings.TrimSpace(s)
		if text == "" {
			return 0, nil
		}
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		// Some writers emit 1.7e9 or 1700000000.0.
		f, ferr := strconv.ParseFloat(text, 64)
		if ferr != nil || f != f || f < 0 || f > maxTimestamp {
			return 0, errors.New("not a timestamp in Unix seconds")
		}
		n = int64(f)
	}
	if n < 0 || n > maxTimestamp {
		return 0, errors.New("timestamp out of range")
	}
	return n, nil
}

// Key is the entry's canonical key in section kind, as MSAL computes it.
func (e *Entry) Key(kind Kind) string {
	var ks []string
	switch kind {
	case AccessToken:
		ks = []string{e.HomeAccountID, e.Environment, e.CredentialType, e.ClientID, e.Realm, e.Target}
		// MSAL leaves bearer tokens' type out of the key so that old and
		// new versions share them.
		if !strings.EqualFold(e.TokenType, "bearer") {
			ks = append(ks, e.TokenType)
		}
		if e.ExtCacheKey != "" {
			ks[2] = "atext"
			ks = append(ks, e.ExtCacheKey)
		}
		// On-behalf-of tokens of different users share every other part
		// (no home account, same app, tenant and scopes): without the
		// assertion hash, one user's token would overwrite the other's in
		// the file, which is MSAL Go's persistent OBO bug. MSAL readers
		// match entries by their fields, not their keys, so they still
		// find these.
		if e.UserAssertionHash != "" {
			ks = append(ks, e.UserAssertionHash)
		}
	case RefreshToken:
		fourth := e.FamilyID
		if fourth == "" {
			fourth = e.ClientID
		}
		ks = []string{e.HomeAccountID, e.Environment, e.CredentialType, fourth}
	case IDToken:
		ks = []string{e.HomeAccountID, e.Environment, e.CredentialType, e.ClientID, e.Realm}
	case Account:
		ks = []string{e.HomeAccountID, e.Environment, e.Realm}
	case AppMetadata:
		ks = []string{"appmetadata", e.Environment, e.ClientID}
	}
	return strings.ToLower(strings.Join(ks, "-"))
}

// Clone returns a copy of d that can be changed without affecting d.
// Entries are shared: they are replaced, never changed in place.
func (d *Document) Clone() *Document {
	c := &Document{other: d.other}
	for i, s := range d.sections {
		c.sections[i] = maps.Clone(s)
	}
	return c
}

// Put stores e in section kind under its canonical key, replacing the
// entry with the same identity. e must not be changed afterwards.
func (d *Document) Put(kind Kind, e *Entry) {
	canonicalType(kind, e)
	d.sections[kind][e.Key(kind)] = e
}

// Delete removes the entries of section kind for which match is true and
// reports how many it removed.
func (d *Document) Delete(kind Kind, match func(*Entry) bool) int {
	n := 0
	for k, e := range d.sections[kind] {
		if match(e) {
			delete(d.sections[kind], k)
			n++
		}
	}
	return n
}

// Entries calls yield for every entry of section kind until it returns
// false. The order is unspecified.
func (d *Document) Entries(kind Kind, yield func(*Entry) bool) {
	for _, e := range d.sections[kind] {
		if !yield(e) {
			return
		}
	}
}

// Len returns the number of entries in section kind.
func (d *Document) Len(kind Kind) int { return len(d.sections[kind]) }

// Marshal encodes d with canonical keys, sections and fields in a stable
// (sorted) order, and the unknown sections and fields it was read with.
func (d *Document) Marshal() ([]byte, error) {
	names := slices.Collect(maps.Keys(d.other))
	for kind, sec := range d.sections {
		if len(sec) > 0 {
			names = append(names, sectionNames[kind])
		}
	}
	slices.Sort(names)
	size := 64
	for _, sec := range d.sections {
		size += 400 * len(sec)
	}
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, name := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, name)
		b = append(b, ':')
		kind, known := sectionKind(name)
		if !known || len(d.sections[kind]) == 0 {
			b = append(b, d.other[name]...)
			continue
		}
		sec := d.sections[kind]
		b = append(b, '{')
		for j, k := range slices.Sorted(maps.Keys(sec)) {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = sec[k].appendJSON(b)
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// sortedFields are the known fields in name order.
var sortedFields = func() []field {
	fs := slices.Clone(fields)
	slices.SortFunc(fs, func(a, b field) int { return strings.Compare(a.name, b.name) })
	return fs
}()

// appendJSON appends e as a JSON object with its fields (known and extra)
// in name order; absent fields are left out.
func (e *Entry) appendJSON(b []byte) []byte {
	extra := slices.Sorted(maps.Keys(e.Extra))
	b = append(b, '{')
	first := true
	sep := func() {
		if !first {
			b = append(b, ',')
		}
		first = false
	}
	xi := 0
	emitExtraBefore := func(name string) {
		for xi < len(extra) && (name == "" || extra[xi] < name) {
			sep()
			b = appendString(b, extra[xi])
			b = append(b, ':')
			b = append(b, e.Extra[extra[xi]]...)
			xi++
		}
	}
	for _, f := range sortedFields {
		if f.str != nil {
			v := *f.str(e)
			if v == "" {
				continue
			}
			emitExtraBefore(f.name)
			sep()
			b = appendString(b, f.name)
			b = append(b, ':')
			b = appendString(b, v)
		} else {
			n := *f.num(e)
			if n <= 0 {
				continue
			}
			emitExtraBefore(f.name)
			sep()
			b = appendString(b, f.name)
			b = append(b, ':')
			// MSAL writes timestamps as strings and older MSALs read
			// only strings.
			b = appendTimestamp(b, n)
		}
	}
	emitExtraBefore("")
	return append(b, '}')
}
