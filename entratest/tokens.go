package entratest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is defined as a SHA-1 thumbprint (RFC 7517 §4.8)
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// signer holds the emulator's token signing key. Entra signs access tokens
// with RS256 and publishes the public keys, with certificates, as JWKS; the
// emulator does the same so resource-side validation code can be tested
// against it too.
type signer struct {
	key     *rsa.PrivateKey
	kid     string // key ID in the JWT header and JWKS
	x5t     string // SHA-1 thumbprint of certDER, base64url
	certDER []byte // self-signed certificate for the key (JWKS x5c)
}

// newSigner generates the signing key: 2048-bit RSA, the size Entra uses,
// unless bits asks for 1024 (see Options.SigningKeyBits).
func newSigner(bits int) (*signer, error) {
	switch bits {
	case 0:
		bits = 2048
	case 1024, 2048:
	default:
		return nil, fmt.Errorf("SigningKeyBits must be 1024 or 2048, not %d", bits)
	}
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("generating RSA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// Entra's signing certificates carry this subject.
		Subject:   pkix.Name{CommonName: "accounts.accesscontrol.windows.net"},
		NotBefore: now.Add(-time.Hour),
		NotAfter:  now.Add(certValidity),
		KeyUsage:  x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("self-signing the signing key certificate: %w", err)
	}
	thumb := sha1.Sum(der) //nolint:gosec // see import
	x5t := base64.RawURLEncoding.EncodeToString(thumb[:])
	// Entra uses the thumbprint as the key ID as well.
	return &signer{key: key, kid: x5t, x5t: x5t, certDER: der}, nil
}

// jwtHeader is the JOSE header of issued tokens, in Entra's field order.
type jwtHeader struct {
	Typ string `json:"typ"`
	Alg string `json:"alg"`
	X5t string `json:"x5t,omitempty"`
	Kid string `json:"kid"`
}

// sign returns a compact RS256 JWT with the given claims.
func (sg *signer) sign(claims map[string]any) (string, error) {
	h, err := json.Marshal(jwtHeader{Typ: "JWT", Alg: "RS256", X5t: sg.x5t, Kid: sg.kid})
	if err != nil {
		return "", fmt.Errorf("encoding JWT header: %w", err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding JWT claims: %w", err)
	}
	signingInput := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	digest := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(nil, sg.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("signing JWT: %w", err)
	}
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// jwk is one key of a JWKS document, with the fields Entra publishes.
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	Kid    string   `json:"kid"`
	X5t    string   `json:"x5t"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X5c    []string `json:"x5c"`
	Issuer string   `json:"issuer,omitempty"`
}

// jwks returns the key set document; issuer is set on v2.0 documents.
func (sg *signer) jwks(issuer string) map[string][]jwk {
	pub := sg.key.PublicKey
	return map[string][]jwk{"keys": {{
		Kty:    "RSA",
		Use:    "sig",
		Kid:    sg.kid,
		X5t:    sg.x5t,
		N:      base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		E:      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		X5c:    []string{base64.StdEncoding.EncodeToString(sg.certDER)},
		Issuer: issuer,
	}}}
}

// VerificationError is the kind of failure [Server.VerifyToken] reports.
// Compare with errors.Is against the constants below.
type VerificationError string

// Error returns the message; the constant itself is the identity.
func (e VerificationError) Error() string { return string(e) }

// The ways a token fails verification.
const (
	// ErrTokenMalformed: not a compact JWS with JSON header and claims.
	ErrTokenMalformed VerificationError = "entratest: token is malformed"
	// ErrTokenSignature: not signed by this server's key (tampered, or
	// issued by another server or by Entra).
	ErrTokenSignature VerificationError = "entratest: token signature is invalid"
	// ErrTokenExpired: the clock is at or past exp.
	ErrTokenExpired VerificationError = "entratest: token is expired"
	// ErrTokenNotYetValid: the clock is before nbf.
	ErrTokenNotYetValid VerificationError = "entratest: token is not valid yet"
)

// VerifyToken checks that token was issued by this server (signed with its
// key: RS256 with a matching kid) and is valid now by the server's clock
// (nbf <= now < exp). It returns the claims, decoded as by
// encoding/json (numbers are float64; xms_cc is a []any), so a test can
// assert what the client received:
//
//	claims, err := srv.VerifyToken(tok.Token)
//	if claims["aud"] != "https://storage.azure.com" { ... }
//
// Errors wrap one of the ErrToken constants.
func (s *Server) VerifyToken(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: want 3 dot-separated parts, got %d", ErrTokenMalformed, len(parts))
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrTokenMalformed, err)
	}
	var h jwtHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrTokenMalformed, err)
	}
	// Check the algorithm before anything else: accepting whatever the
	// token declares is the classic JWT vulnerability.
	if h.Alg != "RS256" {
		return nil, fmt.Errorf("%w: algorithm %q, want RS256", ErrTokenSignature, h.Alg)
	}
	if h.Kid != s.signer.kid {
		return nil, fmt.Errorf("%w: unknown key ID %q", ErrTokenSignature, h.Kid)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrTokenMalformed, err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&s.signer.key.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenSignature, err)
	}
	cb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrTokenMalformed, err)
	}
	var claims map[string]any
	if err := json.Unmarshal(cb, &claims); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrTokenMalformed, err)
	}
	now := s.now().Unix()
	exp, ok := claims["exp"].(float64)
	if !ok {
		return nil, fmt.Errorf("%w: no exp claim", ErrTokenMalformed)
	}
	if now >= int64(exp) {
		return nil, fmt.Errorf("%w: exp %s, now %s", ErrTokenExpired, unixUTC(int64(exp)), unixUTC(now))
	}
	if nbf, ok := claims["nbf"].(float64); ok && now < int64(nbf) {
		return nil, fmt.Errorf("%w: nbf %s, now %s", ErrTokenNotYetValid, unixUTC(int64(nbf)), unixUTC(now))
	}
	return claims, nil
}

func unixUTC(sec int64) string { return time.Unix(sec, 0).UTC().Format(time.RFC3339) }

// issuedToken is a minted access token with the lifetimes the token
// response reports.
type issuedToken struct {
	raw          string
	expiresIn    int64 // seconds
	extExpiresIn int64
	refreshIn    int64 // 0: omit refresh_in
	notBefore    int64 // unix seconds, for the v1 response
	expiresOn    int64
}

// accessTokenIssuer returns the iss and ver claims of an access token for
// audience. Which token version a resource gets is the resource's choice in
// Entra (its accessTokenAcceptedVersion). Microsoft's own APIs, named by
// https URLs (Storage, ARM, Key Vault, Graph), take v1.0 tokens from
// sts.windows.net, which is what Azurite and ARM check; an app's own API
// named by api://… or by its client ID gets v2.0 tokens from the tenant's
// v2.0 issuer, as for an app registered the way Microsoft recommends today.
// Both carry appid and azp, so a test may read either.
func (s *Server) accessTokenIssuer(tenant, audience string) (iss, ver string) {
	if strings.HasPrefix(strings.ToLower(audience), "https://") {
		return "https://sts.windows.net/" + tenant + "/", "1.0"
	}
	return "https://" + s.host + "/" + tenant + "/v2.0", "2.0"
}

// appTokenSpec is what an app-only (client credentials) token is minted
// from.
type appTokenSpec struct {
	tenant       string
	clientID     string
	audience     string
	capabilities []string // xms_cc
	minIssuedAt  int64    // from a claims challenge's nbf, unix seconds; 0 = none
}

// clockSkewBackdate is how far Entra backdates iat and nbf, so a resource
// whose clock is a little behind still accepts a fresh token.
const clockSkewBackdate = 5 * time.Minute

// mintAppToken issues a v1.0 app-only access token like the ones Entra
// issues to service principals, under the current token policy.
func (s *Server) mintAppToken(spec appTokenSpec) (issuedToken, error) {
	p := *s.policy.Load()
	now := s.now()
	issued := now.Add(-clockSkewBackdate).Unix()
	if spec.minIssuedAt > issued {
		// A CAE claims challenge asks for a token issued after an event;
		// never backdate past it (nor into the future).
		issued = min(spec.minIssuedAt, now.Unix())
	}
	expiresIn := durationSeconds(p.ExpiresIn)
	exp := now.Unix() + expiresIn
	iss, ver := s.accessTokenIssuer(spec.tenant, spec.audience)
	oid := ServicePrincipalID(spec.tenant, spec.clientID)
	claims := map[string]any{
		"aud":      spec.audience,
		"iss":      iss,
		"iat":      issued,
		"nbf":      issued,
		"exp":      exp,
		"appid":    spec.clientID,
		"appidacr": "1", // 1: authenticated with a secret
		"azp":      spec.clientID,
		"azpacr":   "1",
		"idp":      iss,
		"idtyp":    "app",
		"oid":      oid,
		"sub":      oid,
		"tid":      spec.tenant,
		"uti":      newUTI(),
		"ver":      ver,
	}
	if len(spec.capabilities) > 0 {
		claims["xms_cc"] = spec.capabilities
	}
	raw, err := s.signer.sign(claims)
	if err != nil {
		return issuedToken{}, err
	}
	return issuedToken{
		raw:          raw,
		expiresIn:    expiresIn,
		extExpiresIn: durationSeconds(p.ExtExpiresIn),
		refreshIn:    durationSeconds(p.RefreshIn),
		notBefore:    issued,
		expiresOn:    exp,
	}, nil
}

// durationSeconds converts a policy duration to the whole seconds sent on
// the wire; a positive duration never rounds down to 0, which clients read
// as "already expired".
func durationSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return max(int64(d/time.Second), 1)
}

// newUTI returns a unique token identifier like Entra's uti claim. Its
// randomness is what makes every issued token distinct, which tests of
// caching rely on to tell a cached token from a new one.
func newUTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}
