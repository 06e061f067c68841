// Package interop holds tests of azid and its Entra ID emulator against
// software nobody on the project wrote: the unmodified azidentity module,
// the Azure CLI, Azure SDK clients and the services and emulators they talk
// to (Azurite). It is a separate module so that these peers are
// dependencies of the tests only, never of azid. The package itself is
// empty; everything is in its tests.
//
// The tests need the real components (az from Debian's azure-cli package,
// Azurite from npm) and fail, naming them, when one is missing.
package interop
