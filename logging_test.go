package azid

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/azid-go/azid/entratest"
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
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	RouteAzcoreLogs(logger)
	t.Cleanup(func() { RouteAzcoreLogs(nil) })

	for _, tc := range credentialLogCases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newEmulator(t, &entratest.Options{Token: entratest.TokenPolicy{RefreshIn: time.Second}})
			o := emulatorOptions(srv)
			o.Logging.IncludeBody = true // a user asking for bodies must still not get secrets
			ctx := context.Background()
			var leaks []string
			var errTexts []string

			cred, secrets := tc.new(t, srv, o, logger)
			leaks = append(leaks, secrets...)
			tok, err := cred.GetToken(ctx, demoScope)
			if err != nil {
				t.Fatal(err)
			}
			leaks = append(leaks, tok.Token)
			// refresh_in is 1 s: wait for the background refresh, then for a
			// failed one during an outage.
			eventually(t, "a background refresh", func() bool {
				got, err := cred.GetToken(ctx, demoScope)
				if err == nil && got.Token != tok.Token {
					leaks = append(leaks, got.Token)
					return true
				}
				return false
			})
			srv.SetOutage(true)
			eventually(t, "a failed refresh", func() bool {
				_, _ = cred.GetToken(ctx, demoScope)
				return strings.Contains(buf.String(), "refresh failed")
			})
			srv.SetOutage(false)

			if tc.bad != nil {
				bad, secrets := tc.bad(t, srv, o, logger)
				leaks = append(leaks, secrets...)
				if _, err := bad.GetToken(ctx, demoScope); err == nil {
					t.Fatal("the bad credential got a token")
				} else {
					errTexts = append(errTexts, err.Error())
				}
			}

			logs := buf.String()
			for _, want := range []string{"token acquired", "background=true", "refresh failed", "retry_in", "event=Request"} {
				if !strings.Contains(logs, want) {
					t.Errorf("the logs lack %q; the test did not exercise what it claims:\n%s", want, logs)
				}
			}
			for _, text := range append(errTexts, logs) {
				for _, s := range leaks {
					if s != "" && strings.Contains(text, s) {
						t.Errorf("a secret or token (%.6s…) appears in:\n%s", s, text)
					}
				}
				if m := jwtLike.FindString(text); m != "" {
					t.Errorf("something shaped like a JWT (%.12s…) appears in:\n%s", m, text)
				}
			}
		})
	}
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
