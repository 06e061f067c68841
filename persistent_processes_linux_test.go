package azid

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
)

// These tests run credentials in other processes (this test binary
// re-executed as TestPersistentHelperProcess) sharing a persistent cache
// with a provided key, against the emulator of the parent test, which
// counts the token requests of all of them.

// helperResult is one token a helper process got: its hash (tokens stay out
// of output) and claims that say whose it is.
type helperResult struct {
	Label string `json:"label"`
	SHA   string `json:"sha"`
	OID   string `json:"oid"`
	TID   string `json:"tid"`
	UPN   string `json:"upn"`
}

// runHelper runs the helper process in mode with env added to this
// process's environment (which holds the test cache's directory and key).
// onLine sees each line of its output as it comes (the device code sign-in
// answers the prompt from there). It returns the tokens the helper got, in
// order.
func runHelper(t *testing.T, srv *entratest.Server, mode string, onLine func(string), env ...string) []helperResult {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestPersistentHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), append([]string{"AZID_PERSIST_HELPER=" + mode,
		"AZID_HELPER_URL=" + srv.AuthorityHost(), "AZID_HELPER_CA=" + ca}, env...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var results []helperResult
	var lines []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if r, ok := strings.CutPrefix(line, "RESULT "); ok {
			var hr helperResult
			if err := json.Unmarshal([]byte(r), &hr); err != nil {
				t.Fatalf("helper printed %q: %v", line, err)
			}
			results = append(results, hr)
		}
		if onLine != nil {
			onLine(line)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper %s: %v\n%s", mode, err, strings.Join(lines, "\n"))
	}
	return results
}

// TestPersistentHelperProcess is the other process of the tests in this
// file; it does nothing in a normal run.
func TestPersistentHelperProcess(t *testing.T) {
	mode := os.Getenv("AZID_PERSIST_HELPER")
	if mode == "" {
		return
	}
	if err := persistentHelper(mode); err != nil {
		// The error, not a token: errors never hold secrets.
		fmt.Println("helper error:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func persistentHelper(mode string) error {
	ctx := context.Background()
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
	report := func(label string, tok azcore.AccessToken) error {
		claims, err := unverifiedClaims(tok.Token)
		if err != nil {
			return err
		}
		sum := sha(tok.Token)
		r := helperResult{Label: label, SHA: fmt.Sprintf("%x", sum[:8])}
		r.OID, _ = claims["oid"].(string)
		r.TID, _ = claims["tid"].(string)
		r.UPN, _ = claims["upn"].(string)
		b, _ := json.Marshal(r)
		fmt.Printf("RESULT %s\n", b)
		return nil
	}
	get := func(cred azcore.TokenCredential, label string, o policy.TokenRequestOptions) error {
		tok, err := cred.GetToken(ctx, o)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		return report(label, tok)
	}
	tenantScope := func(s policy.TokenRequestOptions, tenant string) policy.TokenRequestOptions {
		s.TenantID = tenant
		return s
	}

	switch mode {
	case "dac":
		// DefaultAzureCredential configured by the environment (its
		// EnvironmentCredential member, with a client secret).
		cred, err := NewDefaultAzureCredential(&DefaultAzureCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, Cache: c})
		if err != nil {
			return err
		}
		return get(cred, "app", demoScope)

	case "cert":
		data, err := os.ReadFile(os.Getenv("AZID_HELPER_CERT"))
		if err != nil {
			return err
		}
		certs, key, err := ParseCertificates(data, nil)
		if err != nil {
			return err
		}
		cred, err := NewClientCertificateCredential(entratest.DefaultTenantID, certClientID, certs, key,
			&ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, Cache: c})
		if err != nil {
			return err
		}
		return get(cred, "app", demoScope)

	case "obo":
		// Each user assertion in turn, through one credential: each is
		// asked twice (azidentity fails the second call with a persistent
		// cache).
		var cred *OnBehalfOfCredential
		for i, a := range strings.Split(os.Getenv("AZID_HELPER_ASSERTIONS"), ",") {
			if i == 0 {
				cred, err = NewOnBehalfOfCredentialWithSecret(entratest.DefaultTenantID, entratest.DefaultClientID, a, entratest.DefaultClientSecret,
					&OnBehalfOfCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, Cache: c})
			} else {
				cred, err = cred.WithUserAssertion(a)
			}
			if err != nil {
				return err
			}
			for range 2 {
				if err := get(cred, fmt.Sprint("user", i), graphScope); err != nil {
					return err
				}
			}
		}
		return nil

	case "signin":
		// Process A: a user signs in with a device code (the parent
		// approves it in the emulator), and the record is saved.
		prompt := func(_ context.Context, m DeviceCodeMessage) error {
			fmt.Printf("USERCODE %s\n", m.UserCode)
			return nil
		}
		cred, err := newDeviceCodeCredential(&DeviceCodeCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, Cache: c, UserPrompt: prompt}, testPollUnit)
		if err != nil {
			return err
		}
		rec, err := cred.Authenticate(ctx, &storageScope)
		if err != nil {
			return err
		}
		if err := SaveAuthenticationRecord(os.Getenv("AZID_HELPER_RECORD"), rec); err != nil {
			return err
		}
		return get(cred, "storage", storageScope)

	case "silent-devicecode", "silent-browser":
		// Process B: a fresh credential with the record and the cache must
		// get tokens with no interaction: same scope, other scopes, and
		// another allowed tenant.
		rec, err := LoadAuthenticationRecord(os.Getenv("AZID_HELPER_RECORD"))
		if err != nil {
			return err
		}
		allowed := []string{secondTenantID}
		var cred azcore.TokenCredential
		if mode == "silent-devicecode" {
			cred, err = NewDeviceCodeCredential(&DeviceCodeCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, Cache: c,
				AuthenticationRecord: rec, AdditionallyAllowedTenants: allowed, UserPrompt: noPrompt})
		} else {
			cred, err = newInteractiveBrowserCredential(&InteractiveBrowserCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, Cache: c,
				AuthenticationRecord: rec, AdditionallyAllowedTenants: allowed, DisableAutomaticAuthentication: true},
				func(context.Context, string) error { return errors.New("the credential opened a browser") })
		}
		if err != nil {
			return err
		}
		for _, s := range []struct {
			label string
			o     policy.TokenRequestOptions
		}{
			{"storage", storageScope},
			{"vault", vaultScope},
			{"graph", graphScope},
			{"storage@second", tenantScope(storageScope, secondTenantID)},
			{"vault@second", tenantScope(vaultScope, secondTenantID)},
		} {
			if err := get(cred, s.label, s.o); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

// unverifiedClaims decodes a JWT's payload; the helper only reports whose
// token it got (the parent's emulator can verify tokens, the helper need
// not).
func unverifiedClaims(jwt string) (map[string]any, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, errors.New("the access token is not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("the access token's payload: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("the access token's payload: %w", err)
	}
	return m, nil
}

// App credentials: the first process acquires, the second reads the token
// from the persistent cache with no request.
func TestAppCredentialsPersistAcrossProcesses(t *testing.T) {
	t.Run("DefaultAzureCredential", func(t *testing.T) {
		srv := newEmulator(t, nil)
		persistentTestCache(t)
		setAppEnvironment(t, srv)
		one := runHelper(t, srv, "dac", nil)
		two := runHelper(t, srv, "dac", nil)
		if len(one) != 1 || len(two) != 1 || one[0].SHA != two[0].SHA {
			t.Fatalf("first process %+v, second %+v: want the same token", one, two)
		}
		if n := srv.Requests(entratest.EndpointToken); n != 1 {
			t.Fatalf("%d token requests across two processes, want 1", n)
		}
	})
	t.Run("ClientCertificateCredential", func(t *testing.T) {
		srv := newEmulator(t, nil)
		a, _ := sharedCerts(t)
		certApp(t, srv, certClientID, a)
		persistentTestCache(t)
		certFile := filepath.Join(t.TempDir(), "app.pem")
		if err := os.WriteFile(certFile, joinPEM(pemCert(a.cert), pemPKCS8(t, a.key)), 0o600); err != nil {
			t.Fatal(err)
		}
		one := runHelper(t, srv, "cert", nil, "AZID_HELPER_CERT="+certFile)
		two := runHelper(t, srv, "cert", nil, "AZID_HELPER_CERT="+certFile)
		if len(one) != 1 || len(two) != 1 || one[0].SHA != two[0].SHA {
			t.Fatalf("first process %+v, second %+v: want the same token", one, two)
		}
		if n := srv.Requests(entratest.EndpointToken); n != 1 {
			t.Fatalf("%d token requests across two processes, want 1", n)
		}
	})
}

// OnBehalfOfCredential with a persistent cache: in one process the second
// call works (azidentity's fails: MSAL Go exports the wrong partition), a
// second credential over a freshly opened cache is served from storage, and
// two users' tokens never mix.
func TestOnBehalfOfCredentialPersistentCache(t *testing.T) {
	srv := newEmulator(t, nil)
	open := persistentTestCache(t)
	ctx := context.Background()
	alice := issueUserToken(t, srv, "alice@entratest.example")
	bob := issueUserToken(t, srv, "bob@entratest.example")
	aliceOID, bobOID := mustClaims(t, srv, alice)["oid"], mustClaims(t, srv, bob)["oid"]

	first := newOBO(t, srv, alice, &OnBehalfOfCredentialOptions{Cache: open()})
	want, err := first.GetToken(ctx, graphScope)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		tok, err := first.GetToken(ctx, graphScope)
		if err != nil || tok.Token != want.Token {
			t.Fatalf("a later call: %v (same token: %v)", err, tok.Token == want.Token)
		}
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("%d token requests for 4 calls, want 1", n)
	}
	// A second credential for alice, nothing in memory: from storage.
	again := newOBO(t, srv, alice, &OnBehalfOfCredentialOptions{Cache: open()})
	if tok, err := again.GetToken(ctx, graphScope); err != nil || tok.Token != want.Token {
		t.Fatalf("second credential: %v (same token: %v)", err, tok.Token == want.Token)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("%d token requests, want 1: the second credential should be served from the persistent cache", n)
	}
	// Bob, over the same storage: his own token, never alice's.
	bobCred := newOBO(t, srv, bob, &OnBehalfOfCredentialOptions{Cache: open()})
	bt, err := bobCred.GetToken(ctx, graphScope)
	if err != nil {
		t.Fatal(err)
	}
	if c := mustClaims(t, srv, bt.Token); c["oid"] != bobOID || bt.Token == want.Token {
		t.Fatalf("bob got a token for oid %v (alice is %v)", c["oid"], aliceOID)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 2 {
		t.Fatalf("%d token requests, want 2 (one per user)", n)
	}
	// And a fresh view of the storage still gives each their own.
	fresh := open()
	for _, u := range []struct {
		assertion string
		oid       any
	}{{alice, aliceOID}, {bob, bobOID}} {
		cred := newOBO(t, srv, u.assertion, &OnBehalfOfCredentialOptions{Cache: fresh})
		tok, err := cred.GetToken(ctx, graphScope)
		if err != nil {
			t.Fatal(err)
		}
		if c := mustClaims(t, srv, tok.Token); c["oid"] != u.oid {
			t.Fatalf("user %v got a token for %v", u.oid, c["oid"])
		}
	}
	if n := srv.Requests(entratest.EndpointToken); n != 2 {
		t.Fatalf("%d token requests, want still 2", n)
	}
}

// The same across processes: each helper asks each of its users twice.
func TestOnBehalfOfCredentialPersistsAcrossProcesses(t *testing.T) {
	srv := newEmulator(t, nil)
	persistentTestCache(t)
	alice := issueUserToken(t, srv, "alice@entratest.example")
	bob := issueUserToken(t, srv, "bob@entratest.example")
	aliceOID, bobOID := mustClaims(t, srv, alice)["oid"], mustClaims(t, srv, bob)["oid"]

	one := runHelper(t, srv, "obo", nil, "AZID_HELPER_ASSERTIONS="+alice)
	if len(one) != 2 || one[0].SHA != one[1].SHA || one[0].OID != aliceOID {
		t.Fatalf("first process: %+v", one)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	// Bob first (a new user: one request), then alice (from storage).
	two := runHelper(t, srv, "obo", nil, "AZID_HELPER_ASSERTIONS="+bob+","+alice)
	if len(two) != 4 || two[0].OID != bobOID || two[1].OID != bobOID || two[2].SHA != one[0].SHA || two[3].SHA != one[0].SHA {
		t.Fatalf("second process: %+v (alice's token %s, oid %v; bob's oid %v)", two, one[0].SHA, aliceOID, bobOID)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 2 {
		t.Fatalf("%d token requests, want 2 (one per user)", n)
	}
	three := runHelper(t, srv, "obo", nil, "AZID_HELPER_ASSERTIONS="+alice+","+bob)
	if len(three) != 4 || three[0].SHA != one[0].SHA || three[2].SHA != two[0].SHA {
		t.Fatalf("third process: %+v", three)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 2 {
		t.Fatalf("%d token requests, want still 2", n)
	}
}

// Silent authentication across processes: process A signs
// the user in with a device code and saves the AuthenticationRecord;
// processes B (DeviceCodeCredential) and C (InteractiveBrowserCredential),
// fresh, get tokens with the record and the cache: the persisted scope
// with no request, others with only the refresh token, in the home tenant
// and in another allowed tenant, and never with interaction.
func TestSilentAuthenticationAcrossProcesses(t *testing.T) {
	srv := newEmulator(t, &entratest.Options{Users: []entratest.User{{
		Username: entratest.DefaultUsername, Password: entratest.DefaultPassword, GuestTenants: []string{secondTenantID},
	}}})
	srv.SetDeviceCodePolicy(entratest.DeviceCodePolicy{Interval: time.Second})
	persistentTestCache(t)
	recordPath := filepath.Join(t.TempDir(), "record.json")
	oid, err := srv.UserObjectID(entratest.DefaultUsername)
	if err != nil {
		t.Fatal(err)
	}

	prompts := 0
	a := runHelper(t, srv, "signin", func(line string) {
		if code, ok := strings.CutPrefix(line, "USERCODE "); ok {
			prompts++
			if err := srv.ApproveDeviceCode(code, entratest.DefaultUsername); err != nil {
				t.Error(err)
			}
		}
	}, "AZID_HELPER_RECORD="+recordPath)
	if prompts != 1 || len(a) != 1 || a[0].UPN != entratest.DefaultUsername {
		t.Fatalf("process A: %d prompts, tokens %+v", prompts, a)
	}
	if g := grantCounts(srv); g["refresh_token"] != 0 || g[deviceGrant] == 0 {
		t.Fatalf("process A's grants: %v", g)
	}
	rec, err := LoadAuthenticationRecord(recordPath)
	if err != nil || rec.Username != entratest.DefaultUsername {
		t.Fatalf("the saved record: %+v, %v", rec, err)
	}

	check := func(name string, got []helperResult, wantRefreshes map[string]bool) {
		t.Helper()
		if len(got) != 5 {
			t.Fatalf("%s: %+v", name, got)
		}
		for _, r := range got {
			wantTID := entratest.DefaultTenantID
			if strings.HasSuffix(r.Label, "@second") {
				wantTID = secondTenantID
			}
			if r.OID != oid || r.UPN != entratest.DefaultUsername || r.TID != wantTID {
				t.Errorf("%s: %s token for oid %s upn %s tid %s; want %s %s %s", name, r.Label, r.OID, r.UPN, r.TID, oid, entratest.DefaultUsername, wantTID)
			}
		}
		if got[0].SHA != a[0].SHA {
			t.Errorf("%s: the scope process A got was not served from the persistent cache", name)
		}
		n := 0
		for _, v := range wantRefreshes {
			if v {
				n++
			}
		}
		reqs := srv.TokenRequests()
		if len(reqs) != n {
			t.Fatalf("%s: %d token requests (%v), want %d refresh_token grants", name, len(reqs), grantCounts(srv), n)
		}
		for _, r := range reqs {
			if r.GrantType != "refresh_token" || r.Status != http.StatusOK {
				t.Fatalf("%s: a %s request answered %d; want only refresh_token grants", name, r.GrantType, r.Status)
			}
		}
	}

	srv.ResetCounts()
	b := runHelper(t, srv, "silent-devicecode", nil, "AZID_HELPER_RECORD="+recordPath)
	// Storage was persisted by A; the other four need the refresh token.
	check("process B (DeviceCodeCredential)", b, map[string]bool{"vault": true, "graph": true, "storage@second": true, "vault@second": true})

	srv.ResetCounts()
	c := runHelper(t, srv, "silent-browser", nil, "AZID_HELPER_RECORD="+recordPath)
	// Everything is persisted by now, by A and B.
	check("process C (InteractiveBrowserCredential)", c, nil)
	for i := range b {
		if b[i].SHA != c[i].SHA {
			t.Errorf("process C's %s token is not the one B persisted", c[i].Label)
		}
	}
}
