package azid

import (
	"errors"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// credentialUnavailableError means a credential cannot try to authenticate
// here at all: its configuration is missing (no AZURE_CLIENT_ID), its tool
// is not installed (no az), its endpoint is absent (no IMDS). A
// [ChainedTokenCredential] moves on to its next source on such an error,
// and stops on any other.
type credentialUnavailableError struct {
	credType string
	msg      string
	err      error
}

func newCredentialUnavailableError(credType, msg string, err error) error {
	return &credentialUnavailableError{credType: credType, msg: msg, err: err}
}

func (e *credentialUnavailableError) Error() string {
	// An empty msg means err says it all.
	if e.msg == "" && e.err != nil {
		return e.credType + ": " + e.err.Error()
	}
	s := e.credType + ": " + e.msg
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *credentialUnavailableError) Unwrap() error { return e.err }

// NonRetriable tells azcore's retry policy not to retry.
func (*credentialUnavailableError) NonRetriable() {}

// isUnavailable reports whether err means "this source cannot be used here",
// so that a chain tries the next one: a credential-unavailable error or an
// [AuthenticationRequiredError].
func isUnavailable(err error) bool {
	var u *credentialUnavailableError
	var r *AuthenticationRequiredError
	return errors.As(err, &u) || errors.As(err, &r)
}

// AuthenticationRequiredError is returned by a user credential built with
// DisableAutomaticAuthentication when it cannot get a token without the
// user's interaction. Call the credential's Authenticate with
// TokenRequestOptions to interact, then retry.
type AuthenticationRequiredError struct {
	// TokenRequestOptions are the options of the GetToken call that needed
	// interaction; pass them to Authenticate.
	TokenRequestOptions policy.TokenRequestOptions

	credType string
	err      error
}

func (e *AuthenticationRequiredError) Error() string {
	s := e.credType + ": interactive authentication is required; call Authenticate"
	if e.err != nil {
		s += " (" + e.err.Error() + ")"
	}
	return s
}

func (e *AuthenticationRequiredError) Unwrap() error { return e.err }

// NonRetriable tells azcore's retry policy not to retry.
func (*AuthenticationRequiredError) NonRetriable() {}
