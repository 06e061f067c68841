// Package interop holds tests of azid and its Entra ID emulator against
// software nobody on the project wrote: the unmodified azidentity module,
// the Azure CLI, Azure SDK clients and the services and emulators they talk
// to (Azurite). It is a separate module so that these peers are
// dependencies of the tests only, never of azid. The package itself is
// empty; everything is in its tests.
//
// Every grant and flow azid's credentials use is exercised here by an
// unmodified client: client credentials with a secret, a certificate (with
// and without x5c), an assertion and a federated token (workload
// identity); authorization code with PKCE (a real headless Chromium signs
// in); device code; password; refresh token; on-behalf-of (jwt-bearer);
// managed identity from App Service, IMDS and other hosts. Each test
// checks in the emulator's request log which grant the client used.
//
// "azid serve" is tested the same way, in other languages too: the built
// binary's printed environment, and nothing else, is given to azidentity,
// Python's azure-identity, @azure/identity for Node and az login --identity.
//
// The tests need the real components (az from Debian's azure-cli package,
// chromium, Azurite from npm, Python's azure-identity from python3-azure,
// Node) and fail, naming them, when one is missing.
package interop
