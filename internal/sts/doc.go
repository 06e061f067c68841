// Package sts talks to Microsoft Entra ID token endpoints: it sends a form-encoded
// token request through an azcore pipeline, parses the token response strictly,
// and turns every failure into an *Error that says what went wrong without ever
// carrying a token or one of the secrets the request sent.
//
// The grants themselves (which form fields a client-credentials or refresh-token
// request carries) belong to the credentials; this package only knows how to
// deliver a form and read the answer.
package sts
