// Package authority knows where Entra ID lives for a credential: which authority
// host to use (cloud configuration, AZURE_AUTHORITY_HOST, or the public cloud),
// which tenant a token request may target, what the token endpoint's URL is, and
// whether an unfamiliar host is a genuine Entra authority (instance discovery).
package authority
