package azid

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/azid-go/azid/internal/sts"
	"github.com/azid-go/azid/internal/tokencache"
)

// AuthenticationFailedError means a token request failed: Entra refused it,
// answered with something that is not a token, or could not be reached.
//
// Beyond azidentity's RawResponse, it carries Entra's error fields, so
// programs can react to a code without parsing text. Nothing in it holds a
// secret or a token: the raw response is a redacted copy.
type AuthenticationFailedError struct {
	// RawResponse is the token endpoint's response, when there was one. Its
	// body can be read again; secrets and tokens in it are redacted.
	RawResponse *http.Response

	// CredentialType names the credential, e.g. "ClientSecretCredential".
	CredentialType string
	// ErrorCode is Entra's "error" field, e.g. "invalid_client".
	ErrorCode string
	// Description is Entra's "error_description", or azid's explanation when
	// the response was not an Entra error (an HTML page from a proxy, a
	// malformed token response).
	Description string
	// ErrorCodes are the AADSTS numbers, e.g. 7000215.
	ErrorCodes []int
	// CorrelationID identifies the request in Entra's logs; quote it when
	// asking Microsoft support.
	CorrelationID string
	// TraceID and Timestamp complete Entra's identification of the request.
	TraceID, Timestamp string

	err error
}

func newAuthenticationFailedError(credType string, err error) *AuthenticationFailedError {
	e := &AuthenticationFailedError{CredentialType: credType, err: err}
	var se *sts.Error
	if errors.As(err, &se) {
		e.RawResponse = se.RawResponse
		e.ErrorCode = se.Code
		e.Description = se.Description
		if e.Description == "" {
			e.Description = se.Message
		}
		e.ErrorCodes = se.ErrorCodes
		e.CorrelationID = se.CorrelationID
		e.TraceID = se.TraceID
		e.Timestamp = se.Timestamp
	}
	return e
}

// Error says what failed and, for common Entra errors, what to do about it.
func (e *AuthenticationFailedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s authentication failed: %v", e.CredentialType, e.err)
	for _, code := range e.ErrorCodes {
		if hint := aadstsHint(code, e.Description); hint != "" {
			b.WriteString(". ")
			b.WriteString(hint)
			break
		}
	}
	return b.String()
}

// Unwrap returns the underlying failure: the token endpoint's error, a
// network error, or a context error, so errors.Is(err, context.Canceled)
// works.
func (e *AuthenticationFailedError) Unwrap() error { return e.err }

// NonRetriable tells azcore's retry policy (which looks for this method) that
// retrying the request that needed this token will not help.
func (*AuthenticationFailedError) NonRetriable() {}

// RetryAfterDuration is the server's Retry-After, if it sent one; azid's
// cache waits at least that long before asking again.
func (e *AuthenticationFailedError) RetryAfterDuration() time.Duration {
	var se *sts.Error
	if errors.As(e.err, &se) {
		return se.RetryAfterDuration()
	}
	return 0
}

// aadstsHint gives the next step for the Entra errors users meet most. The
// codes are Entra's; the advice is ours. description refines a code that
// covers several causes.
func aadstsHint(code int, description string) string {
	switch code {
	case 7000215:
		return "Check the client secret: use the secret's value, not its ID, and make sure it has not expired"
	case 7000222:
		return "The client secret has expired: create a new one for the app registration"
	case 700016:
		return "The client ID is not registered in this tenant: check the client ID and tenant ID, and that the app is provisioned in the tenant"
	case 90002:
		return "The tenant was not found: check the tenant ID, and the authority host for sovereign clouds"
	case 1002012, 70011:
		return "App credentials need a scope of the form <resource>/.default"
	case 50049:
		return "The authority host is not a known Entra authority: check it, or set DisableInstanceDiscovery for private clouds"
	case 700024:
		return "The client assertion is not within its valid time range: check this machine's clock"
	case 700027:
		if d := strings.ToLower(description); strings.Contains(d, "already used") || strings.Contains(d, "replay") {
			// A server that refuses a replayed jti answers with the
			// general assertion code; the certificate is fine.
			return "The server refused a client assertion it had seen before: azid signs a new one for every request, so check that nothing between this program and the token endpoint (a proxy, a retrying gateway) resends requests"
		}
		return "The client assertion's certificate is not registered on the app, or the key does not match it: upload the certificate (its public part) to the app registration"
	case 70021:
		return "No federated identity credential of the app matches the token's issuer, subject and audience: check the app's federated credentials"
	case 500133:
		return "The user assertion has expired: pass the access token of the user's current request"
	case 500131:
		return "The user assertion is for another API: the caller must get its token for this app (its client ID or App ID URI)"
	}
	return ""
}

// callerError adapts an error of the token cache engine for one caller of
// the credential named name. Callers waiting on one acquisition share its
// error, so each gets its own copy of an AuthenticationFailedError with its
// own RawResponse body: one caller reading the body cannot race another.
// An error that arrived wrapped (in a ThrottledError, say) is returned as it
// is, keeping the wrapper's text and semantics.
func callerError(name string, err error) error {
	if errors.Is(err, tokencache.ErrNoScopes) {
		return fmt.Errorf("%s.GetToken requires at least one non-empty scope", name)
	}
	var afe *AuthenticationFailedError
	if !errors.As(err, &afe) || afe != err || afe.RawResponse == nil {
		return err
	}
	cp := *afe
	var se *sts.Error
	if errors.As(afe.err, &se) {
		cp.RawResponse = se.CloneResponse()
	}
	return &cp
}
