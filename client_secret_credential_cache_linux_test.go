package azid

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/entratest"
	"golang.org/x/sys/unix"
)

// persistentCacheEnv gives a test its own cache directory and name, and
// removes the name's keyring keys afterwards.
func persistentCacheEnv(t *testing.T) string {
	t.Helper()
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	b := make([]byte, 6)
	rand.Read(b)
	name := "azid-test-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ring, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_USER_KEYRING, false)
		if err != nil {
			return
		}
		if p, err := unix.KeyctlInt(unix.KEYCTL_GET_PERSISTENT, -1, ring, 0, 0); err == nil {
			ring = p
		}
		for _, n := range []string{name, name + ".cae"} {
			for {
				id, err := unix.KeyctlSearch(ring, "user", n, 0)
				if err != nil {
					break
				}
				if _, err := unix.KeyctlInt(unix.KEYCTL_UNLINK, id, ring, 0, 0); err != nil {
					unix.KeyctlInt(unix.KEYCTL_REVOKE, id, 0, 0, 0)
				}
			}
		}
	})
	return name
}

// Two credential instances sharing a persistent cache: the second gets
// the first's token with no token request, from memory on later calls.
func TestClientSecretCredentialPersistentCache(t *testing.T) {
	srv := newEmulator(t, nil)
	name := persistentCacheEnv(t)
	c, err := cache.New(&cache.Options{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	newCred := func() *ClientSecretCredential {
		cred, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
			&ClientSecretCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true, Cache: c})
		if err != nil {
			t.Fatal(err)
		}
		return cred
	}
	first, err := newCred().GetToken(context.Background(), demoScope)
	if err != nil {
		t.Fatal(err)
	}
	second := newCred()
	for range 3 {
		tok, err := second.GetToken(context.Background(), demoScope)
		if err != nil || tok.Token != first.Token {
			t.Fatalf("second credential: %v (same token: %v)", err, tok.Token == first.Token)
		}
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	if st := second.CacheStats(); st.Hits != 2 || st.StoreHits != 1 || st.TokenRequests != 0 {
		t.Fatalf("second credential stats %+v: want 1 store hit then 2 memory hits", st)
	}
}

// Process A gets a token; process B, fresh, gets it from the persistent
// cache: one token request in all.
func TestClientSecretCredentialPersistsAcrossProcesses(t *testing.T) {
	srv := newEmulator(t, nil)
	name := persistentCacheEnv(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, srv.CACertPEM(), 0o600)
	var tokens []string
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCacheHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "AZID_CACHE_HELPER=1", "AZID_HELPER_CACHE="+name, "AZID_HELPER_URL="+srv.AuthorityHost(), "AZID_HELPER_CA="+ca)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper: %v\n%s", err, out)
		}
		_, tok, ok := strings.Cut(strings.TrimSpace(string(out)), "TOKEN-SHA=")
		if !ok {
			t.Fatalf("helper printed %s", out)
		}
		tokens = append(tokens, tok)
	}
	if tokens[0] != tokens[1] {
		t.Fatal("the second process got a different token")
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("%d token requests across two processes, want 1", n)
	}
}

// TestCacheHelperProcess is the other process of the test above.
func TestCacheHelperProcess(t *testing.T) {
	if os.Getenv("AZID_CACHE_HELPER") == "" {
		return
	}
	pem, _ := os.ReadFile(os.Getenv("AZID_HELPER_CA"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c, err := cache.New(&cache.Options{Name: os.Getenv("AZID_HELPER_CACHE")})
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	cred, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&ClientSecretCredentialOptions{
			ClientOptions: azcore.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: os.Getenv("AZID_HELPER_URL")},
				Transport: client,
			},
			DisableInstanceDiscovery: true, Cache: c,
		})
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	tok, err := cred.GetToken(context.Background(), demoScope)
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	// The token itself is not printed (tokens stay out of output).
	fmt.Printf("TOKEN-SHA=%x\n", sha(tok.Token))
	os.Exit(0)
}

func sha(s string) [32]byte { return sha256.Sum256([]byte(s)) }
