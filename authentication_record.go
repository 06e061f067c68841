package azid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// supportedRecordVersion is the only AuthenticationRecord format version,
// shared by every Azure Identity library.
const supportedRecordVersion = "1.0"

// maxRecordSize bounds a record file: real ones are a few hundred bytes.
const maxRecordSize = 64 << 10

// AuthenticationRecord says which account a user credential signed in:
// enough to find that account's tokens in a persistent cache later, and no
// secret, so it can be stored as plain JSON (see
// [SaveAuthenticationRecord]). Get one from a user credential's
// Authenticate method and pass it back in the credential's options.
//
// The JSON field names are those of every Azure Identity library
// (azidentity, .NET, Python, Java, JavaScript), so a record written by one
// is read by the others.
type AuthenticationRecord struct {
	// Authority is the authority host that issued the tokens, e.g.
	// "https://login.microsoftonline.com".
	Authority string `json:"authority"`
	// ClientID is the application the user signed in to.
	ClientID string `json:"clientId"`
	// HomeAccountID identifies the account: "<object ID>.<home tenant ID>".
	HomeAccountID string `json:"homeAccountId"`
	// TenantID is the tenant the user signed in to.
	TenantID string `json:"tenantId"`
	// Username is the user's sign-in name (preferred_username).
	Username string `json:"username"`
	// Version is the record format, "1.0".
	Version string `json:"version"`
}

// UnmarshalJSON reads a record, refusing ones whose version is missing or
// unknown, as azidentity does: a future format may mean something else by
// the same fields. Field names match case-insensitively, so records from
// SDKs that capitalise differently are read too.
func (a *AuthenticationRecord) UnmarshalJSON(b []byte) error {
	type plain AuthenticationRecord
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("AuthenticationRecord: not a JSON record: %w", err)
	}
	if p.Version == "" {
		return errors.New("AuthenticationRecord: the record has no version")
	}
	if p.Version != supportedRecordVersion {
		return fmt.Errorf("AuthenticationRecord: unsupported version %q; this module reads version %q", p.Version, supportedRecordVersion)
	}
	*a = AuthenticationRecord(p)
	return nil
}

// ParseAuthenticationRecord reads a record from JSON and checks that it
// names an account: a home account ID of the form "<uid>.<utid>" and an
// https authority. Use it (or [LoadAuthenticationRecord]) on data from
// outside the program.
func ParseAuthenticationRecord(data []byte) (AuthenticationRecord, error) {
	if len(data) > maxRecordSize {
		return AuthenticationRecord{}, fmt.Errorf("AuthenticationRecord: the record is over %d bytes; it is not a record", maxRecordSize)
	}
	var r AuthenticationRecord
	if err := json.Unmarshal(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), &r); err != nil {
		return AuthenticationRecord{}, err
	}
	if err := r.validate(); err != nil {
		return AuthenticationRecord{}, err
	}
	return r, nil
}

// validate checks a non-zero record before a credential relies on it.
func (a AuthenticationRecord) validate() error {
	uid, utid, ok := strings.Cut(a.HomeAccountID, ".")
	if !ok || uid == "" || utid == "" || strings.Contains(utid, ".") {
		return fmt.Errorf(`AuthenticationRecord: homeAccountId %q is not of the form "<object ID>.<tenant ID>"`, shortForError(a.HomeAccountID))
	}
	if a.Authority != "" {
		if _, err := a.authorityHost(); err != nil {
			return err
		}
	}
	return nil
}

// authorityHost is the host (and port) of Authority. Records from some SDKs
// hold a full authority URL with a tenant path; only the host matters.
func (a AuthenticationRecord) authorityHost() (string, error) {
	s := a.Authority
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Scheme != "https" {
		return "", fmt.Errorf("AuthenticationRecord: authority %q is not an https authority host", shortForError(a.Authority))
	}
	return strings.ToLower(u.Host), nil
}

// isZero reports whether the record is unset.
func (a AuthenticationRecord) isZero() bool { return a == AuthenticationRecord{} }

// SaveAuthenticationRecord writes r as JSON to path, readable by the user
// only (0600), creating its directory (0700) when missing. The file is
// replaced atomically: a reader never sees half a record.
func SaveAuthenticationRecord(path string, r AuthenticationRecord) error {
	if r.Version == "" {
		r.Version = supportedRecordVersion
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("SaveAuthenticationRecord: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("SaveAuthenticationRecord: creating %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".authrecord-*")
	if err != nil {
		return fmt.Errorf("SaveAuthenticationRecord: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600 already; Chmod covers odd umasks and
	// filesystems.
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("SaveAuthenticationRecord: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("SaveAuthenticationRecord: writing %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("SaveAuthenticationRecord: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("SaveAuthenticationRecord: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("SaveAuthenticationRecord: %w", err)
	}
	ok = true
	return nil
}

// LoadAuthenticationRecord reads a record saved by
// [SaveAuthenticationRecord] or by another Azure Identity library. A
// missing file is an error satisfying errors.Is(err, fs.ErrNotExist), so a
// program can tell "never signed in" from a damaged file.
func LoadAuthenticationRecord(path string) (AuthenticationRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return AuthenticationRecord{}, fmt.Errorf("LoadAuthenticationRecord: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRecordSize+1))
	if err != nil {
		return AuthenticationRecord{}, fmt.Errorf("LoadAuthenticationRecord: reading %s: %w", path, err)
	}
	r, err := ParseAuthenticationRecord(b)
	if err != nil {
		return AuthenticationRecord{}, fmt.Errorf("LoadAuthenticationRecord: %s: %w", path, err)
	}
	return r, nil
}

// shortForError bounds outside text quoted in an error.
func shortForError(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
