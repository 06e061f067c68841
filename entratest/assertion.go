package entratest

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is defined as a SHA-1 thumbprint (RFC 7515 §4.1.7)
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// FederatedCredential is a federated identity credential on an app
// registration: it lets the app authenticate with a token from another
// identity provider (a Kubernetes service account token, a GitHub Actions
// OIDC token) instead of a secret or certificate. A client assertion whose
// iss and sub equal Issuer and Subject, and whose aud is one of Audiences,
// authenticates the app, as in Entra's workload identity federation.
type FederatedCredential struct {
	// Issuer is the external identity provider's issuer URL, compared
	// exactly (Entra does not normalise trailing slashes either).
	Issuer string
	// Subject is the external identity, e.g.
	// "system:serviceaccount:default:workload" for Kubernetes.
	Subject string
	// Audiences the external token may carry. Empty means Entra's
	// recommended audience, "api://AzureADTokenExchange".
	Audiences []string
}

// DefaultFederatedAudience is the audience Entra recommends for federated
// tokens, and what a FederatedCredential with no Audiences accepts.
const DefaultFederatedAudience = "api://AzureADTokenExchange"

// FederatedToken describes an external identity provider's token for
// [Server.IssueFederatedToken].
type FederatedToken struct {
	// Issuer and Subject become the iss and sub claims; match them with a
	// FederatedCredential of the app.
	Issuer, Subject string
	// Audience is the aud claim; default DefaultFederatedAudience.
	Audience string
	// ExpiresIn is the token's lifetime from now (the server's clock);
	// default one hour. A negative value issues an already expired token.
	ExpiresIn time.Duration
}

// IssueFederatedToken plays the external identity provider of workload
// identity federation: it returns a signed JWT with the given issuer,
// subject and audience, which this server accepts as a client assertion
// from any app with a matching [FederatedCredential]. Write it to a file
// and point AZURE_FEDERATED_TOKEN_FILE (or WorkloadIdentityCredential's
// TokenFilePath) at it, as Kubernetes does with a projected service
// account token.
//
// The emulator signs these with its own key, so no outside issuer needs to
// be reachable; a token from another server, or tampered with, is refused.
func (s *Server) IssueFederatedToken(t FederatedToken) (string, error) {
	if t.Issuer == "" || t.Subject == "" {
		return "", fmt.Errorf("entratest: a federated token needs an Issuer and a Subject")
	}
	if t.Audience == "" {
		t.Audience = DefaultFederatedAudience
	}
	if t.ExpiresIn == 0 {
		t.ExpiresIn = time.Hour
	}
	now := s.now()
	iat := now.Unix()
	if t.ExpiresIn < 0 {
		iat = now.Add(2 * t.ExpiresIn).Unix()
	}
	tok, err := s.signer.sign(map[string]any{
		"iss": t.Issuer,
		"sub": t.Subject,
		"aud": t.Audience,
		"iat": iat,
		"nbf": iat,
		"exp": now.Add(t.ExpiresIn).Unix(),
		"jti": newUTI(),
	})
	if err != nil {
		return "", fmt.Errorf("entratest: %w", err)
	}
	return tok, nil
}

// assertionSkew is how far a client assertion's nbf may be in the future,
// allowing for clients whose clock is a little ahead.
const assertionSkew = 5 * time.Minute

// parsedJWT is a compact JWS split and decoded, not yet verified.
type parsedJWT struct {
	signingInput string
	sig          []byte
	header       struct {
		Alg     string   `json:"alg"`
		Kid     string   `json:"kid"`
		X5t     string   `json:"x5t"`
		X5tS256 string   `json:"x5t#S256"`
		X5c     []string `json:"x5c"`
	}
	claims struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp json.Number     `json:"exp"`
		Nbf json.Number     `json:"nbf"`
		Jti string          `json:"jti"`
	}
	raw map[string]any // all claims, for OBO
}

// parseJWT decodes a compact JWS. It checks structure only.
func parseJWT(tok string) (*parsedJWT, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("want 3 dot-separated parts, got %d", len(parts))
	}
	j := &parsedJWT{signingInput: parts[0] + "." + parts[1]}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if err := json.Unmarshal(hb, &j.header); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	cb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	d := json.NewDecoder(bytes.NewReader(cb))
	d.UseNumber()
	if err := d.Decode(&j.raw); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	d = json.NewDecoder(bytes.NewReader(cb))
	d.UseNumber()
	if err := d.Decode(&j.claims); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	if j.sig, err = base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	return j, nil
}

// audiences returns the aud claim, a string or an array of strings.
func (j *parsedJWT) audiences() []string {
	var one string
	if json.Unmarshal(j.claims.Aud, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(j.claims.Aud, &many)
	return many
}

// times returns nbf and exp as Unix seconds; ok is false when exp is
// missing or not a number.
func (j *parsedJWT) times() (nbf, exp int64, ok bool) {
	exp, err := j.claims.Exp.Int64()
	if err != nil {
		if f, ferr := j.claims.Exp.Float64(); ferr == nil {
			exp, err = int64(f), nil
		}
	}
	if err != nil {
		return 0, 0, false
	}
	if j.claims.Nbf != "" {
		if f, ferr := j.claims.Nbf.Float64(); ferr == nil {
			nbf = int64(f)
		}
	}
	return nbf, exp, true
}

// verifyRSA checks the signature with key for the RS256 and PS256
// algorithms, the two Entra accepts in client assertions.
func (j *parsedJWT) verifyRSA(key *rsa.PublicKey) error {
	digest := sha256.Sum256([]byte(j.signingInput))
	switch j.header.Alg {
	case "RS256":
		return rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], j.sig)
	case "PS256":
		return rsa.VerifyPSS(key, crypto.SHA256, digest[:], j.sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	default:
		return fmt.Errorf("unsupported algorithm %q", j.header.Alg)
	}
}

// authenticateClientAssertion checks a client_assertion for app: a JWT
// signed by one of the app's certificates (iss = sub = client ID), or a
// federated token from an issuer the app trusts. The checks and their
// AADSTS codes follow Entra: malformed (50027), signed by an unknown key
// or badly signed (700027), wrong audience (700023), wrong iss/sub
// (700021), outside its validity (700024), no matching federated
// credential (70021). With Options.OneTimeClientAssertions, a replayed
// certificate-signed assertion is refused too (700027, see onetime.go).
func (s *Server) authenticateClientAssertion(x *exchange, app App, tenant, assertion string) *entraError {
	if x.form.Get("client_assertion_type") != clientAssertionType {
		return errInvalidAssertionType()
	}
	j, err := parseJWT(assertion)
	if err != nil {
		return errMalformedJWT()
	}
	clientID := strings.ToLower(app.ClientID)
	if strings.EqualFold(j.claims.Iss, clientID) || strings.EqualFold(j.claims.Sub, clientID) {
		return s.checkCertificateAssertion(x, app, tenant, j)
	}
	return s.checkFederatedAssertion(app, j)
}

// checkCertificateAssertion verifies a certificate-signed client assertion.
func (s *Server) checkCertificateAssertion(x *exchange, app App, tenant string, j *parsedJWT) *entraError {
	if !strings.EqualFold(j.claims.Iss, app.ClientID) || !strings.EqualFold(j.claims.Sub, app.ClientID) {
		return errAssertionIssuer()
	}
	cert := findCertificate(app.Certificates, j.header.X5tS256, j.header.X5t)
	if cert == nil {
		return errAssertionKeyNotFound()
	}
	if len(j.header.X5c) > 0 {
		// Subject name/issuer authentication sends the chain; the leaf
		// must be the certificate the thumbprint names.
		der, err := base64.StdEncoding.DecodeString(j.header.X5c[0])
		if err != nil || !bytes.Equal(der, cert.Raw) {
			return errAssertionX5c()
		}
	}
	now := s.now()
	if now.After(cert.NotAfter) || now.Before(cert.NotBefore) {
		return errAssertionKeyExpired()
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || j.verifyRSA(pub) != nil {
		return errAssertionSignature()
	}
	if e := checkAssertionTimes(j, now); e != nil {
		return e
	}
	// The audience is the token endpoint the client posted to, v2.0 or v1.
	base := "https://" + x.host() + "/" + tenant + "/oauth2/"
	okAud := false
	for _, a := range j.audiences() {
		if strings.EqualFold(a, base+"v2.0/token") || strings.EqualFold(a, base+"token") {
			okAud = true
		}
	}
	if !okAud {
		return errAssertionAudience()
	}
	// Last, so that only an assertion that would otherwise authenticate
	// uses up its jti.
	return s.checkOneTime(app, j)
}

// findCertificate returns the registered certificate with the given
// SHA-256 or SHA-1 thumbprint. Thumbprints are accepted in base64url (RFC
// 7515) or standard base64 (MSAL Go's encoding).
func findCertificate(certs []*x509.Certificate, x5tS256, x5t string) *x509.Certificate {
	for _, c := range certs {
		s256 := sha256.Sum256(c.Raw)
		s1 := sha1.Sum(c.Raw) //nolint:gosec // see import
		if x5tS256 != "" && thumbprintEquals(x5tS256, s256[:]) {
			return c
		}
		if x5t != "" && thumbprintEquals(x5t, s1[:]) {
			return c
		}
	}
	return nil
}

func thumbprintEquals(encoded string, want []byte) bool {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(encoded); err == nil && bytes.Equal(b, want) {
			return true
		}
	}
	return false
}

// checkAssertionTimes applies the validity window of a client assertion.
func checkAssertionTimes(j *parsedJWT, now time.Time) *entraError {
	nbf, exp, ok := j.times()
	if !ok {
		return errMalformedJWT()
	}
	if now.Unix() >= exp || nbf > now.Add(assertionSkew).Unix() {
		return errAssertionTimeRange(now, nbf, exp)
	}
	return nil
}

// checkFederatedAssertion verifies a federated token: signed by the
// emulator's federation key (see IssueFederatedToken), valid now, and
// matching one of the app's federated credentials.
func (s *Server) checkFederatedAssertion(app App, j *parsedJWT) *entraError {
	if j.header.Alg != "RS256" || j.header.Kid != s.signer.kid || j.verifyRSA(&s.signer.key.PublicKey) != nil {
		return errAssertionSignature()
	}
	if e := checkAssertionTimes(j, s.now()); e != nil {
		return e
	}
	auds := j.audiences()
	for _, fc := range app.FederatedCredentials {
		if fc.Issuer != j.claims.Iss || fc.Subject != j.claims.Sub {
			continue
		}
		want := fc.Audiences
		if len(want) == 0 {
			want = []string{DefaultFederatedAudience}
		}
		for _, a := range auds {
			for _, w := range want {
				if strings.EqualFold(a, w) {
					return nil
				}
			}
		}
	}
	return errNoFederatedMatch(j.claims.Iss, j.claims.Sub, strings.Join(auds, ","))
}

// The client assertion errors, with Entra's codes. None quotes the
// assertion itself.

func errMalformedJWT() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_request", code: 50027,
		message: "JWT token is invalid or malformed."}
}

func errAssertionSignature() *entraError {
	return &entraError{status: http.StatusUnauthorized, oauth: "invalid_client", code: 700027,
		message: "Client assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value.]"}
}

func errAssertionKeyExpired() *entraError {
	return &entraError{status: http.StatusUnauthorized, oauth: "invalid_client", code: 700027,
		message: "Client assertion failed signature validation. [Reason - The key used is expired.]"}
}

func errAssertionX5c() *entraError {
	return &entraError{status: http.StatusUnauthorized, oauth: "invalid_client", code: 700027,
		message: "Client assertion failed signature validation. [Reason - The first certificate of the x5c header is not the certificate the thumbprint names.]"}
}

func errAssertionIssuer() *entraError {
	return &entraError{status: http.StatusUnauthorized, oauth: "invalid_client", code: 700021,
		message: "Client assertion application identifier doesn't match 'client_id' parameter. The iss and sub claims must both be the client ID."}
}

func errAssertionAudience() *entraError {
	return &entraError{status: http.StatusUnauthorized, oauth: "invalid_client", code: 700023,
		message: "Client assertion audience claim does not match Realm issuer. The aud claim must be the token endpoint the request is sent to."}
}

func errAssertionTimeRange(now time.Time, nbf, exp int64) *entraError {
	const layout = "2006-01-02T15:04:05.0000000Z"
	return &entraError{status: http.StatusUnauthorized, oauth: "invalid_client", code: 700024,
		message: fmt.Sprintf("Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s.",
			now.UTC().Format(layout), time.Unix(nbf, 0).UTC().Format(layout), time.Unix(exp, 0).UTC().Format(layout))}
}

func errNoFederatedMatch(iss, sub, aud string) *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_request", code: 70021,
		message: fmt.Sprintf("No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%s'.",
			sanitize(iss), sanitize(sub), sanitize(aud))}
}

// sanitize keeps claim values quoted in error text short and printable.
func sanitize(s string) string {
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
