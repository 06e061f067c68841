package managedidentity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxLifetime bounds a token's lifetime. Managed identity tokens live about
// 24 hours; anything past 30 days is a broken endpoint, and believing it
// would pin a token in the cache long after it stops working.
const maxLifetime = 30 * 24 * time.Hour

// Token is a managed identity token with its lifetime measured from the
// moment the answer arrived.
//
// Its String method hides the token, so a stray %v cannot log it.
type Token struct {
	AccessToken string
	ExpiresIn   time.Duration
	// RefreshIn is the endpoint's refresh_in; 0 when absent or not earlier
	// than ExpiresIn.
	RefreshIn time.Duration
	// The identity the endpoint says it used, when it says (IMDS and Arc
	// echo client_id; Arc agents that honour user-assigned identities echo
	// the selector they were sent).
	ClientID, ObjectID, ResourceID string
}

// String describes t without the token.
func (t Token) String() string {
	return fmt.Sprintf("managedidentity.Token{ExpiresIn: %s, RefreshIn: %s, ClientID: %q}", t.ExpiresIn, t.RefreshIn, t.ClientID)
}

// GoString makes %#v as safe as %v.
func (t Token) GoString() string { return t.String() }

// MalformedResponseError is a successful (2xx) answer that is not a usable
// token response. Reason names the problem; nothing of the body is quoted,
// since it may hold a token.
type MalformedResponseError struct {
	Reason string
}

func (e *MalformedResponseError) Error() string {
	return "the answer is not a usable token response: " + e.Reason
}

func malformed(format string, args ...any) error {
	return &MalformedResponseError{Reason: fmt.Sprintf(format, args...)}
}

// expiresOnLayouts are the date forms endpoints have used for expires_on
// instead of Unix seconds: App Service's 2017 API ("11/28/2026 8:15:00 PM
// +00:00", also with a 24-hour clock), and the forms MSAL accepts. A date
// without a zone is UTC.
var expiresOnLayouts = []string{
	"1/2/2006 3:04:05 PM -07:00",
	"1/2/2006 15:04:05 -07:00",
	"1/2/2006 3:04:05 PM",
	"1/2/2006 15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
	time.RFC3339Nano,
	time.RFC1123Z,
	time.RFC1123,
}

// ParseResponse reads a managed identity endpoint's successful answer.
// now is when the answer arrived; it turns an absolute expires_on into a
// lifetime.
//
// The lifetime comes from expires_in when present (it is immune to clock
// differences between this machine and the endpoint), else from
// expires_on, which may be a number, a numeric string or a date string.
// refresh_in is honoured. A body that is not a JSON object, lacks the
// token or a lifetime, or has a garbled one is a *MalformedResponseError.
func ParseResponse(body []byte, now time.Time) (Token, error) {
	body = bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")))
	if len(body) == 0 {
		return Token{}, malformed("the body is empty")
	}
	if body[0] != '{' {
		if body[0] == '<' {
			return Token{}, malformed("the body is an HTML or XML page, not JSON (a proxy may be in the way)")
		}
		return Token{}, malformed("the body is not a JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return Token{}, malformed("the body is not valid JSON")
	}
	var t Token
	raw, ok := fields["access_token"]
	if !ok || string(raw) == "null" {
		return Token{}, malformed(`there is no "access_token"`)
	}
	if json.Unmarshal(raw, &t.AccessToken) != nil {
		return Token{}, malformed(`"access_token" is not a string`)
	}
	if t.AccessToken == "" {
		return Token{}, malformed(`"access_token" is empty`)
	}

	expiresIn, hasIn, err := seconds(fields, "expires_in")
	if err != nil {
		return Token{}, err
	}
	switch {
	case hasIn:
		t.ExpiresIn = expiresIn
	default:
		on, hasOn, err := expiresOn(fields["expires_on"])
		if err != nil {
			return Token{}, err
		}
		if !hasOn {
			return Token{}, malformed(`there is neither "expires_in" nor "expires_on"`)
		}
		t.ExpiresIn = on.Sub(now).Truncate(time.Second)
		if t.ExpiresIn <= 0 {
			return Token{}, malformed(`"expires_on" is %s, not after this machine's time %s: check the clock`,
				on.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
	}
	if t.ExpiresIn <= 0 {
		return Token{}, malformed(`"expires_in" must be a positive number of seconds`)
	}
	if t.ExpiresIn > maxLifetime {
		return Token{}, malformed("the token's lifetime is %s; at most 30 days is believable", t.ExpiresIn)
	}
	if t.RefreshIn, _, err = seconds(fields, "refresh_in"); err != nil {
		return Token{}, err
	}
	if t.RefreshIn < 0 || t.RefreshIn >= t.ExpiresIn {
		t.RefreshIn = 0
	}
	t.ClientID = stringField(fields["client_id"])
	t.ObjectID = stringField(fields["object_id"])
	t.ResourceID = stringField(fields["msi_res_id"])
	if t.ResourceID == "" {
		t.ResourceID = stringField(fields["mi_res_id"])
	}
	return t, nil
}

// seconds reads a duration in whole seconds sent as a number or a numeric
// string. present is false for an absent or null field.
func seconds(fields map[string]json.RawMessage, name string) (d time.Duration, present bool, err error) {
	raw := fields[name]
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	n, ok := number(raw)
	if !ok {
		return 0, true, malformed("%q is not a number of seconds", name)
	}
	if n < 0 || n > float64(maxLifetime/time.Second) {
		return 0, true, malformed("%q is out of range: it must be between 0 and 30 days", name)
	}
	if n != math.Trunc(n) {
		return 0, true, malformed("%q must be a whole number of seconds", name)
	}
	return time.Duration(n) * time.Second, true, nil
}

// number reads a JSON number or a string holding one.
func number(raw json.RawMessage) (float64, bool) {
	s := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		s = strings.TrimSpace(s)
	}
	if s == "" || len(s) > 32 || !isDecimal(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// isDecimal accepts digits with an optional sign and fraction: no hex, no
// "Inf", no exponent, no underscores.
func isDecimal(s string) bool {
	if s[0] == '-' || s[0] == '+' {
		s = s[1:]
	}
	digits, dot := 0, false
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// expiresOn reads expires_on: Unix seconds as a number or a string, or a
// date in one of expiresOnLayouts.
func expiresOn(raw json.RawMessage) (time.Time, bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, false, nil
	}
	if n, ok := number(raw); ok {
		// 1e10 seconds is the year 2286.
		if n <= 0 || n > 1e10 {
			return time.Time{}, true, malformed(`"expires_on" is not a plausible Unix time`)
		}
		return time.Unix(int64(n), 0), true, nil
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return time.Time{}, true, malformed(`"expires_on" is neither whole Unix seconds nor a date string`)
	}
	s = strings.TrimSpace(s)
	if len(s) <= 64 {
		for _, layout := range expiresOnLayouts {
			if t, err := time.Parse(layout, s); err == nil {
				return t, true, nil
			}
		}
	}
	return time.Time{}, true, malformed(`"expires_on" is neither Unix seconds nor a date in a known format`)
}

// stringField returns raw as a string, or "" when it is not one.
func stringField(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}
