package azid

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/entratest"
)

// These tests prove that every credential the seed marks "Supported" for
// persistent caching, plus OnBehalfOfCredential and DefaultAzureCredential,
// really persists: a second credential, over a cache opened afresh (so
// nothing of the first is in its memory), gets the token from storage with
// no token request.

// testCacheKeyEnv holds the hex key of a test's persistent cache. Helper
// processes inherit it with the rest of the environment.
const testCacheKeyEnv = "AZID_TEST_CACHE_KEY"

// testCacheName is the cache's name; each test has its own directory.
const testCacheName = "azid-persist-test"

// persistentTestCache gives the test a private cache directory
// ($XDG_CACHE_HOME) and a random provided key, so that neither the user's
// cache nor the kernel keyring is touched, and returns a function opening
// that cache. Each call opens a new Cache value: its memory is empty, so
// what it serves comes from the file.
func persistentTestCache(t *testing.T) func() cache.Cache {
	t.Helper()
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	key := make([]byte, cache.KeySize)
	rand.Read(key)
	t.Setenv(testCacheKeyEnv, hex.EncodeToString(key))
	return func() cache.Cache {
		t.Helper()
		c, err := openTestCache()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

// openTestCache opens the cache persistentTestCache set up, in this process
// or a helper process.
func openTestCache() (cache.Cache, error) {
	return cache.New(&cache.Options{Name: testCacheName, Key: cache.KeyFromEnv(testCacheKeyEnv)})
}

// persistCase builds one credential over a given cache.
type persistCase struct {
	name string
	// setup prepares the emulator (apps, environment) and returns it.
	setup func(t *testing.T) *entratest.Server
	// build makes a credential over c: the first of run, allowed to make
	// token requests, or the second.
	build func(t *testing.T, srv *entratest.Server, c cache.Cache, run *persistRun) azcore.TokenCredential
	scope policy.TokenRequestOptions
}

func TestEveryCredentialPersists(t *testing.T) {
	for _, tc := range persistCases() {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.setup(t)
			open := persistentTestCache(t)
			ctx := context.Background()
			run := &persistRun{first: true, recordPath: filepath.Join(t.TempDir(), "record.json")}
			first := tc.build(t, srv, open(), run)
			want, err := first.GetToken(ctx, tc.scope)
			if err != nil {
				t.Fatal(err)
			}
			before := srv.Requests(entratest.EndpointToken)
			if before == 0 {
				t.Fatal("the first credential made no token request")
			}
			run.first = false
			second := tc.build(t, srv, open(), run)
			for range 2 {
				got, err := second.GetToken(ctx, tc.scope)
				if err != nil {
					t.Fatalf("second credential: %v", err)
				}
				if got.Token != want.Token {
					t.Fatal("the second credential got another token than the persisted one")
				}
			}
			if n := srv.Requests(entratest.EndpointToken) - before; n != 0 {
				t.Fatalf("the second credential made %d token requests; want 0 (served from the persistent cache); grants %v", n, grantCounts(srv))
			}
			// Where azidentity/cache keeps them, CAE tokens in the sibling.
			file := filepath.Join(os.Getenv("XDG_CACHE_HOME"), ".IdentityService", testCacheName)
			if tc.scope.EnableCAE {
				file += ".cae"
			}
			if _, err := os.Stat(file); err != nil {
				t.Fatalf("the cache file: %v", err)
			}
			if sc, ok := second.(interface{ CacheStats() CacheStats }); ok {
				if st := sc.CacheStats(); st.StoreHits != 1 || st.TokenRequests != 0 {
					t.Fatalf("second credential stats %+v: want 1 store hit, then memory hits", st)
				}
			}
		})
	}
}

// noPrompt fails a device code sign-in: the credential should not need one.
func noPrompt(context.Context, DeviceCodeMessage) error {
	return errors.New("the credential asked the user to sign in")
}

// userSignIn signs the default user in with a device code against srv with
// cache c, and returns the account's record.
func userSignIn(t *testing.T, srv *entratest.Server, c cache.Cache, scope policy.TokenRequestOptions, allowed ...string) AuthenticationRecord {
	t.Helper()
	a := &approver{srv: srv}
	cred, err := newDeviceCodeCredential(&DeviceCodeCredentialOptions{
		ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true, Cache: c,
		AdditionallyAllowedTenants: allowed, UserPrompt: a.prompt,
	}, testPollUnit)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := cred.Authenticate(context.Background(), &scope)
	if err != nil {
		t.Fatal(err)
	}
	if a.count() != 1 {
		t.Fatalf("%d prompts, want 1", a.count())
	}
	return rec
}

func persistCases() []persistCase {
	plain := func(t *testing.T) *entratest.Server { return newEmulator(t, nil) }
	return []persistCase{
		{"ClientSecretCredential", plain, func(t *testing.T, srv *entratest.Server, c cache.Cache, _ *persistRun) azcore.TokenCredential {
			cred, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
				&ClientSecretCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true, Cache: c})
			if err != nil {
				t.Fatal(err)
			}
			return cred
		}, demoScope},

		// CAE tokens live in the cache's ".cae" sibling, as azidentity keeps
		// them; they persist too.
		{"ClientSecretCredential/CAE", plain, func(t *testing.T, srv *entratest.Server, c cache.Cache, _ *persistRun) azcore.TokenCredential {
			cred, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
				&ClientSecretCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true, Cache: c})
			if err != nil {
				t.Fatal(err)
			}
			return cred
		}, policy.TokenRequestOptions{Scopes: demoScope.Scopes, EnableCAE: true}},

		{"ClientCertificateCredential", func(t *testing.T) *entratest.Server {
			srv := newEmulator(t, nil)
			a, _ := sharedCerts(t)
			certApp(t, srv, certClientID, a)
			return srv
		}, func(t *testing.T, srv *entratest.Server, c cache.Cache, _ *persistRun) azcore.TokenCredential {
			a, _ := sharedCerts(t)
			cred, err := NewClientCertificateCredential(entratest.DefaultTenantID, certClientID, []*x509.Certificate{a.cert}, a.key,
				&ClientCertificateCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true, Cache: c})
			if err != nil {
				t.Fatal(err)
			}
			return cred
		}, demoScope},

		{"ClientAssertionCredential", func(t *testing.T) *entratest.Server {
			srv := newEmulator(t, nil)
			federatedApp(t, srv, "workload")
			return srv
		}, func(t *testing.T, srv *entratest.Server, c cache.Cache, run *persistRun) azcore.TokenCredential {
			cb := func(context.Context) (string, error) {
				if !run.first {
					t.Error("the second credential asked for an assertion: it went to the network")
				}
				return srv.IssueFederatedToken(entratest.FederatedToken{Issuer: "https://issuer.example", Subject: "workload"})
			}
			cred, err := NewClientAssertionCredential(entratest.DefaultTenantID, fedClientID, cb,
				&ClientAssertionCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true, Cache: c})
			if err != nil {
				t.Fatal(err)
			}
			return cred
		}, demoScope},

		{"WorkloadIdentityCredential", func(t *testing.T) *entratest.Server {
			srv := newEmulator(t, nil)
			federatedApp(t, srv, "system:serviceaccount:default:app")
			return srv
		}, func(t *testing.T, srv *entratest.Server, c cache.Cache, run *persistRun) azcore.TokenCredential {
			path := filepath.Join(t.TempDir(), "token")
			writeToken(t, srv, path, "system:serviceaccount:default:app")
			cred, err := NewWorkloadIdentityCredential(&WorkloadIdentityCredentialOptions{
				ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true, Cache: c,
				ClientID: fedClientID, TenantID: entratest.DefaultTenantID, TokenFilePath: path,
			})
			if err != nil {
				t.Fatal(err)
			}
			return cred
		}, demoScope},

		{"EnvironmentCredential", func(t *testing.T) *entratest.Server {
			srv := newEmulator(t, nil)
			setAppEnvironment(t, srv)
			return srv
		}, func(t *testing.T, srv *entratest.Server, c cache.Cache, _ *persistRun) azcore.TokenCredential {
			cred, err := NewEnvironmentCredential(&EnvironmentCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true, Cache: c})
			if err != nil {
				t.Fatal(err)
			}
			return cred
		}, demoScope},

		{"DefaultAzureCredential", func(t *testing.T) *entratest.Server {
			srv := newEmulator(t, nil)
			setAppEnvironment(t, srv)
			return srv
		}, func(t *testing.T, srv *entratest.Server, c cache.Cache, _ *persistRun) azcore.TokenCredential {
			cred, err := NewDefaultAzureCredential(&DefaultAzureCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true, Cache: c})
			if err != nil {
				t.Fatal(err)
			}
			return cred
		}, demoScope},

		// The user credentials: the first signs in and saves its record;
		// the second is built with the record (as azidentity's are, to
		// sign in silently) and must not sign in again.
		{"UsernamePasswordCredential", newUserEmulator, func(t *testing.T, srv *entratest.Server, c cache.Cache, run *persistRun) azcore.TokenCredential {
			o := &UsernamePasswordCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true, Cache: c}
			password := entratest.DefaultPassword
			if !run.first {
				o.AuthenticationRecord = signedInRecord(t, run)
				password = "wrong-password-so-a-sign-in-fails"
			}
			cred, err := NewUsernamePasswordCredential(entratest.DefaultTenantID, entratest.AzureCLIClientID, entratest.DefaultUsername, password, o)
			if err != nil {
				t.Fatal(err)
			}
			if run.first {
				return &recordingCred{path: run.recordPath, cred: cred}
			}
			return cred
		}, storageScope},

		{"DeviceCodeCredential", newUserEmulator, func(t *testing.T, srv *entratest.Server, c cache.Cache, run *persistRun) azcore.TokenCredential {
			o := &DeviceCodeCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true, Cache: c, UserPrompt: noPrompt}
			if run.first {
				o.UserPrompt = (&approver{srv: srv}).prompt
			} else {
				o.AuthenticationRecord = signedInRecord(t, run)
			}
			cred, err := newDeviceCodeCredential(o, testPollUnit)
			if err != nil {
				t.Fatal(err)
			}
			if run.first {
				return &recordingCred{path: run.recordPath, cred: cred}
			}
			return cred
		}, storageScope},

		{"InteractiveBrowserCredential", func(t *testing.T) *entratest.Server {
			srv := newUserEmulator(t)
			if err := srv.SetAutoApprove(entratest.DefaultUsername); err != nil {
				t.Fatal(err)
			}
			return srv
		}, func(t *testing.T, srv *entratest.Server, c cache.Cache, run *persistRun) azcore.TokenCredential {
			o := &InteractiveBrowserCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true, Cache: c}
			open := autoApprovedBrowser(srv)
			if !run.first {
				o.AuthenticationRecord = signedInRecord(t, run)
				o.DisableAutomaticAuthentication = true
				open = func(context.Context, string) error {
					return errors.New("the credential opened a browser")
				}
			}
			cred, err := newInteractiveBrowserCredential(o, open)
			if err != nil {
				t.Fatal(err)
			}
			if run.first {
				return &recordingCred{path: run.recordPath, cred: cred}
			}
			return cred
		}, storageScope},

		{"AuthorizationCodeCredential", authCodeEmulator, func(t *testing.T, srv *entratest.Server, c cache.Cache, run *persistRun) azcore.TokenCredential {
			// The second credential (a restarted web app) holds a code Entra
			// never issued: only the persisted tokens of the record's
			// account can serve it.
			o := &AuthorizationCodeCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true,
				ClientSecret: entratest.DefaultClientSecret, Cache: c}
			code := "not-a-code-entra-issued"
			if run.first {
				code = authorize(t, srv, "")
			} else {
				o.AuthenticationRecord = signedInRecord(t, run)
			}
			cred, err := NewAuthorizationCodeCredential(entratest.DefaultTenantID, entratest.DefaultClientID, code, webRedirect, o)
			if err != nil {
				t.Fatal(err)
			}
			if run.first {
				return &recordingCred{path: run.recordPath, cred: cred}
			}
			return cred
		}, storageScope},
	}
}

// setAppEnvironment configures EnvironmentCredential (and so
// DefaultAzureCredential) for the default app through the real
// environment, which helper processes inherit.
func setAppEnvironment(t *testing.T, srv *entratest.Server) {
	t.Helper()
	for k, v := range map[string]string{
		envTenantID: entratest.DefaultTenantID, envClientID: entratest.DefaultClientID, envClientSecret: entratest.DefaultClientSecret,
		envClientCertificatePath: "", envUsername: "", envPassword: "", envAdditionallyAllowedTenants: "",
		envFederatedTokenFile: "", "AZURE_TOKEN_CREDENTIALS": "", "AZURE_AUTHORITY_HOST": srv.AuthorityHost(),
	} {
		t.Setenv(k, v) // restored after the test
		if v == "" {
			os.Unsetenv(k)
		}
	}
}

// recordingCred is a user credential whose first GetToken is an
// Authenticate, so that the test keeps the account's record for the second
// credential (signedInRecord).
type recordingCred struct {
	path string
	cred interface {
		azcore.TokenCredential
		Authenticate(context.Context, *policy.TokenRequestOptions) (AuthenticationRecord, error)
	}
}

func (r *recordingCred) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	rec, err := r.cred.Authenticate(ctx, &o)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	if err := SaveAuthenticationRecord(r.path, rec); err != nil {
		return azcore.AccessToken{}, err
	}
	return r.cred.GetToken(ctx, o)
}

// persistRun is one run of a persistCase.
type persistRun struct {
	first      bool
	recordPath string // where the first user credential saved its record
}

// signedInRecord loads the record the first credential saved, as a program
// would on its next run.
func signedInRecord(t *testing.T, run *persistRun) AuthenticationRecord {
	t.Helper()
	rec, err := LoadAuthenticationRecord(run.recordPath)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// autoApprovedBrowser is a browser for an emulator in auto-approve mode: it
// follows the authorization request's redirect to the credential's
// loopback listener.
func autoApprovedBrowser(srv *entratest.Server) func(context.Context, string) error {
	return func(ctx context.Context, authURL string) error {
		c := *srv.Client()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || loc == "" {
			return errors.New("the authorize endpoint did not redirect")
		}
		go func() {
			// The listener answers after the credential has the code; the
			// opener returns at once, as a real browser launcher does.
			if r, err := http.Get(loopbackURL(loc)); err == nil {
				r.Body.Close()
			}
		}()
		return nil
	}
}

// A web app restarted with a persistent cache has its users' records but
// no authorization code: the credential serves the account from the cache
// and its refresh token, and asks for the authorization flow (never sending
// a code) once those cannot serve a request.
func TestAuthorizationCodeCredentialWithARecordAndNoCode(t *testing.T) {
	srv := authCodeEmulator(t)
	open := persistentTestCache(t)
	ctx := context.Background()
	newCred := func(code string, rec AuthenticationRecord) (*AuthorizationCodeCredential, error) {
		return NewAuthorizationCodeCredential(entratest.DefaultTenantID, entratest.DefaultClientID, code, webRedirect,
			&AuthorizationCodeCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true,
				ClientSecret: entratest.DefaultClientSecret, Cache: open(), AuthenticationRecord: rec})
	}
	if _, err := newCred("", AuthenticationRecord{}); err == nil || !strings.Contains(err.Error(), "AuthenticationRecord") {
		t.Fatalf("no code and no record: %v", err)
	}
	first, err := newCred(authorize(t, srv, ""), AuthenticationRecord{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := first.Authenticate(ctx, &storageScope)
	if err != nil {
		t.Fatal(err)
	}
	want, err := first.GetToken(ctx, storageScope)
	if err != nil {
		t.Fatal(err)
	}

	restarted, err := newCred("", rec)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := restarted.GetToken(ctx, storageScope); err != nil || got.Token != want.Token {
		t.Fatalf("the persisted token: %v (same: %v)", err, got.Token == want.Token)
	}
	if _, err := restarted.GetToken(ctx, vaultScope); err != nil {
		t.Fatal(err)
	}
	if again, err := restarted.Authenticate(ctx, &vaultScope); err != nil || again.HomeAccountID != rec.HomeAccountID {
		t.Fatalf("Authenticate = %+v, %v", again, err)
	}
	if g := grantCounts(srv); g["authorization_code"] != 1 || g["refresh_token"] != 1 || len(g) != 2 {
		t.Fatalf("grants = %v; want the one redemption and one refresh", g)
	}
	// Once the refresh token is revoked, the user must go through the
	// authorization flow again: an AuthenticationRequiredError, no request.
	if err := srv.RevokeRefreshTokens(entratest.DefaultUsername); err != nil {
		t.Fatal(err)
	}
	_, err = restarted.GetToken(ctx, graphScope)
	var are *AuthenticationRequiredError
	if !errors.As(err, &are) || !errors.Is(err, errNoCode) {
		t.Fatalf("GetToken after revocation = %v", err)
	}
	if g := grantCounts(srv); g["authorization_code"] != 1 {
		t.Fatalf("grants = %v", g)
	}
}

// TestOrganizationsSignInIsKeptUnderTheAccountsTenant: a sign-in through
// the "organizations" alias stores its token under the account's own
// tenant, as MSAL does, so a credential for that tenant (another process,
// azidentity) finds it without a request.
func TestOrganizationsSignInIsKeptUnderTheAccountsTenant(t *testing.T) {
	open := persistentTestCache(t)
	srv := newEmulator(t, nil)
	rec := userSignIn(t, srv, open(), vaultScope) // TenantID unset: "organizations"
	if !strings.EqualFold(rec.TenantID, entratest.DefaultTenantID) {
		t.Fatalf("record tenant %q", rec.TenantID)
	}
	before := srv.Requests(entratest.EndpointToken)
	cred, err := NewDeviceCodeCredential(&DeviceCodeCredentialOptions{
		ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true, Cache: open(),
		TenantID: entratest.DefaultTenantID, AuthenticationRecord: rec, UserPrompt: noPrompt,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred.GetToken(context.Background(), vaultScope); err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests(entratest.EndpointToken) - before; n != 0 {
		t.Fatalf("%d token requests for the token the sign-in stored, want 0", n)
	}
}
