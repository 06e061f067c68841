package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/azid-go/azid/internal/persist"
	"github.com/azid-go/azid/internal/tokencache"
	"golang.org/x/sys/unix"
)

var bg = context.Background()

// testCache gives a test its own cache directory and a unique cache name,
// and removes the name's keyring keys afterwards so that no test key is
// left in the keyring.
func testCache(t *testing.T) (name, dir string) {
	t.Helper()
	dir = t.TempDir()
	t.Setenv("XDG_CACHE_HOME", dir)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	b := make([]byte, 6)
	rand.Read(b)
	name = "azid-test-" + hex.EncodeToString(b)
	t.Cleanup(func() { unlinkKeys(name, name+".cae") })
	return name, dir + "/.IdentityService"
}

// unlinkKeys removes the keyring keys with these descriptions.
func unlinkKeys(names ...string) {
	ring, err := userKeyring()
	if err != nil {
		return
	}
	for _, n := range names {
		for {
			id, err := unix.KeyctlSearch(ring, "user", n, 0)
			if err != nil {
				break
			}
			if _, err := unix.KeyctlInt(unix.KEYCTL_UNLINK, id, ring, 0, 0); err != nil {
				// Linked elsewhere (the user keyring): revoke it.
				unix.KeyctlInt(unix.KEYCTL_REVOKE, id, 0, 0, 0)
			}
		}
	}
}

func keyOf(scope string) tokencache.Key {
	return tokencache.Key{Authority: "login.example", ClientID: "client", TenantID: "tenant", Scopes: []string{scope}}
}

func storedTok(tok string) tokencache.Stored {
	now := time.Now().Truncate(time.Second)
	return tokencache.Stored{AccessToken: tok, CachedAt: now, ExpiresOn: now.Add(time.Hour)}
}

func mustNew(t testing.TB, o *Options) Cache {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// helperCmd re-runs this test binary as a helper process in mode, with
// the test's cache environment.
func helperCmd(t *testing.T, mode string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "AZID_HELPER="+mode)
	for i, a := range args {
		cmd.Env = append(cmd.Env, "AZID_HELPER_ARG"+string(rune('0'+i))+"="+a)
	}
	return cmd
}

// requireKeyring fails the test when keyctl cannot be used here.
func requireKeyring(t *testing.T) {
	t.Helper()
	if _, err := userKeyring(); err != nil {
		t.Fatalf("the kernel keyring is required (keyctl must be allowed): %v", err)
	}
}

func isUnreadable(err error) bool { return errors.Is(err, persist.ErrUnreadable) }
