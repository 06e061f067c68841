package entratest

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestAccessTokenVersionFollowsTheResource: Microsoft's APIs (https
// resource URIs) get v1.0 tokens from sts.windows.net, as Azurite and ARM
// check; an app's own API gets v2.0 tokens from the tenant's v2.0 issuer.
func TestAccessTokenVersionFollowsTheResource(t *testing.T) {
	srv := newTestServer(t, nil)
	for scope, want := range map[string][2]string{
		"https://storage.azure.com/.default": {"https://sts.windows.net/" + DefaultTenantID + "/", "1.0"},
		"api://demo/.default":                {srv.URL() + "/" + DefaultTenantID + "/v2.0", "2.0"},
		DefaultClientID + "/.default":        {srv.URL() + "/" + DefaultTenantID + "/v2.0", "2.0"},
	} {
		f := ccForm()
		f.Set("scope", scope)
		claims, err := srv.VerifyToken(getToken(t, srv, f))
		if err != nil {
			t.Fatal(err)
		}
		if claims["iss"] != want[0] || claims["ver"] != want[1] {
			t.Errorf("%s: iss %v ver %v, want %s %s", scope, claims["iss"], claims["ver"], want[0], want[1])
		}
	}
}

func TestVerifyTokenClaims(t *testing.T) {
	clock := newTestClock(time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC))
	srv := newTestServer(t, &Options{Now: clock.Now})
	claims, err := srv.VerifyToken(getToken(t, srv, ccForm()))
	if err != nil {
		t.Fatal(err)
	}
	now := float64(clock.Now().Unix())
	oid := ServicePrincipalID(DefaultTenantID, DefaultClientID)
	v2 := srv.URL() + "/" + DefaultTenantID + "/v2.0"
	want := map[string]any{
		"aud":      "api://demo",
		"iss":      v2,
		"idp":      v2,
		"iat":      now - 300,
		"nbf":      now - 300,
		"exp":      now + 3600,
		"appid":    DefaultClientID,
		"appidacr": "1",
		"azp":      DefaultClientID,
		"azpacr":   "1",
		"tid":      DefaultTenantID,
		"oid":      oid,
		"sub":      oid,
		"ver":      "2.0",
		"idtyp":    "app",
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("%s = %v (%T), want %v", k, claims[k], claims[k], v)
		}
	}
	if uti, _ := claims["uti"].(string); len(uti) < 16 {
		t.Errorf("uti = %q", claims["uti"])
	}
	if _, ok := claims["xms_cc"]; ok {
		t.Error("xms_cc without client capabilities")
	}
	if !isGUID(oid) || oid != ServicePrincipalID(strings.ToUpper(DefaultTenantID), DefaultClientID) {
		t.Errorf("ServicePrincipalID = %q", oid)
	}
}

func TestTokensAreUnique(t *testing.T) {
	srv := newTestServer(t, nil)
	seen := map[string]bool{}
	utis := map[any]bool{}
	for range 20 {
		tok := getToken(t, srv, ccForm())
		if seen[tok] {
			t.Fatal("the same token was issued twice")
		}
		seen[tok] = true
		claims, err := srv.VerifyToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		utis[claims["uti"]] = true
	}
	if len(utis) != 20 {
		t.Errorf("%d distinct uti claims for 20 tokens", len(utis))
	}
}

func TestClientCapabilities(t *testing.T) {
	srv := newTestServer(t, nil)
	for name, claims := range map[string]string{
		"capabilities only": `{"access_token":{"xms_cc":{"values":["CP1"]}}}`,
		// MSAL's merge of a CAE challenge with the capabilities.
		"merged with challenge": `{"access_token":{"nbf":{"essential":true,"value":"1700000000"},"xms_cc":{"values":["CP1"]}}}`,
	} {
		tok := getToken(t, srv, with(ccForm(), "claims", claims))
		c, err := srv.VerifyToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		cc, _ := c["xms_cc"].([]any)
		if len(cc) != 1 || cc[0] != "CP1" {
			t.Errorf("%s: xms_cc = %v", name, c["xms_cc"])
		}
	}
	// A challenge alone is accepted and adds no capabilities.
	c, err := srv.VerifyToken(getToken(t, srv, with(ccForm(), "claims", `{"access_token":{"nbf":{"essential":true,"value":"1"}}}`)))
	if err != nil || c["xms_cc"] != nil {
		t.Errorf("challenge only: %v %v", c, err)
	}
}

// A claims challenge asks for a token issued after a revocation event; the
// backdated iat must not fall before it.
func TestClaimsChallengeNotBefore(t *testing.T) {
	clock := newTestClock(time.Unix(2_000_000_000, 0))
	srv := newTestServer(t, &Options{Now: clock.Now})
	claims := `{"access_token":{"nbf":{"essential":true,"value":"1999999999"}}}`
	c, err := srv.VerifyToken(getToken(t, srv, with(ccForm(), "claims", claims)))
	if err != nil {
		t.Fatal(err)
	}
	if c["iat"] != float64(1999999999) || c["nbf"] != float64(1999999999) {
		t.Errorf("iat %v nbf %v, want 1999999999", c["iat"], c["nbf"])
	}
}

func TestVerifyTokenRejects(t *testing.T) {
	clock := newTestClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := newTestServer(t, &Options{Now: clock.Now})
	tok := getToken(t, srv, ccForm())
	parts := strings.Split(tok, ".")

	other := newTestServer(t, nil)
	fromOther := getToken(t, other, ccForm())

	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"aud":"api://demo","exp":9999999999}`))
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"x"}`))
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"garbage", "not a jwt", ErrTokenMalformed},
		{"bad base64", "!!." + parts[1] + "." + parts[2], ErrTokenMalformed},
		{"tampered claims", parts[0] + "." + forged + "." + parts[2], ErrTokenSignature},
		{"alg none", noneHeader + "." + parts[1] + ".", ErrTokenSignature},
		{"another server's token", fromOther, ErrTokenSignature},
		{"truncated signature", parts[0] + "." + parts[1] + "." + parts[2][:10], ErrTokenSignature},
	}
	for _, tt := range tests {
		if _, err := srv.VerifyToken(tt.token); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}

	clock.Advance(time.Hour - time.Second)
	if _, err := srv.VerifyToken(tok); err != nil {
		t.Errorf("a second before expiry: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := srv.VerifyToken(tok); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("at expiry: err = %v, want ErrTokenExpired", err)
	}
	clock.Advance(-2 * time.Hour) // before the backdated nbf
	if _, err := srv.VerifyToken(tok); !errors.Is(err, ErrTokenNotYetValid) {
		t.Errorf("before nbf: err = %v, want ErrTokenNotYetValid", err)
	}
}

// A 1024-bit signing key (for load tests) still yields RS256 tokens that
// verify; other sizes are refused.
func TestSigningKeyBits(t *testing.T) {
	srv, err := NewServer(&Options{SigningKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if srv.signer.key.N.BitLen() != 1024 {
		t.Fatalf("key has %d bits", srv.signer.key.N.BitLen())
	}
	tok := getToken(t, srv, ccForm())
	if _, err := srv.VerifyToken(tok); err != nil {
		t.Fatalf("a 1024-bit token does not verify: %v", err)
	}
	if _, err := NewServer(&Options{SigningKeyBits: 512}); err == nil || !strings.Contains(err.Error(), "1024 or 2048") {
		t.Fatalf("512 bits: err = %v", err)
	}
}
