//go:build unix

package azid

import "testing"

// End to end: developer tools that are not there, then an app credential
// against the emulator.
func TestChainedTokenCredentialWithRealSources(t *testing.T) {
	srv := newEmulator(t, nil)
	ft := newFakeAz(t)
	ft.setMode("notloggedin")
	az := newAzCred(t, ft, nil, nil)
	azd, err := NewAzureDeveloperCLICredential(&AzureDeveloperCLICredentialOptions{hooks: &toolHooks{env: []string{"PATH=" + t.TempDir()}}})
	if err != nil {
		t.Fatal(err)
	}
	secret := newSecretCred(t, srv, nil)
	c := newTestChain(t, nil, az, azd, secret)
	for range 10 {
		mustToken(t, c, demoScope)
	}
	if n := len(srv.TokenRequests()); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	if n := len(ft.calls()); n != 1 {
		t.Fatalf("az ran %d times, want 1", n)
	}
}
