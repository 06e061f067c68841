package azid

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Two processes that share the persistent cache refresh one account's
// tokens at the same time, each for scopes of its own, against an emulator
// that revokes the sign-in when a refresh token is presented twice: the
// account's lock file makes each redemption read the refresh token the
// previous one stored, whichever process made it.
func TestTwoProcessesNeverReuseARefreshToken(t *testing.T) {
	srv := newUserEmulator(t)
	open := persistentTestCache(t)
	rec := userSignIn(t, srv, open(), storageScope)
	recordPath := filepath.Join(t.TempDir(), "record.json")
	if err := SaveAuthenticationRecord(recordPath, rec); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	srv.ResetCounts()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const perProcess = 6
	type run struct {
		cmd *exec.Cmd
		out bytes.Buffer
	}
	runs := make([]*run, 2)
	for i := range runs {
		r := &run{cmd: exec.CommandContext(ctx, os.Args[0], "-test.run=^TestRefreshHelperProcess$", "-test.count=1")}
		r.cmd.Env = append(os.Environ(), "AZID_RT_HELPER=1", "AZID_HELPER_URL="+srv.AuthorityHost(), "AZID_HELPER_CA="+ca,
			"AZID_HELPER_RECORD="+recordPath, "AZID_RT_FIRST="+strconv.Itoa(i*perProcess), "AZID_RT_COUNT="+strconv.Itoa(perProcess))
		r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		runs[i] = r
	}
	for i, r := range runs {
		if err := r.cmd.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, r.out.String())
		}
	}
	if t.Failed() {
		return
	}
	if g := grantCounts(srv); g["refresh_token"] != 2*perProcess || len(g) != 1 {
		t.Fatalf("grants %v; want %d refreshes and nothing else", g, 2*perProcess)
	}
	wantRefreshStats(t, srv, 2*perProcess)
}

// TestRefreshHelperProcess is a process of TestTwoProcessesNeverReuseARefreshToken;
// it does nothing in a normal run.
func TestRefreshHelperProcess(t *testing.T) {
	if os.Getenv("AZID_RT_HELPER") == "" {
		return
	}
	if err := refreshHelper(); err != nil {
		fmt.Println("helper error:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// refreshHelper asks for AZID_RT_COUNT scopes at once, silently, with the
// saved record and the shared cache.
func refreshHelper() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pem, err := os.ReadFile(os.Getenv("AZID_HELPER_CA"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	co := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: os.Getenv("AZID_HELPER_URL")},
		Transport: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	}
	c, err := openTestCache()
	if err != nil {
		return err
	}
	rec, err := LoadAuthenticationRecord(os.Getenv("AZID_HELPER_RECORD"))
	if err != nil {
		return err
	}
	cred, err := NewDeviceCodeCredential(&DeviceCodeCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, Cache: c,
		AuthenticationRecord: rec, DisableAutomaticAuthentication: true, UserPrompt: noPrompt})
	if err != nil {
		return err
	}
	first, _ := strconv.Atoi(os.Getenv("AZID_RT_FIRST"))
	n, _ := strconv.Atoi(os.Getenv("AZID_RT_COUNT"))
	return getAll(ctx, func(ctx context.Context, o policy.TokenRequestOptions) error {
		_, err := cred.GetToken(ctx, o)
		return err
	}, scopesN(first + n)[first:], 3)
}
