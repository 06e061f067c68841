// Package azid gets Microsoft Entra ID access tokens for Go programs, with a
// token cache built for services that call Azure thousands of times a second
// and for tools that must keep working when Entra does not.
//
// azid is a drop-in for azidentity: credentials have the same names,
// constructors and options, and implement azcore.TokenCredential, so every
// Azure SDK for Go client accepts them. Switching is an import change:
//
//	cred, err := azid.NewClientSecretCredential(tenantID, clientID, secret, nil)
//	if err != nil {
//		// handle the error
//	}
//	client, err := armresources.NewClient(subscriptionID, cred, nil)
//
// # Caching
//
// Every credential has an in-memory token cache, on by default. It cannot be
// turned off; a new credential instance starts with an empty one. What it
// does differently from azidentity:
//
//   - A cached token costs about a hundred nanoseconds and no allocation, however
//     many tokens are cached. There is no lock on that path, so goroutines on
//     many cores do not queue behind each other.
//   - Callers never wait for a refresh the cache could do ahead of time: from
//     a token's refresh time on, callers keep getting it while one background
//     request replaces it.
//   - Concurrent callers of a cold cache share one token request per key, and
//     a slow request for one scope never delays another scope.
//   - When Entra is unreachable, the cached token keeps being served until a
//     minute before it expires, and retries back off instead of making each
//     call wait for a timeout.
//   - Tokens that live only minutes are cached too (azidentity fetches a new
//     one on every call when expires_in is under five minutes).
//
// [ClientSecretCredential.CacheStats] shows the cache at work.
//
// Beyond memory, a credential's Cache option takes a persistent cache from
// package [github.com/azid-go/azid/cache]: tokens kept encrypted on disk,
// shared by the processes of a machine (and with azidentity programs that
// use azidentity/cache with the same name) and surviving restarts. Its
// Storage option accepts any store; the module
// [github.com/azid-go/azid/cache/redis] (a module of its own, so only
// programs that use it depend on go-redis) shares tokens across a fleet,
// with one refresh per token for the whole fleet.
// [NewCachingCredential] puts the same cache in front of any
// azcore.TokenCredential.
//
// docs/MIGRATING.md in the repository lists every difference from
// azidentity that matters when switching.
//
// # Errors
//
// A failed token request returns an [*AuthenticationFailedError] carrying
// Entra's error code, AADSTS numbers and correlation ID, and a redacted copy
// of the response. No error or log line ever holds a secret or a token.
//
// # Testing
//
// Package entratest is a local Entra ID: start one in a test, point a
// credential at it, and assert on what it received.
package azid
