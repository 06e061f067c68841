package account

import (
	"encoding/base64"
	"testing"
)

func TestParseClientInfo(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString([]byte(`{"uid":"u1","utid":"t1"}`))
	ci, err := ParseClientInfo(enc)
	if err != nil || ci.HomeAccountID() != "u1.t1" {
		t.Fatalf("ParseClientInfo = %+v, %v", ci, err)
	}
	// Padded base64url, as some servers send.
	if ci, err := ParseClientInfo(base64.URLEncoding.EncodeToString([]byte(`{"uid":"u1","utid":"t1"}`))); err != nil || ci.UID != "u1" {
		t.Fatalf("padded: %+v, %v", ci, err)
	}
	for _, bad := range []string{"", "!!", base64.RawURLEncoding.EncodeToString([]byte(`{"uid":"u.1","utid":"t"}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"uid":1}`)), base64.RawURLEncoding.EncodeToString([]byte(`{"uid":"a"}`))} {
		if _, err := ParseClientInfo(bad); err == nil {
			t.Errorf("ParseClientInfo(%q) accepted", bad)
		}
	}
}

func TestParseIDToken(t *testing.T) {
	claims := base64.RawURLEncoding.EncodeToString([]byte(`{"oid":"o","tid":"t","upn":"u@x","aud":["c1","c2"],"nonce":"n"}`))
	tok, err := ParseIDToken("e30." + claims + ".sig")
	if err != nil || tok.Username() != "u@x" || tok.Audience != "c1" || tok.TenantID != "t" || tok.Nonce != "n" {
		t.Fatalf("ParseIDToken = %+v, %v", tok, err)
	}
	for _, bad := range []string{"", "a.b", "a.!!.c", "a." + base64.RawURLEncoding.EncodeToString([]byte(`[1]`)) + ".c"} {
		if _, err := ParseIDToken(bad); err == nil {
			t.Errorf("ParseIDToken(%q) accepted", bad)
		}
	}
}

func FuzzParseClientInfo(f *testing.F) {
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"uid":"u1","utid":"t1"}`)))
	f.Add("e30")
	f.Fuzz(func(t *testing.T, s string) {
		ci, err := ParseClientInfo(s)
		if err == nil && (!validIDPart(ci.UID) || !validIDPart(ci.UTID)) {
			t.Fatalf("accepted unusable client_info %+v", ci)
		}
	})
}

func FuzzParseIDToken(f *testing.F) {
	f.Add("e30." + base64.RawURLEncoding.EncodeToString([]byte(`{"oid":"o","tid":"t","aud":"c"}`)) + ".s")
	f.Add("..")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseIDToken(s)
	})
}
