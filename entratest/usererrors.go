package entratest

import (
	"fmt"
	"net/http"
)

// Errors of the user flows, with Entra's statuses, OAuth errors and codes.
// None may include a password, code or token.

func errMultipleResources() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_scope", code: 28000,
		message: "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope openid offline_access profile is not valid."}
}

func errUserNotFound(tenant string) *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 50034,
		message: fmt.Sprintf("The user account {EUII Hidden} does not exist in the %s directory. To sign into this application, the account must be added to the directory.", tenant)}
}

func errBadPassword() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 50126,
		message: "Error validating credentials due to invalid username or password."}
}

func errUserNotInTenant(username, tenant string) *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 50020,
		message: fmt.Sprintf("User account '%s' from identity provider does not exist in tenant '%s' and cannot access the application in that tenant.", username, tenant)}
}

func errMFARequired() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 50076,
		message: "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource."}
}

func errBadRefreshToken() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 9002313,
		message: "Invalid request. Request is malformed or invalid. The refresh token is not valid."}
}

func errRefreshTokenRedeemed() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 9002313,
		message: "Invalid request. The refresh token has already been redeemed; use the one returned with it."}
}

func errRefreshTokenRevoked() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 50173,
		message: "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password."}
}

func errRefreshTokenExpired() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 700082,
		message: "The refresh token has expired due to inactivity. The token was issued and was inactive for 90.00:00:00."}
}

func errGrantOtherClient() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 70000,
		message: "The request was denied because one or more grants are invalid: the grant was issued to another client."}
}

func errBadAuthCode() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 9002313,
		message: "Invalid request. Request is malformed or invalid. The authorization code is not valid."}
}

func errCodeRedeemed() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 54005,
		message: "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token."}
}

func errCodeExpired() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 70008,
		message: "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource."}
}

func errRedirectMismatch(uri, clientID string) *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 50011,
		message: fmt.Sprintf("The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.", uri, clientID)}
}

func errPKCEMismatch() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 501481,
		message: "The Code_Verifier does not match the code_challenge supplied in the authorization request."}
}

func errPublicClientSecret() *entraError {
	return &entraError{status: http.StatusUnauthorized, oauth: "invalid_client", code: 700025,
		message: "Client is public so neither 'client_assertion' nor 'client_secret' should be presented."}
}

func errConfidentialNeedsSecret() *entraError {
	return &entraError{status: http.StatusUnauthorized, oauth: "invalid_client", code: 7000218,
		message: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."}
}

func errAuthorizationPending() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "authorization_pending", code: 70016,
		message: "OAuth 2.0 device flow error. Authorization is pending. Continue polling."}
}

func errSlowDown() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "slow_down", code: 70016,
		message: "OAuth 2.0 device flow error. Polling too fast: increase the interval by 5 seconds."}
}

func errDeviceCodeDeclined() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "authorization_declined", code: 70000,
		message: "The request was denied because the end user declined the authorization request."}
}

func errDeviceCodeExpired() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "expired_token", code: 70019,
		message: "Verification code expired."}
}

func errBadDeviceCode() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 70000,
		message: "The provided value for the input parameter 'device_code' is not valid or was already redeemed."}
}
