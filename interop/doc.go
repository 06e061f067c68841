// Package interop holds tests of azid against real peers: Azure SDK clients
// and the services and emulators they talk to. It is a separate module so
// that the peers are dependencies of these tests only, never of azid.
package interop
