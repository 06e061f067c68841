package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/azid-go/azid/entratest"
	"golang.org/x/sys/unix"
)

// The command with the real kernel keyring, as a user runs it: no provided
// key, so the cache key is created in the keyring by the first run and found
// there by the next process. The cache has a unique name, whose keys are
// removed afterwards.
func TestKernelKeyring(t *testing.T) {
	srv := newUserEmulator(t)
	sb := newSandbox(t)
	sb.useEmulator(srv)
	delete(sb.env, "AZID_CACHE_KEY")
	b := make([]byte, 6)
	rand.Read(b)
	name := "azid-cli-test-" + hex.EncodeToString(b)
	sb.env["AZID_CACHE_NAME"] = name
	t.Cleanup(func() { unlinkKeys(name, name+".cae") })
	sb.useSecretApp()

	stdout, stderr := sb.mustRun(exitOK, "token", "--credential", "secret", "--scope", "api://demo/.default")
	if strings.Contains(stderr, "memory only") {
		t.Fatalf("the kernel keyring is unusable here (run where keyctl is allowed, not in a container that blocks it):\n%s", stderr)
	}
	tok := parseToken(t, stdout)
	_, stderr = sb.mustRun(exitOK, "token", "--credential", "secret", "--scope", "api://demo/.default")
	if !strings.Contains(stderr, "served from the persistent cache") || srv.Requests(entratest.EndpointToken) != 1 {
		t.Fatalf("second process: %d token requests, stderr:\n%s", srv.Requests(entratest.EndpointToken), stderr)
	}
	path := filepath.Join(sb.home, ".cache", ".IdentityService", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), tok.AccessToken) || strings.Count(string(data), ".") != 4 {
		t.Fatalf("%s is not a JWE: %.80q", path, data)
	}
	assertMode(t, path, 0o600)
	assertMode(t, filepath.Dir(path), 0o700)
	if ring, err := keyring(); err != nil {
		t.Fatal(err)
	} else if _, err := unix.KeyctlSearch(ring, "user", name, 0); err != nil {
		t.Fatalf("no key %q in the keyring: %v", name, err)
	}
	stdout, _ = sb.mustRun(exitOK, "cache", "show")
	if !strings.Contains(stdout, "api://demo/.default") {
		t.Fatalf("cache show:\n%s", stdout)
	}

	// "cache clear" keeps the key (other programs share it) and creates
	// no CAE key; "cache clear --all" removes the cache and its key.
	sb.mustRun(exitOK, "cache", "clear")
	ring, _ := keyring()
	if _, err := unix.KeyctlSearch(ring, "user", name, 0); err != nil {
		t.Errorf("cache clear removed the key: %v", err)
	}
	if _, err := unix.KeyctlSearch(ring, "user", name+".cae", 0); err == nil {
		t.Error("cache clear created a key for the CAE partition")
	}
	_, stderr = sb.mustRun(exitOK, "cache", "clear", "--all")
	if _, err := unix.KeyctlSearch(ring, "user", name, 0); err == nil {
		t.Errorf("cache clear --all left the key %q in the keyring (%s)", name, stderr)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("cache clear --all left %s: %v", path, err)
	}
}

// keyring is the keyring package cache keeps keys in: the persistent
// keyring where there is one, else the user keyring.
func keyring() (int, error) {
	ring, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_USER_KEYRING, true)
	if err != nil {
		return 0, err
	}
	if session, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, true); err == nil {
		_, _ = unix.KeyctlInt(unix.KEYCTL_LINK, ring, session, 0, 0)
	}
	if p, err := unix.KeyctlInt(unix.KEYCTL_GET_PERSISTENT, -1, ring, 0, 0); err == nil {
		ring = p
	}
	return ring, nil
}

// unlinkKeys removes the keyring keys with these descriptions, so that no
// test key is left behind.
func unlinkKeys(names ...string) {
	ring, err := keyring()
	if err != nil {
		return
	}
	for _, n := range names {
		for i := 0; i < 10; i++ {
			id, err := unix.KeyctlSearch(ring, "user", n, 0)
			if err != nil {
				break
			}
			if _, err := unix.KeyctlInt(unix.KEYCTL_UNLINK, id, ring, 0, 0); err != nil {
				_, _ = unix.KeyctlInt(unix.KEYCTL_REVOKE, id, 0, 0, 0)
			}
		}
	}
}
