// Package account reads who signed in from a user flow's token response:
// the client_info that gives the home account ID, and the id_token claims
// that give the username and tenant. Both come from the token endpoint over
// TLS, so, like MSAL, it decodes the id_token without verifying its
// signature; nothing here is used to authorize anything.
package account

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// maxLen bounds what is decoded: real values are a few hundred bytes to a
// few kilobytes.
const maxLen = 64 << 10

// ClientInfo is Entra's client_info: the user's object ID and home tenant.
type ClientInfo struct {
	UID  string `json:"uid"`
	UTID string `json:"utid"`
}

// HomeAccountID is "<uid>.<utid>".
func (c ClientInfo) HomeAccountID() string { return c.UID + "." + c.UTID }

// ParseClientInfo decodes base64url (padded or not) JSON client_info.
func ParseClientInfo(s string) (ClientInfo, error) {
	var ci ClientInfo
	if s == "" {
		return ci, errors.New("client_info is empty")
	}
	if len(s) > maxLen {
		return ci, errors.New("client_info is too long")
	}
	b, err := decodeSegment(s)
	if err != nil {
		return ci, fmt.Errorf("client_info is not base64url: %w", err)
	}
	if err := json.Unmarshal(b, &ci); err != nil {
		return ci, errors.New("client_info is not a JSON object with string uid and utid")
	}
	if !validIDPart(ci.UID) || !validIDPart(ci.UTID) {
		return ClientInfo{}, errors.New("client_info lacks a usable uid or utid")
	}
	return ci, nil
}

// IDToken holds the id_token claims user flows need.
type IDToken struct {
	ObjectID          string `json:"oid"`
	Subject           string `json:"sub"`
	TenantID          string `json:"tid"`
	PreferredUsername string `json:"preferred_username"`
	UPN               string `json:"upn"`
	Name              string `json:"name"`
	Issuer            string `json:"iss"`
	Audience          string `json:"-"`
	Nonce             string `json:"nonce"`
}

// Username is preferred_username, else upn.
func (t IDToken) Username() string {
	if t.PreferredUsername != "" {
		return t.PreferredUsername
	}
	return t.UPN
}

// ParseIDToken decodes the claims of a compact JWT without verifying it.
func ParseIDToken(jwt string) (IDToken, error) {
	var t IDToken
	if len(jwt) > maxLen {
		return t, errors.New("id_token is too long")
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return t, fmt.Errorf("id_token has %d parts, want 3", len(parts))
	}
	b, err := decodeSegment(parts[1])
	if err != nil {
		return t, fmt.Errorf("id_token claims are not base64url: %w", err)
	}
	var raw struct {
		IDToken
		Aud json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return t, errors.New("id_token claims are not a JSON object of the expected types")
	}
	t = raw.IDToken
	// aud is a string, or an array of strings (OIDC allows both).
	var aud string
	if json.Unmarshal(raw.Aud, &aud) != nil {
		var auds []string
		if json.Unmarshal(raw.Aud, &auds) == nil && len(auds) > 0 {
			aud = auds[0]
		}
	}
	t.Audience = aud
	return t, nil
}

func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// validIDPart accepts what can be one half of a home account ID: non-empty,
// no dot (the separator), printable ASCII.
func validIDPart(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c >= 0x7f || c == '.' {
			return false
		}
	}
	return true
}
