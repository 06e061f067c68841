package azid

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // ADFS names certificates by SHA-1 thumbprint (x5t)
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
)

// clientAuthenticator proves an application's identity in a token request
// (RFC 6749 §2.3): with a secret, a certificate-signed assertion or an
// assertion from elsewhere. Grants combine it with their own fields, so the
// client credentials and on-behalf-of grants share every authenticator.
type clientAuthenticator interface {
	// authenticateClient adds the client authentication fields to form for
	// a request to endpoint and returns the values among them that are
	// secrets.
	authenticateClient(ctx context.Context, form url.Values, endpoint string) (secrets []string, err error)
}

// clientCredentialsGrant is the client credentials grant with any client
// authentication: the app acting as itself.
type clientCredentialsGrant struct{ auth clientAuthenticator }

func (g clientCredentialsGrant) authenticate(ctx context.Context, form url.Values, endpoint string) ([]string, error) {
	form.Set("grant_type", "client_credentials")
	return g.auth.authenticateClient(ctx, form, endpoint)
}

// secretAuth authenticates with a client secret (client_secret_post).
type secretAuth string

func (s secretAuth) authenticateClient(_ context.Context, form url.Values, _ string) ([]string, error) {
	form.Set("client_secret", string(s))
	return []string{string(s)}, nil
}

// clientAssertionType is the only client_assertion_type Entra accepts.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// callbackAuth authenticates with an assertion the application supplies
// (ClientAssertionCredential, workload identity). The callback runs only
// when the engine needs the network, on the acquisition's context.
type callbackAuth func(context.Context) (string, error)

func (f callbackAuth) authenticateClient(ctx context.Context, form url.Values, _ string) ([]string, error) {
	a, err := f(ctx)
	if err != nil {
		return nil, fmt.Errorf("getting a client assertion: %w", err)
	}
	if a == "" {
		return nil, errors.New("the client assertion callback returned an empty assertion")
	}
	form.Set("client_assertion_type", clientAssertionType)
	form.Set("client_assertion", a)
	return []string{a}, nil
}

// Client assertion lifetimes. An assertion is valid for assertionLifetime
// and reused for requests to the same endpoint until less than
// assertionRenewBefore of it is left, so that a burst of token requests
// (many scopes or tenants at start-up) signs once per endpoint rather than
// once per request, and no assertion arrives at Entra close to its expiry.
const (
	assertionLifetime    = 10 * time.Minute
	assertionRenewBefore = 2 * time.Minute
	maxCachedAssertions  = 32
)

// certAuth authenticates with a JWT signed by a certificate's key.
//
// The assertion follows what current MSAL libraries send (MSAL Go v1.10 is
// the reference): for Entra, PS256 (RSASSA-PSS with SHA-256) and the
// certificate named by its SHA-256 thumbprint in x5t#S256; for ADFS, which
// knows neither, RS256 with the SHA-1 thumbprint in x5t. Thumbprints are
// base64url, as RFC 7515 defines them (MSAL Go sends standard base64; Entra
// accepts both). Claims: aud = the token endpoint, iss = sub = the client
// ID, a random jti, nbf = now, exp = now + 10 minutes. x5c carries the
// chain, leaf first, when SendCertificateChain is set (subject name/issuer
// authentication).
type certAuth struct {
	clientID string
	cert     *certCredential
	now      func() time.Time

	mu     sync.Mutex
	signed map[string]signedAssertion // by endpoint; bounded by maxCachedAssertions
}

type signedAssertion struct {
	jwt     string
	expires time.Time
}

func newCertAuth(clientID string, cert *certCredential, now func() time.Time) *certAuth {
	if now == nil {
		now = time.Now
	}
	return &certAuth{clientID: clientID, cert: cert, now: now, signed: make(map[string]signedAssertion)}
}

func (c *certAuth) authenticateClient(_ context.Context, form url.Values, endpoint string) ([]string, error) {
	a, err := c.assertion(endpoint)
	if err != nil {
		return nil, err
	}
	form.Set("client_assertion_type", clientAssertionType)
	form.Set("client_assertion", a)
	return []string{a}, nil
}

// assertion returns a signed assertion for endpoint, reusing one while it
// has enough life left. Signing (about a millisecond of RSA) happens under
// the lock: it is CPU work, not I/O, and concurrent signers for one endpoint
// would only waste it.
func (c *certAuth) assertion(endpoint string) (string, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.signed[endpoint]; ok && now.Add(assertionRenewBefore).Before(s.expires) {
		return s.jwt, nil
	}
	jwt, err := c.sign(endpoint, now)
	if err != nil {
		return "", err
	}
	if len(c.signed) >= maxCachedAssertions {
		for k, s := range c.signed {
			if !now.Add(assertionRenewBefore).Before(s.expires) {
				delete(c.signed, k)
			}
		}
		if len(c.signed) >= maxCachedAssertions {
			clear(c.signed)
		}
	}
	c.signed[endpoint] = signedAssertion{jwt: jwt, expires: now.Add(assertionLifetime)}
	return jwt, nil
}

// isADFSEndpoint reports whether endpoint is an ADFS token endpoint (see
// authority.TokenEndpoint).
func isADFSEndpoint(endpoint string) bool {
	return strings.HasSuffix(strings.ToLower(endpoint), "/adfs/oauth2/token")
}

func (c *certAuth) sign(endpoint string, now time.Time) (string, error) {
	header := map[string]any{"typ": "JWT"}
	adfs := isADFSEndpoint(endpoint)
	if adfs {
		header["alg"] = "RS256"
		header["x5t"] = c.cert.x5tSHA1
	} else {
		header["alg"] = "PS256"
		header["x5t#S256"] = c.cert.x5tS256
	}
	if c.cert.sendX5c {
		header["x5c"] = c.cert.x5c
	}
	var jti [16]byte
	_, _ = rand.Read(jti[:]) // crypto/rand.Read never fails
	claims := map[string]any{
		"aud": endpoint,
		"iss": c.clientID,
		"sub": c.clientID,
		"jti": formatUUID(jti),
		"nbf": now.Unix(),
		"exp": now.Add(assertionLifetime).Unix(),
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("encoding the client assertion: %w", err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding the client assertion: %w", err)
	}
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	if adfs {
		sig, err = rsa.SignPKCS1v15(rand.Reader, c.cert.key, crypto.SHA256, digest[:])
	} else {
		sig, err = rsa.SignPSS(rand.Reader, c.cert.key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	}
	if err != nil {
		return "", fmt.Errorf("signing the client assertion with the key of %s: %w", c.cert.leafName, err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// formatUUID formats 16 random bytes as a version 4 UUID.
func formatUUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
func sha1Sum(b []byte) []byte   { s := sha1.Sum(b); return s[:] } //nolint:gosec // see import
