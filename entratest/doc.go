// Package entratest is a local Microsoft Entra ID emulator for tests: what
// Azurite is to Azure Storage, entratest is to the Entra token service.
//
// A test starts a [Server], points its credential at [Server.AuthorityHost],
// trusts the emulator's TLS certificate through [Server.Client] (or
// [Server.CertPool]), and gets real-looking access tokens without a network,
// a tenant or a secret in CI:
//
//	srv, err := entratest.NewServer(nil) // one default app, see DefaultClientID
//	if err != nil { t.Fatal(err) }
//	defer srv.Close()
//
//	// azid.NewClientSecretCredential takes the same arguments.
//	cred, err := azidentity.NewClientSecretCredential(entratest.DefaultTenantID,
//		entratest.DefaultClientID, entratest.DefaultClientSecret,
//		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{
//			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()},
//			Transport: srv.Client(),
//		}, DisableInstanceDiscovery: true})
//
// The emulator speaks Entra's wire protocol closely enough that unmodified
// Microsoft clients (azidentity and MSAL Go) get tokens from it: OIDC
// discovery documents, instance discovery, the JWKS signing keys and the v2.0
// (and v1) token endpoint, with Entra's error bodies and AADSTS codes. That is
// deliberate: a test that passes against the emulator exercises the same
// parsing, retry and caching paths it would against the real service.
//
// # What tests can observe and control
//
// Tests usually care less about the token than about what the client did to
// get it. The emulator therefore counts every request per [Endpoint]
// ([Server.Requests]), keeps a log of token requests without secrets
// ([Server.TokenRequests]), and verifies the tokens it issued
// ([Server.VerifyToken]), so a test can assert "the second GetToken was served
// from the cache" or "the credential asked for CAE".
//
// To test the unhappy paths, [Server.SetFault] injects latency, error statuses
// with Retry-After, dropped connections, malformed bodies and errors that echo
// the request back (to test that secrets stay out of logs) per endpoint, and
// [Server.SetOutage] makes the whole service answer 503 as Entra does during
// an incident. Token lifetimes ([TokenPolicy]) and the clock ([Options.Now])
// are adjustable so refresh logic can be tested without waiting an hour.
//
// Where a conformant server may be stricter than Entra, the emulator can be
// too: with [Options.OneTimeClientAssertions] it refuses a client assertion
// presented twice. It always refuses what Entra refuses, such as a form
// parameter sent twice (AADSTS9000411).
//
// # Tokens
//
// Access tokens are v1.0 app-only JWTs as Entra issues them to service
// principals, signed RS256 with a per-server key published at the JWKS
// endpoints: aud is the requested resource (the scope without "/.default"),
// iss "https://sts.windows.net/{tenant}/", appid and azp the client ID, tid
// the tenant, oid and sub the app's service principal in that tenant (see
// [ServicePrincipalID]), idtyp "app", ver "1.0", and a random uti that makes
// every token distinct. Like Entra, iat and nbf are backdated five minutes for
// clock skew. A client that sends client capabilities in the claims parameter
// (azidentity's EnableCAE sends {"access_token":{"xms_cc":{"values":["CP1"]}}})
// gets them back in the xms_cc claim.
//
// # Errors
//
// Failures are answered with Entra's JSON error body (error, error_description
// ending in the Trace ID, Correlation ID and Timestamp lines, error_codes,
// timestamp, trace_id, correlation_id, error_uri), Entra's HTTP status and its
// AADSTS code. The token endpoint checks, in order: the tenant (AADSTS90002,
// or 900023 for a string that cannot be a tenant; 50059 for "common" and the
// other aliases, which name no tenant for an app token), grant_type
// (900144, 70003), the client (700016), its secret (7000216 when missing,
// 7000215 when wrong) and the scope, which must be exactly one
// "<resource>/.default" (1002012, 70011). Secrets are never echoed or logged.
//
// # Proxy mode, ARM and standalone use
//
// Some clients cannot be pointed at a local authority: the Azure CLI always
// validates its authority with login.microsoftonline.com. With
// [Options.ProxyAddr] the emulator also runs an HTTPS CONNECT proxy whose
// every tunnel ends in the emulator, with a certificate for the requested
// host from the emulator's CA; such clients run with HTTPS_PROXY set to
// [Server.ProxyURL] and trust [Server.CACertPEM]. A minimal Azure Resource
// Manager (/subscriptions, /tenants, /metadata/endpoints) and the user
// realm endpoint complete what the Azure CLI needs to log in. Tenants,
// their domains and subscriptions are described with [Tenant].
//
// [LoadConfig] reads a JSON configuration of tenants, apps, users and token
// lifetimes; "azid emulator" runs the emulator standalone with it. See
// docs/EMULATOR.md in the repository.
//
// # Scope
//
// This version implements the client credentials grant (secret in the form
// or by HTTP Basic), which is what service principals use, and the user
// flows below. The server is organised so that further grants and endpoints
// plug into the same routing, fault, counting and error machinery.
//
// # Users
//
// People sign in as [User]s ([Options.Users]; by default one,
// [DefaultUsername] with [DefaultPassword]) through the user flows: the
// sign-in page at /{tenant}/oauth2/v2.0/authorize (a form with stable element
// IDs for browser tests, or [Server.SetAutoApprove]), with PKCE, state
// passthrough and registered redirect URIs ([App.RedirectURIs]; loopback
// ones match any port); the device code endpoint, approved or refused by
// tests with [Server.ApproveDeviceCode] and its siblings, or by a person at
// /devicelogin; and the password, authorization_code and refresh_token
// grants. User tokens carry scp, upn, name and the user's oid; id_tokens and
// client_info ("<oid>.<home tenant>" home account IDs) come when openid and
// client_info=1 are asked, refresh tokens with offline_access. The Azure
// CLI's client ([AzureCLIClientID]) is known in every tenant. Tests make
// silent authentication fail on purpose with [Server.SetInteractionRequired]
// (AADSTS50076) and [Server.RevokeRefreshTokens] (AADSTS50173), and check
// rotation with [Server.SetSingleUseRefreshTokens]. With
// [Options].DetectRefreshTokenReuse a refresh token presented twice revokes
// its whole sign-in, as servers following RFC 9700 do, and
// [Server.RefreshTokenStats] counts reuses.
//
// Everything on [Server] is safe for concurrent use; the emulator is meant to
// be hammered by hundreds of goroutines under the race detector.
package entratest
