package devtool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Token is an access token as a tool printed it.
type Token struct {
	AccessToken string
	ExpiresOn   time.Time
}

// ParseError means a tool's output is not the token answer expected. Its
// text describes the shape of the output, never its content: the output may
// hold a token.
type ParseError struct {
	Tool   string
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("unexpected output from %s: %s", e.Tool, e.Reason)
}

// maxToken bounds an access token's length; real ones are a few kilobytes.
const maxToken = 64 << 10

// azTimeLayout is how the Azure CLI prints expiresOn: local time, no zone.
const azTimeLayout = "2006-01-02 15:04:05.999999"

// ParseAzureCLI parses `az account get-access-token --output json`. Newer
// CLIs print expires_on (Unix seconds); older ones, like Debian's 2.45, only
// expiresOn, a local time without zone, read in loc (nil means time.Local).
func ParseAzureCLI(out []byte, loc *time.Location) (Token, error) {
	const tool = "az"
	var v struct {
		AccessToken   json.RawMessage `json:"accessToken"`
		ExpiresOnUnix json.RawMessage `json:"expires_on"`
		ExpiresOn     json.RawMessage `json:"expiresOn"`
	}
	if err := decodeObject(tool, out, &v); err != nil {
		return Token{}, err
	}
	tok, err := tokenField(tool, "accessToken", v.AccessToken)
	if err != nil {
		return Token{}, err
	}
	if exp, ok, err := unixField(tool, "expires_on", v.ExpiresOnUnix); err != nil {
		return Token{}, err
	} else if ok {
		return Token{AccessToken: tok, ExpiresOn: exp}, nil
	}
	s, err := stringField(tool, "expiresOn", v.ExpiresOn)
	if err != nil {
		return Token{}, err
	}
	if loc == nil {
		loc = time.Local
	}
	exp, err := time.ParseInLocation(azTimeLayout, s, loc)
	if err != nil {
		return Token{}, &ParseError{Tool: tool, Reason: fmt.Sprintf("expiresOn %q is not a time of the form %q", shorten(s), azTimeLayout)}
	}
	return Token{AccessToken: tok, ExpiresOn: exp.UTC()}, nil
}

// ParseAzureDeveloperCLI parses `azd auth token --output json`:
// {"token": "...", "expiresOn": "2024-01-01T00:00:00Z"}.
func ParseAzureDeveloperCLI(out []byte) (Token, error) {
	const tool = "azd"
	var v struct {
		Token     json.RawMessage `json:"token"`
		ExpiresOn json.RawMessage `json:"expiresOn"`
	}
	if err := decodeObject(tool, out, &v); err != nil {
		return Token{}, err
	}
	tok, err := tokenField(tool, "token", v.Token)
	if err != nil {
		return Token{}, err
	}
	s, err := stringField(tool, "expiresOn", v.ExpiresOn)
	if err != nil {
		return Token{}, err
	}
	exp, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return Token{}, &ParseError{Tool: tool, Reason: fmt.Sprintf("expiresOn %q is not an RFC 3339 time", shorten(s))}
	}
	return Token{AccessToken: tok, ExpiresOn: exp.UTC()}, nil
}

// ParseAzurePowerShell parses the JSON the credential's script prints:
// {"Token": "...", "ExpiresOn": <Unix seconds>}.
func ParseAzurePowerShell(out []byte) (Token, error) {
	const tool = "Azure PowerShell"
	var v struct {
		Token     json.RawMessage `json:"Token"`
		ExpiresOn json.RawMessage `json:"ExpiresOn"`
	}
	if err := decodeObject(tool, out, &v); err != nil {
		return Token{}, err
	}
	tok, err := tokenField(tool, "Token", v.Token)
	if err != nil {
		return Token{}, err
	}
	exp, ok, err := unixField(tool, "ExpiresOn", v.ExpiresOn)
	if err != nil {
		return Token{}, err
	}
	if !ok {
		return Token{}, &ParseError{Tool: tool, Reason: "the answer has no ExpiresOn"}
	}
	return Token{AccessToken: tok, ExpiresOn: exp}, nil
}

// decodeObject unmarshals one JSON object. Its errors never quote the
// output (encoding/json's messages may quote a character of it).
func decodeObject(tool string, out []byte, v any) error {
	out = bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(out), []byte("\xef\xbb\xbf")))
	if len(out) == 0 {
		return &ParseError{Tool: tool, Reason: "it printed nothing"}
	}
	if out[0] != '{' {
		return &ParseError{Tool: tool, Reason: fmt.Sprintf("%d bytes that are not a JSON object", len(out))}
	}
	if err := json.Unmarshal(out, v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return &ParseError{Tool: tool, Reason: fmt.Sprintf("%d bytes that are not valid JSON (error at byte %d)", len(out), se.Offset)}
		}
		return &ParseError{Tool: tool, Reason: fmt.Sprintf("%d bytes of JSON that are not a token answer", len(out))}
	}
	return nil
}

// tokenField reads the access token. A token is printable ASCII without
// spaces; anything else is garbage, and is not kept.
func tokenField(tool, name string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", &ParseError{Tool: tool, Reason: "the answer has no " + name}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", &ParseError{Tool: tool, Reason: name + " is not a string"}
	}
	if s == "" {
		return "", &ParseError{Tool: tool, Reason: name + " is empty"}
	}
	if len(s) > maxToken {
		return "", &ParseError{Tool: tool, Reason: fmt.Sprintf("%s is %d bytes long, more than any access token", name, len(s))}
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return "", &ParseError{Tool: tool, Reason: name + " contains characters no access token has"}
		}
	}
	return s, nil
}

func stringField(tool, name string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", &ParseError{Tool: tool, Reason: "the answer has no " + name}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", &ParseError{Tool: tool, Reason: name + " is not a string"}
	}
	return s, nil
}

// unixField reads Unix seconds given as a JSON number or a numeric string.
// ok is false when the field is absent.
func unixField(tool, name string, raw json.RawMessage) (t time.Time, ok bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, false, nil
	}
	s := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return time.Time{}, false, &ParseError{Tool: tool, Reason: name + " is not a number"}
		}
	}
	s = strings.TrimSpace(s)
	// Integral seconds; a fraction (some tools print one) is dropped.
	if i := strings.IndexByte(s, '.'); i >= 0 {
		if _, err := strconv.ParseUint(s[i+1:], 10, 64); err != nil && s[i+1:] != "" {
			return time.Time{}, false, &ParseError{Tool: tool, Reason: fmt.Sprintf("%s %q is not Unix seconds", name, shorten(s))}
		}
		s = s[:i]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	// Bound to years 1970..9999 so time arithmetic cannot overflow.
	if err != nil || n <= 0 || n > 253402300799 {
		return time.Time{}, false, &ParseError{Tool: tool, Reason: fmt.Sprintf("%s %q is not Unix seconds", name, shorten(s))}
	}
	return time.Unix(n, 0).UTC(), true, nil
}

// shorten bounds a quoted value in an error and removes anything in it
// that looks like a token.
func shorten(s string) string {
	if strings.Contains(s, "eyJ") {
		// base64url of `{"`: the start of a token, perhaps one cut short
		// or without its dots, which jwtLike would not recognise.
		return "[REDACTED]"
	}
	s = jwtLike.ReplaceAllString(s, "[REDACTED]")
	const n = 64
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
