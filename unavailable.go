package azid

import (
	"errors"
	"reflect"

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

// NewCredentialUnavailableError returns an error that says a credential
// cannot attempt authentication here: it lacks the configuration, the state
// or the environment it needs. [ChainedTokenCredential] and
// [DefaultAzureCredential] try their next source when a source returns it
// (wrapped or not), where any other error stops them. Return it from your
// own [azcore.TokenCredential] to take part in a chain as azid's
// credentials do; message is the error's whole text, so say what is missing
// and how to provide it.
func NewCredentialUnavailableError(message string) error {
	return &credentialUnavailableError{msg: message}
}

func (e *credentialUnavailableError) Error() string {
	if e.credType == "" {
		return e.msg // a user's own, from NewCredentialUnavailableError
	}
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
// so that a chain tries the next one: a credential-unavailable error (azid's
// or azidentity's) or an [AuthenticationRequiredError] (azid's or
// azidentity's).
func isUnavailable(err error) bool {
	var u *credentialUnavailableError
	var r *AuthenticationRequiredError
	return errors.As(err, &u) || errors.As(err, &r) || isAzidentityUnavailable(err)
}

// azidentityPkg is the import path of the Azure SDK's azidentity module,
// whose credentials users put in azid's chains.
const azidentityPkg = "github.com/Azure/azure-sdk-for-go/sdk/azidentity"

// isAzidentityUnavailable recognises azidentity's "try the next credential"
// errors anywhere in err's tree without importing azidentity (which would
// put it in every user's module graph). azidentity marks them with an
// unexported method, which no other package can test for, so they are
// recognised by their types' identity instead: its credentialUnavailableError
// (what its NewCredentialUnavailableError and its unavailable credentials
// return) and its AuthenticationRequiredError, which embeds it. This runs
// only when a chain's source failed, never on a token's path.
func isAzidentityUnavailable(err error) bool {
	for err != nil {
		t := reflect.TypeOf(err)
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.PkgPath() == azidentityPkg && (t.Name() == "credentialUnavailableError" || t.Name() == "AuthenticationRequiredError") {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if isAzidentityUnavailable(e) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
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
