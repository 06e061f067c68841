package entratest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// entraError is an error answer in Entra's format. Clients key their
// behaviour on three layers of it, so all three must be right: the HTTP
// status (retry or not), the OAuth "error" string (what kind of failure) and
// the AADSTS code (the precise cause, shown to users and matched by tools).
type entraError struct {
	status     int           // HTTP status
	oauth      string        // OAuth 2.0 error, e.g. "invalid_client"
	code       int           // AADSTS number, e.g. 7000215
	message    string        // description after "AADSTSnnnn: "
	retryAfter time.Duration // Retry-After header when positive
	claims     string        // claims challenge, for interaction_required answers
}

// entraErrorBody is the JSON Entra sends. Field order matches Entra's so a
// captured body reads the same as a real one.
type entraErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri"`
	Claims           string `json:"claims,omitempty"`
}

// entraTimestamp is the layout of Entra's timestamp field and of the
// "Timestamp:" line of error_description.
const entraTimestamp = "2006-01-02 15:04:05Z"

// body renders e the way Entra does for one request: the description ends
// with the trace, correlation and timestamp lines, joined by CRLF.
func (e *entraError) body(traceID, correlationID string, now time.Time) entraErrorBody {
	ts := now.UTC().Format(entraTimestamp)
	return entraErrorBody{
		Error: e.oauth,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			e.code, e.message, traceID, correlationID, ts),
		ErrorCodes:    []int{e.code},
		Timestamp:     ts,
		TraceID:       traceID,
		CorrelationID: correlationID,
		// The public error lookup page: the most useful link for a
		// developer reading the error, and what Entra sends.
		ErrorURI: "https://login.microsoftonline.com/error?code=" + strconv.Itoa(e.code),
		Claims:   e.claims,
	}
}

// Constructors for the errors the emulator returns, one per cause, with
// Entra's status, OAuth error, code and wording. Keeping them together
// makes it easy to check them against Entra's error reference. None of them
// may include a secret or an assertion: error bodies end up in logs.

func errTenantNotFound(tenant string) *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_request", code: 90002,
		message: fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant)}
}

// errInvalidTenant is the discovery endpoints' form of errTenantNotFound:
// there Entra answers with the error "invalid_tenant".
func errInvalidTenant(tenant string) *entraError {
	e := errTenantNotFound(tenant)
	e.oauth = "invalid_tenant"
	return e
}

func errMalformedTenant(tenant string) *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_request", code: 900023,
		message: fmt.Sprintf("Specified tenant identifier '%s' is neither a valid DNS name, nor a valid external domain.", tenant)}
}

func errNoTenantInRequest() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_request", code: 50059,
		message: "No tenant-identifying information found in either the request or implied by any provided credentials."}
}

func errMissingParameter(name string) *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_request", code: 900144,
		message: fmt.Sprintf("The request body must contain the following parameter: '%s'.", name)}
}

func errInvalidParameter(name string) *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_request", code: 90100,
		message: fmt.Sprintf("The parameter '%s' is empty or not valid.", name)}
}

func errPostOnly(method string) *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_request", code: 900561,
		message: fmt.Sprintf("The endpoint only accepts POST, OPTIONS requests. Received a %s request.", method)}
}

func errUnsupportedGrant(grant string) *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "unsupported_grant_type", code: 70003,
		message: fmt.Sprintf("The app requested an unsupported grant type '%s'.", grant)}
}

func errUnknownClient(clientID, tenant string) *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "unauthorized_client", code: 700016,
		message: fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, tenant)}
}

func errInvalidSecret(clientID string) *entraError {
	return &entraError{status: http.StatusUnauthorized, oauth: "invalid_client", code: 7000215,
		message: fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID)}
}

func errMissingClientCredential() *entraError {
	return &entraError{status: http.StatusUnauthorized, oauth: "invalid_client", code: 7000216,
		message: "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type."}
}

func errAssertionKeyNotFound() *entraError {
	return &entraError{status: http.StatusUnauthorized, oauth: "invalid_client", code: 700027,
		message: "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found.]"}
}

func errInvalidAssertionType() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_request", code: 700024,
		message: "The client_assertion_type parameter must be 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'."}
}

func errScopeMissing() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_scope", code: 70011,
		message: "The provided request must include a 'scope' input parameter."}
}

func errScopeInvalid(scope string) *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_scope", code: 70011,
		message: fmt.Sprintf("The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", truncate(scope, 1000))}
}

// errScopeDefaultMixed is Entra's answer to "<resource>/.default" next to
// resource-specific scopes: .default already means every granted
// permission, so the combination is ambiguous.
func errScopeDefaultMixed(scope string) *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_scope", code: 70011,
		message: fmt.Sprintf("The provided value for the input parameter 'scope' is not valid. The scope %s is not valid. .default scope can't be combined with resource-specific scopes.", truncate(scope, 1000))}
}

func errScopeNotDefault(scope string) *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_scope", code: 1002012,
		message: fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope)}
}

func errInvalidClaims() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_request", code: 90100,
		message: "The parameter 'claims' is empty or not valid. It must be a JSON object."}
}

func errMissingAuthorizationEndpoint() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_request", code: 900144,
		message: "The request must contain the following parameter: 'authorization_endpoint'."}
}

func errInvalidInstance() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_instance", code: 50049,
		message: "Unknown or invalid instance."}
}

// errTemporarilyUnavailable is Entra's answer during an incident, and the
// outage switch's answer.
func errTemporarilyUnavailable() *entraError {
	return &entraError{status: http.StatusServiceUnavailable, oauth: "temporarily_unavailable", code: 90033,
		message: "A transient error has occurred. Please try again."}
}

// errForStatus picks the Entra error a fault with an arbitrary status
// sends, so an injected 500 or 429 carries the body a client would really
// see with that status rather than a generic placeholder.
func errForStatus(status int) *entraError {
	switch {
	case status == http.StatusUnauthorized:
		return &entraError{status: status, oauth: "invalid_client", code: 7000222,
			message: "The provided client secret keys are expired. Visit the Azure portal to create new keys for your app, or consider using certificate credentials for added security."}
	case status == http.StatusTooManyRequests:
		return &entraError{status: status, oauth: "temporarily_unavailable", code: 90055,
			message: "There are too many incoming requests. Please try again later."}
	case status == http.StatusInternalServerError:
		return &entraError{status: status, oauth: "server_error", code: 50000,
			message: "There was an error issuing a token or an issue with our sign-in service."}
	case status >= 500:
		e := errTemporarilyUnavailable()
		e.status = status
		return e
	default:
		return &entraError{status: status, oauth: "invalid_request", code: 90100,
			message: "The request is not valid. (" + strings.ToLower(http.StatusText(status)) + ")"}
	}
}
