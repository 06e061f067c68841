package azid

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
	"github.com/azid-go/azid/internal/account"
)

// secretCase builds a credential for the log-leak test. new returns the
// credential and the secrets it was given (client secrets, assertions,
// passwords, refresh tokens…), which must never appear in a log line or
// an error. bad, when set, builds a credential whose token requests fail.
//
// Adding a credential to the test is one entry in credentialLogCases.
type secretCase struct {
	name string
	new  func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string)
	bad  func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string)
	// offEntra marks a credential whose tokens do not come from the
	// emulator's token endpoint (managed identity, developer tools): it gets
	// no refresh_in, so the background refresh and outage steps are skipped.
	offEntra bool
	// quiet marks a credential without a Logger option: only its errors
	// are checked.
	quiet bool
	// serial marks a case that sets environment variables, which a
	// parallel test may not.
	serial bool
	// echo is the endpoint whose Echo fault the credential's requests meet
	// (the token endpoint unless offEntra); noEcho skips that step, for
	// credentials that send no HTTP request or whose first request of an
	// acquisition carries no secret (Azure Arc's challenge).
	echo   entratest.Endpoint
	noEcho bool
	// extraSecrets, when set, returns secrets known only after the run
	// (Azure Arc's key file).
	extraSecrets func(t *testing.T) []string
}

var credentialLogCases = []secretCase{
	{
		name: credNameSecret,
		new: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			c, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
				&ClientSecretCredentialOptions{ClientOptions: o, DisableInstanceDiscovery: true, Logger: l})
			return must(t, c, err), []string{entratest.DefaultClientSecret}
		},
		bad: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			const wrong = "wrong-secret-Zq9x~must-not-leak"
			c, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, wrong,
				&ClientSecretCredentialOptions{ClientOptions: o, DisableInstanceDiscovery: true, Logger: l})
			return must(t, c, err), []string{wrong}
		},
	},
}

func init() {
	credentialLogCases = append(credentialLogCases, moreCredentialLogCases...)
	for _, src := range []struct {
		name string
		ep   entratest.Endpoint
	}{
		{"IMDS", entratest.EndpointIMDS},
		{"App Service", entratest.EndpointAppService},
		{"Service Fabric", entratest.EndpointServiceFabric},
		{"Azure ML", entratest.EndpointAzureML},
		{"Cloud Shell", entratest.EndpointCloudShell},
		{"Azure Arc", entratest.EndpointAzureArc},
	} {
		credentialLogCases = append(credentialLogCases, miLogCase(src.name, src.ep))
	}
	credentialLogCases = append(credentialLogCases, toolLogCases...)
}

// moreCredentialLogCases covers every credential that runs against the
// emulator (or, for the Azure CLI, the fake az in testdata/fakebin).
var moreCredentialLogCases = []secretCase{
	{
		name: credNameCert,
		new: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			a, _ := sharedCerts(t)
			if err := srv.AddApp(entratest.App{TenantID: entratest.DefaultTenantID, ClientID: certClientID, Certificates: []*x509.Certificate{a.cert}}); err != nil {
				t.Fatal(err)
			}
			c, err := NewClientCertificateCredential(entratest.DefaultTenantID, certClientID, []*x509.Certificate{a.cert}, a.key,
				&ClientCertificateCredentialOptions{ClientOptions: o, DisableInstanceDiscovery: true, Logger: l, SendCertificateChain: true})
			return must(t, c, err), []string{keyPEM(t, a.key)}
		},
	},
	{
		name: credNameAssertion,
		new: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			federatedApp(t, srv, "log-test")
			// The assertions are JWTs: the check for anything JWT-shaped
			// covers them.
			c, err := NewClientAssertionCredential(entratest.DefaultTenantID, fedClientID, func(context.Context) (string, error) {
				return srv.IssueFederatedToken(entratest.FederatedToken{Issuer: "https://issuer.example", Subject: "log-test"})
			}, &ClientAssertionCredentialOptions{ClientOptions: o, DisableInstanceDiscovery: true, Logger: l})
			return must(t, c, err), nil
		},
	},
	{
		name: credNameWorkloadIdentity,
		new: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			federatedApp(t, srv, "system:serviceaccount:default:log")
			path := filepath.Join(t.TempDir(), "token")
			writeToken(t, srv, path, "system:serviceaccount:default:log")
			assertion, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewWorkloadIdentityCredential(&WorkloadIdentityCredentialOptions{ClientOptions: o, DisableInstanceDiscovery: true, Logger: l,
				ClientID: fedClientID, TenantID: entratest.DefaultTenantID, TokenFilePath: path})
			return must(t, c, err), []string{strings.TrimSpace(string(assertion))}
		},
	},
	{
		name: credNameOBO,
		new: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			assertion := issueUserToken(t, srv, entratest.DefaultUsername)
			c, err := NewOnBehalfOfCredentialWithSecret(entratest.DefaultTenantID, entratest.DefaultClientID, assertion, entratest.DefaultClientSecret,
				&OnBehalfOfCredentialOptions{ClientOptions: o, DisableInstanceDiscovery: true, Logger: l})
			return must(t, c, err), []string{assertion, entratest.DefaultClientSecret, assertionHash(assertion)}
		},
	},
	{
		name:   credNameEnvironment,
		serial: true,
		new: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			t.Setenv("AZURE_TENANT_ID", entratest.DefaultTenantID)
			t.Setenv("AZURE_CLIENT_ID", entratest.DefaultClientID)
			t.Setenv("AZURE_CLIENT_SECRET", entratest.DefaultClientSecret)
			c, err := NewEnvironmentCredential(&EnvironmentCredentialOptions{ClientOptions: o, DisableInstanceDiscovery: true, Logger: l})
			return must(t, c, err), []string{entratest.DefaultClientSecret}
		},
	},
	{
		// The chain's Logger reaches its members: the test's check for
		// the cache's events fails without it.
		name:   credNameDefault,
		serial: true,
		new: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			t.Setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
			t.Setenv("AZURE_TENANT_ID", entratest.DefaultTenantID)
			t.Setenv("AZURE_CLIENT_ID", entratest.DefaultClientID)
			t.Setenv("AZURE_CLIENT_SECRET", entratest.DefaultClientSecret)
			c, err := NewDefaultAzureCredential(&DefaultAzureCredentialOptions{ClientOptions: o, DisableInstanceDiscovery: true, Logger: l})
			return must(t, c, err), []string{entratest.DefaultClientSecret}
		},
	},
	{
		name: credNameDeviceCode,
		new: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			srv.SetDeviceCodePolicy(entratest.DeviceCodePolicy{Interval: time.Second})
			a := &approver{srv: srv}
			c := newDeviceCred(t, srv, a, func(p *publicOptions) { p.ClientOptions = o; p.Logger = l })
			return c, nil
		},
	},
	{
		name: credNameUserPassword,
		new: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			c, err := NewUsernamePasswordCredential(entratest.DefaultTenantID, entratest.AzureCLIClientID, entratest.DefaultUsername, entratest.DefaultPassword,
				&UsernamePasswordCredentialOptions{ClientOptions: o, DisableInstanceDiscovery: true, Logger: l})
			return must(t, c, err), []string{entratest.DefaultPassword}
		},
		bad: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			const wrong = "wrong-password-Kq7!must-not-leak"
			c, err := NewUsernamePasswordCredential(entratest.DefaultTenantID, entratest.AzureCLIClientID, entratest.DefaultUsername, wrong,
				&UsernamePasswordCredentialOptions{ClientOptions: o, DisableInstanceDiscovery: true, Logger: l})
			return must(t, c, err), []string{wrong}
		},
	},
	{
		name: credNameAuthCode,
		new: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			const webID = "c0de0000-0000-4000-8000-00000000c0de"
			const webSecret = "web-app-secret-Jx4~must-not-leak"
			if err := srv.AddApp(entratest.App{TenantID: entratest.DefaultTenantID, ClientID: webID, Secret: webSecret, RedirectURIs: []string{webRedirect}}); err != nil {
				t.Fatal(err)
			}
			if err := srv.SetAutoApprove(entratest.DefaultUsername); err != nil {
				t.Fatal(err)
			}
			code := authorizeApp(t, srv, webID)
			c, err := NewAuthorizationCodeCredential(entratest.DefaultTenantID, webID, code, webRedirect,
				&AuthorizationCodeCredentialOptions{ClientOptions: o, DisableInstanceDiscovery: true, Logger: l, ClientSecret: webSecret})
			return must(t, c, err), []string{code, webSecret}
		},
	},
}

// miLogCase is the log-leak case of one managed identity source. The
// caller's logging options reach the credential's pipeline; the source's
// secret (the identity header, Azure ML's secret, Azure Arc's key) is what
// must not leak.
func miLogCase(source string, ep entratest.Endpoint) secretCase {
	var arcKeyDir string
	return secretCase{
		name:     credNameManagedIdentity + " (" + source + ")",
		offEntra: true,
		echo:     ep,
		// Arc's challenge comes first and carries nothing secret; an echo
		// of it ends the acquisition before the key is sent.
		noEcho: ep == entratest.EndpointAzureArc,
		new: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			host := newMIHost(t, srv)
			env := host.Env(ep)
			arcKeyDir = host.ArcKeyDir()
			c, err := tryMICred(host, ep, func(m *miTest) { m.opts.Logger = l; m.opts.Logging = o.Logging })
			return must(t, c, err), []string{env["IDENTITY_HEADER"], env["MSI_SECRET"]}
		},
		extraSecrets: func(t *testing.T) []string {
			if ep != entratest.EndpointAzureArc {
				return nil
			}
			files, err := os.ReadDir(arcKeyDir)
			if err != nil || len(files) == 0 {
				t.Fatalf("no Azure Arc key file in %s (%v)", arcKeyDir, err)
			}
			var keys []string
			for _, f := range files {
				b, err := os.ReadFile(filepath.Join(arcKeyDir, f.Name()))
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, strings.TrimSpace(string(b)))
			}
			return keys
		},
	}
}

// userSecrets returns the refresh token and id_token a user credential
// holds for its account (nil for other credentials), for the leak check.
func userSecrets(t *testing.T, cred azcore.TokenCredential) []string {
	var p *publicClient
	switch c := cred.(type) {
	case *DeviceCodeCredential:
		p = c.client
	case *UsernamePasswordCredential:
		p = c.client
	case *AuthorizationCodeCredential:
		p = c.client
	case *InteractiveBrowserCredential:
		p = c.client
	default:
		return nil
	}
	rec := p.record.Load()
	if rec == nil {
		t.Fatal("the user credential has no account after a token")
	}
	ut, ok, err := p.users.LoadUser(context.Background(), account.UserKey{Authority: p.host.Host, ClientID: p.clientID, HomeAccountID: rec.HomeAccountID})
	if err != nil || !ok || ut.RefreshToken == "" {
		t.Fatalf("no refresh token stored for the account (%v, %v)", ok, err)
	}
	return []string{ut.RefreshToken, ut.IDToken}
}

// authorizeApp is authorize for the web app clientID.
func authorizeApp(t *testing.T, srv *entratest.Server, clientID string) string {
	t.Helper()
	q := url.Values{"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {webRedirect},
		"scope": {"api://demo/.default openid offline_access"}, "state": {"s"}}
	c := *srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(srv.URL() + "/" + entratest.DefaultTenantID + "/oauth2/v2.0/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

// keyPEM is a private key in PKCS#8 PEM, as it would sit in a file.
func keyPEM(t *testing.T, key any) string {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	// One line of the base64 body is enough to recognise a leak.
	lines := strings.Split(string(b), "\n")
	return lines[2]
}

func must[C azcore.TokenCredential](t *testing.T, c C, err error) azcore.TokenCredential {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// syncBuffer is a log sink shared by azcore's listener and credentials.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// jwtLike matches a compact JWS/JWT (access tokens, client assertions):
// nothing shaped like one may be logged.
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)

// TestLogsCarryNoSecrets runs every credential at debug level, with azcore's
// events routed to the same logger and body logging requested, through a
// success, a background refresh, a refresh failed by an outage, and a
// failed token request; then checks that no token, secret, assertion,
// refresh token or password is in the logs or the errors.
func TestLogsCarryNoSecrets(t *testing.T) {
	// azcore's events go to one logger for the whole process; each
	// credential logs to its own, so that the cases can run in parallel
	// and each one's logs are checked on their own.
	var azBuf syncBuffer
	RouteAzcoreLogs(slog.New(slog.NewTextHandler(&azBuf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { RouteAzcoreLogs(nil) })
	var mu sync.Mutex
	var allLeaks []string

	t.Run("credentials", func(t *testing.T) {
		for _, tc := range credentialLogCases {
			t.Run(tc.name, func(t *testing.T) {
				if !tc.serial {
					t.Parallel()
				}
				leaks, errTexts, logs := runLogCase(t, tc)
				mu.Lock()
				allLeaks = append(allLeaks, leaks...)
				mu.Unlock()
				checkLeaks(t, leaks, append(errTexts, logs))
			})
		}
	})
	azLogs := azBuf.String()
	// The secret headers were sent (and allowed by the caller), yet azcore
	// printed no value for them.
	for _, want := range []string{"event=Request", "X-Identity-Header: REDACTED", "Secret: REDACTED", "Authorization: REDACTED"} {
		if !strings.Contains(azLogs, want) {
			t.Errorf("azcore's logs lack %q; the test did not exercise what it claims:\n%s", want, azLogs)
		}
	}
	checkLeaks(t, allLeaks, []string{azLogs})
}

// runLogCase takes one credential through a token, a background refresh
// and a refresh failed by an outage (for tokens from the emulator's token
// endpoint), and a failed token request; it returns the secrets and tokens
// involved, the error texts and the credential's logs.
func runLogCase(t *testing.T, tc secretCase) (leaks, errTexts []string, logs string) {
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := newEmulator(t, &entratest.Options{Token: entratest.TokenPolicy{RefreshIn: time.Second}})
	o := emulatorOptions(srv)
	// A user asking for bodies and for the secret headers' values must
	// still get no secret.
	o.Logging.IncludeBody = true
	o.Logging.AllowedHeaders = []string{"Authorization", "X-Identity-Header", "secret", "Cookie", "Client-Request-Id"}
	ctx := context.Background()

	cred, secrets := tc.new(t, srv, o, logger)
	leaks = append(leaks, secrets...)
	tok, err := cred.GetToken(ctx, demoScope)
	if err != nil {
		t.Fatal(err)
	}
	leaks = append(leaks, tok.Token)
	if tc.offEntra {
		if _, err := cred.GetToken(ctx, demoScope); err != nil {
			t.Fatal(err)
		}
	} else {
		testRefreshAndOutage(t, srv, cred, tok, &buf, &leaks)
	}
	leaks = append(leaks, userSecrets(t, cred)...)
	if tc.extraSecrets != nil {
		leaks = append(leaks, tc.extraSecrets(t)...)
	}

	if tc.bad != nil {
		bad, secrets := tc.bad(t, srv, o, logger)
		leaks = append(leaks, secrets...)
		if _, err := bad.GetToken(ctx, demoScope); err == nil {
			t.Fatal("the bad credential got a token")
		} else {
			errTexts = append(errTexts, err.Error())
		}
	}
	if ep, ok := tc.echoEndpoint(); ok {
		errTexts = append(errTexts, echoStep(t, srv, ep, tc, o, logger, cred, &leaks)...)
	}

	logs = buf.String()
	wants := []string{"token acquired", "background=true", "refresh failed", "retry_in"}
	switch {
	case tc.quiet:
		wants = nil
	case tc.offEntra:
		wants = []string{"token acquired"}
	}
	for _, want := range wants {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs lack %q; the test did not exercise what it claims:\n%s", want, logs)
		}
	}
	return leaks, errTexts, logs
}

// echoEndpoint is the endpoint whose Echo fault tc's credentials meet.
func (tc secretCase) echoEndpoint() (entratest.Endpoint, bool) {
	switch {
	case tc.noEcho:
		return "", false
	case tc.echo != "":
		return tc.echo, true
	case tc.offEntra:
		return "", false
	}
	return entratest.EndpointToken, true
}

// echoScope is a scope no earlier step asked for, so that the echo step
// goes to the network.
var echoScope = policy.TokenRequestOptions{Scopes: []string{"api://echo/.default"}}

// echoStep makes ep quote every request back in its error (form and
// headers: the client secret, assertion, refresh token, password, identity
// header…) and asks cred, and a fresh bad credential when tc has one, for a
// token: each must fail with the echo's error, its text free of secrets.
func echoStep(t *testing.T, srv *entratest.Server, ep entratest.Endpoint, tc secretCase, o azcore.ClientOptions, l *slog.Logger, cred azcore.TokenCredential, leaks *[]string) (errTexts []string) {
	srv.SetFault(ep, entratest.Fault{Echo: true})
	defer srv.SetFault(ep, entratest.Fault{})
	creds := []azcore.TokenCredential{cred}
	if tc.bad != nil {
		bad, secrets := tc.bad(t, srv, o, l)
		*leaks = append(*leaks, secrets...)
		creds = append(creds, bad)
	}
	for i, c := range creds {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := c.GetToken(ctx, echoScope)
		cancel()
		if err == nil {
			t.Fatalf("credential %d got a token from an endpoint that echoes", i)
		}
		// The echo's code proves the request reached the echo, and its
		// text is what would carry a secret.
		if !strings.Contains(err.Error(), "900144") {
			t.Errorf("credential %d: the error is not the echo's: %v", i, err)
		}
		errTexts = append(errTexts, err.Error(), fmt.Sprintf("%+v", err))
		var afe *AuthenticationFailedError
		if errors.As(err, &afe) && afe.RawResponse != nil {
			body, _ := io.ReadAll(afe.RawResponse.Body)
			errTexts = append(errTexts, string(body))
		}
	}
	return errTexts
}

// checkLeaks fails t if any text holds one of leaks or anything JWT-shaped.
func checkLeaks(t *testing.T, leaks, texts []string) {
	t.Helper()
	for _, text := range texts {
		for _, s := range leaks {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("a secret or token (%.6s…) appears in:\n%s", s, text)
			}
		}
		if m := jwtLike.FindString(text); m != "" {
			t.Errorf("something shaped like a JWT (%.12s…) appears in:\n%s", m, text)
		}
	}
}

// testRefreshAndOutage waits (refresh_in is 1 s) for a background refresh,
// then for a refresh failed by an outage.
func testRefreshAndOutage(t *testing.T, srv *entratest.Server, cred azcore.TokenCredential, tok azcore.AccessToken, buf *syncBuffer, leaks *[]string) {
	ctx := context.Background()
	eventually(t, "a background refresh", func() bool {
		got, err := cred.GetToken(ctx, demoScope)
		if err == nil && got.Token != tok.Token {
			*leaks = append(*leaks, got.Token)
			return true
		}
		return false
	})
	mark := len(buf.String())
	srv.SetOutage(true)
	eventually(t, "a failed refresh", func() bool {
		_, _ = cred.GetToken(ctx, demoScope)
		return strings.Contains(buf.String()[mark:], "refresh failed")
	})
	srv.SetOutage(false)
}

func TestRouteAzcoreLogsLevels(t *testing.T) {
	srv := newEmulator(t, nil)
	for _, tc := range []struct {
		level  slog.Level
		events []azlog.Event
		want   []string
		absent []string
	}{
		{slog.LevelInfo, nil, nil, []string{"event=Request", "event=Retry"}},
		{slog.LevelDebug, nil, []string{"event=Request", "event=Response", "event=Retry"}, nil},
		{slog.LevelDebug, []azlog.Event{azlog.EventRetryPolicy}, []string{"event=Retry"}, []string{"event=Request", "event=Response"}},
	} {
		var buf syncBuffer
		RouteAzcoreLogs(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level})), tc.events...)
		if _, err := newSecretCred(t, srv, nil).GetToken(context.Background(), demoScope); err != nil {
			t.Fatal(err)
		}
		RouteAzcoreLogs(nil)
		s := buf.String()
		for _, w := range tc.want {
			if !strings.Contains(s, w) {
				t.Errorf("level %v, events %v: %q missing from\n%s", tc.level, tc.events, w, s)
			}
		}
		for _, a := range tc.absent {
			if strings.Contains(s, a) {
				t.Errorf("level %v, events %v: %q present in\n%s", tc.level, tc.events, a, s)
			}
		}
	}
	azlog.SetEvents()
}
