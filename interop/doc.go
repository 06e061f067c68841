// Package interop holds tests of azid against real peers: the unmodified
// azidentity and azidentity/cache, sharing a persistent cache. It is a
// separate module so that azid itself does not depend on them.
package interop
