package managedidentity

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseResponse: no panic; a success is a usable token; an error never
// quotes the token.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		`{"access_token":"tok-secret","expires_in":"86399","expires_on":"1795900000","resource":"r","token_type":"Bearer","client_id":"c"}`,
		`{"access_token":"tok-secret","expires_on":1795900000}`,
		`{"access_token":"tok-secret","expires_on":"11/28/2026 8:15:00 PM +00:00"}`,
		`{"access_token":"tok-secret","expires_on":"2026-11-28T20:15:00Z","refresh_in":600}`,
		`{"access_token":"tok-secret","expires_in":1.5}`,
		`<html>tok-secret</html>`, ``, `{`, `null`, `{"access_token":"tok-secret","expires_on":"tok-secret"}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 11, 28, 19, 15, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := ParseResponse(body, now)
		if err != nil {
			if tok.AccessToken != "" {
				t.Fatal("a token with an error")
			}
			if strings.Contains(err.Error(), "tok-secret") {
				t.Fatalf("the error quotes the token: %v", err)
			}
			return
		}
		if tok.AccessToken == "" || tok.ExpiresIn <= 0 || tok.ExpiresIn > maxLifetime {
			t.Fatalf("unusable token accepted: %v", tok)
		}
		if tok.RefreshIn < 0 || tok.RefreshIn >= tok.ExpiresIn {
			t.Fatalf("refresh_in %v outside the lifetime %v", tok.RefreshIn, tok.ExpiresIn)
		}
	})
}

// FuzzParseArcChallenge: no panic; a path never carries control
// characters that could split a header or a path.
func FuzzParseArcChallenge(f *testing.F) {
	for _, s := range []string{"Basic realm=/var/opt/azcmagent/tokens/a.key", `Basic realm="/x.key"`, "Basic realm=", "Bearer", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		p, err := ParseArcChallenge(h)
		if err != nil {
			return
		}
		if p == "" || strings.ContainsAny(p, "\x00\r\n") {
			t.Fatalf("unusable path %q accepted", p)
		}
	})
}

// FuzzParseThumbprint: no panic; a success is 20 bytes.
func FuzzParseThumbprint(f *testing.F) {
	for _, s := range []string{"0123456789ABCDEF0123456789abcdef01234567", "01:23", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if b, err := ParseThumbprint(s); err == nil && len(b) != 20 {
			t.Fatalf("%d bytes", len(b))
		}
	})
}
