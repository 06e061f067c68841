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
	"maps"
	"net/url"
	"strings"
	"time"

	"github.com/azid-go/azid/internal/sts"
	"github.com/azid-go/azid/internal/tokencache"
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

// perTryAuthenticator is a clientAuthenticator whose proof must be made
// anew for every HTTP try of a token request, retries included: a server
// may record a signed assertion's jti as soon as it reads the request,
// then fail or lose the answer, and refuse the retry as a replay.
type perTryAuthenticator interface {
	clientAuthenticator
	newForEveryTry()
}

// clientAuthGrant is an appGrant that names its client authenticator.
type clientAuthGrant interface {
	clientAuth() clientAuthenticator
}

// resignFor returns the hook that gives a retry of the token request form
// (built for endpoint by grant) a new client assertion, or nil when the
// grant's client credential is resent as it is.
func resignFor(grant appGrant, form url.Values, endpoint string) sts.Resign {
	g, ok := grant.(clientAuthGrant)
	if !ok {
		return nil
	}
	auth, ok := g.clientAuth().(perTryAuthenticator)
	if !ok {
		return nil
	}
	return func(ctx context.Context) (url.Values, []string, error) {
		next := maps.Clone(form) // Set replaces values, so the first form stays as sent
		secrets, err := auth.authenticateClient(ctx, next, endpoint)
		return next, secrets, err
	}
}

// clientCredentialsGrant is the client credentials grant with any client
// authentication: the app acting as itself.
type clientCredentialsGrant struct{ auth clientAuthenticator }

func (g clientCredentialsGrant) grant(ctx context.Context, form url.Values, endpoint string, _ tokencache.Request) ([]string, error) {
	form.Set("grant_type", "client_credentials")
	return g.auth.authenticateClient(ctx, form, endpoint)
}

func (g clientCredentialsGrant) clientAuth() clientAuthenticator { return g.auth }

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
//
// Unlike a certificate assertion, it is not made anew for each retry of a
// request: such an assertion is a token another platform issued (a
// Kubernetes service account token, an Azure Pipelines OIDC token, the
// caller's own), which the workload presents as often as it likes until it
// rotates, and Entra accepts it each time.
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

// assertionLifetime is how long a signed client assertion is valid (exp -
// nbf). Every token request gets its own assertion, used at once, so the
// lifetime bounds two things: how far this machine's clock may lag the
// token service's before an assertion arrives already expired, and how
// long a server that refuses replayed jti values must remember one. Ten minutes is what MSAL sends,
// so a server tuned for MSAL accepts azid's assertions too.
const assertionLifetime = 10 * time.Minute

// certAuth authenticates with a JWT signed by a certificate's key, a new one
// for every token request and for every retry of one (it is a
// perTryAuthenticator): a server may refuse a jti it has seen (OpenID
// Connect Core §9, RFC 7523 §3), and at such a server an assertion copied
// from a request after the fact is already spent.
//
// The assertion follows what current MSAL libraries send (MSAL Go v1.10 is
// the reference): for Entra, PS256 (RSASSA-PSS with SHA-256) and the
// certificate named by its SHA-256 thumbprint in x5t#S256; for ADFS, which
// knows neither, RS256 with the SHA-1 thumbprint in x5t. Thumbprints are
// base64url, as RFC 7515 defines them (MSAL Go sends standard base64; Entra
// accepts both). Claims: aud = the token endpoint, iss = sub = the client
// ID, a random jti, nbf = now, exp = now + assertionLifetime. x5c carries
// the chain, leaf first, when SendCertificateChain is set (subject
// name/issuer authentication).
type certAuth struct {
	clientID string
	cert     *certCredential
	now      func() time.Time
}

func newCertAuth(clientID string, cert *certCredential, now func() time.Time) *certAuth {
	if now == nil {
		now = time.Now
	}
	return &certAuth{clientID: clientID, cert: cert, now: now}
}

// newForEveryTry marks certAuth as a perTryAuthenticator.
func (*certAuth) newForEveryTry() {}

// authenticateClient signs a new assertion for this request. Signing is a
// millisecond or so of RSA, small beside a token request's round trip, and
// the token cache already keeps requests to about one per token lifetime.
func (c *certAuth) authenticateClient(_ context.Context, form url.Values, endpoint string) ([]string, error) {
	a, err := c.sign(endpoint, c.now())
	if err != nil {
		return nil, err
	}
	form.Set("client_assertion_type", clientAssertionType)
	form.Set("client_assertion", a)
	return []string{a}, nil
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
