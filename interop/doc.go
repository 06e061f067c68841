// Package interop holds tests of azid and its Entra ID emulator against
// software nobody on the project wrote: the unmodified azidentity module and
// the Azure CLI. It is a separate module so the root module never depends on
// azidentity. The package itself is empty; everything is in its tests.
//
// The Azure CLI tests need the az command (Debian's azure-cli package) and
// fail, naming it, when it is missing.
package interop
