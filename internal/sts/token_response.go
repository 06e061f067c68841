package sts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// TokenResponse is a successful answer from a token endpoint.
//
// It holds live credentials, so its String and GoString methods print only
// which fields are present: a stray %v in a log line must not leak a token.
type TokenResponse struct {
	// AccessToken is the token to present to the resource. Never empty.
	AccessToken string
	// TokenType is the token's scheme, usually "Bearer". Never empty.
	TokenType string
	// ExpiresIn is the access token's lifetime from the moment of the answer:
	// more than zero and at most 30 days.
	ExpiresIn time.Duration
	// ExtExpiresIn is the extended lifetime Entra grants for use while it is
	// unavailable; 0 when the response has none.
	ExtExpiresIn time.Duration
	// RefreshIn is when Entra recommends getting a new token; 0 when the
	// response has none or its value was not earlier than ExpiresIn.
	RefreshIn time.Duration
	// RefreshToken, IDToken, ClientInfo and Scope are passed through as sent;
	// each is empty when the response has none.
	RefreshToken string
	// IDToken is the OpenID Connect ID token of a user flow.
	IDToken string
	// ClientInfo is Entra's base64url client_info (home account identifiers).
	ClientInfo string
	// Scope is the space-separated list of granted scopes.
	Scope string
}

// String describes r without revealing any token.
func (r TokenResponse) String() string {
	return fmt.Sprintf("TokenResponse{TokenType: %q, ExpiresIn: %s, ExtExpiresIn: %s, RefreshIn: %s, Scope: %q, AccessToken: %s, RefreshToken: %s, IDToken: %s, ClientInfo: %s}",
		r.TokenType, r.ExpiresIn, r.ExtExpiresIn, r.RefreshIn, r.Scope,
		presence(r.AccessToken), presence(r.RefreshToken), presence(r.IDToken), presence(r.ClientInfo))
}

// GoString makes %#v as safe as %v.
func (r TokenResponse) GoString() string { return "sts." + r.String() }

// presence stands in for a secret value when printing.
func presence(v string) string {
	if v == "" {
		return "none"
	}
	return "present"
}

// ParseTokenResponse parses the body of a successful (2xx) token response.
//
// It is strict where a lenient reading would hand callers a token they cannot use
// or cache correctly: the body must be a JSON object with non-empty
// "access_token" and "token_type" strings and an "expires_in" of at most 30 days,
// sent as a number or a numeric string. A failure is an *Error whose Message
// names the field; no part of the body is ever quoted, because it holds the
// token.
func ParseTokenResponse(body []byte) (*TokenResponse, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimBOM(body), &fields); err != nil || fields == nil {
		return nil, malformed("token response is not a JSON object")
	}
	r := &TokenResponse{}
	var err error
	if r.AccessToken, err = requiredString(fields, "access_token"); err != nil {
		return nil, err
	}
	if r.TokenType, err = requiredString(fields, "token_type"); err != nil {
		return nil, err
	}
	// A slice, not a map, so that the first bad field reported is always the same.
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"refresh_token", &r.RefreshToken},
		{"id_token", &r.IDToken},
		{"client_info", &r.ClientInfo},
		{"scope", &r.Scope},
	} {
		if *f.dst, err = optionalString(fields, f.name); err != nil {
			return nil, err
		}
	}

	expires, present, err := parseSeconds("expires_in", fields["expires_in"])
	switch {
	case err != nil:
		return nil, malformed(err.Error())
	case !present:
		return nil, malformed(`token response has no "expires_in"`)
	case expires <= 0:
		return nil, malformed(fmt.Sprintf(`"expires_in" is %d; it must be a positive number of seconds`, expires))
	case expires > maxSeconds:
		return nil, malformed(fmt.Sprintf(`"expires_in" is %d; it must be at most 30 days (%d seconds)`, expires, maxSeconds))
	}
	r.ExpiresIn = time.Duration(expires) * time.Second

	if r.ExtExpiresIn, err = optionalSeconds(fields, "ext_expires_in"); err != nil {
		return nil, err
	}
	if r.RefreshIn, err = optionalSeconds(fields, "refresh_in"); err != nil {
		return nil, err
	}
	if r.RefreshIn >= r.ExpiresIn {
		// A refresh hint at or after expiry is useless; the cache's own rule
		// (half the lifetime, or five minutes before expiry) does better.
		r.RefreshIn = 0
	}
	return r, nil
}

// malformed builds the error for a 2xx response that is not a usable token
// response.
func malformed(msg string) *Error {
	return &Error{Message: msg}
}

// requiredString reads a field that must be a non-empty string.
func requiredString(fields map[string]json.RawMessage, name string) (string, error) {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return "", malformed(fmt.Sprintf("token response has no %q", name))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", malformed(fmt.Sprintf("token response %q is not a string", name))
	}
	if s == "" {
		return "", malformed(fmt.Sprintf("token response has an empty %q", name))
	}
	return s, nil
}

// optionalString reads a field that, when present and not null, must be a string.
func optionalString(fields map[string]json.RawMessage, name string) (string, error) {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", malformed(fmt.Sprintf("token response %q is not a string", name))
	}
	return s, nil
}

// optionalSeconds reads an optional duration field. Zero reads as absent; a
// negative, fractional, non-numeric or over-30-days value is an error, because a
// server that garbles these would likely garble expires_in too.
func optionalSeconds(fields map[string]json.RawMessage, name string) (time.Duration, error) {
	v, present, err := parseSeconds(name, fields[name])
	switch {
	case err != nil:
		return 0, malformed(err.Error())
	case !present:
		return 0, nil
	case v < 0:
		return 0, malformed(fmt.Sprintf("%q is %d; it must not be negative", name, v))
	case v > maxSeconds:
		return 0, malformed(fmt.Sprintf("%q is %d; it must be at most 30 days (%d seconds)", name, v, maxSeconds))
	}
	return time.Duration(v) * time.Second, nil
}

// trimBOM drops a UTF-8 byte order mark, which some Windows-hosted servers (ADFS
// among them) put before JSON.
func trimBOM(b []byte) []byte {
	return bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
}
