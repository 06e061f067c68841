package azid

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
)

func TestDeviceCodeCredentialEndToEnd(t *testing.T) {
	srv := newUserEmulator(t)
	a := &approver{srv: srv}
	cred, err := newDeviceCodeCredential(&DeviceCodeCredentialOptions{
		ClientOptions:            emulatorOptions(srv),
		DisableInstanceDiscovery: true,
		UserPrompt:               a.prompt,
	}, testPollUnit)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), storageScope)
	if err != nil {
		t.Fatal(err)
	}
	c := mustClaims(t, srv, tok.Token)
	if c["aud"] != "https://storage.azure.com" || c["scp"] != "user_impersonation" || c["appid"] != developerSignOnClientID {
		t.Fatalf("claims = %v", c)
	}
	if !strings.Contains(a.last.Message, a.last.UserCode) || !strings.HasSuffix(a.last.VerificationURL, "/devicelogin") {
		t.Fatalf("prompt = %+v", a.last)
	}
	reqs := srv.TokenRequests()
	last := reqs[len(reqs)-1]
	if last.GrantType != deviceGrant || last.Status != 200 || last.Tenant != organizationsTenantID {
		t.Fatalf("last token request = %+v", last)
	}
	if st := cred.CacheStats(); st.Entries != 1 || st.SignIns != 1 || st.TokenRequests != 1 || st.Misses != 0 {
		t.Fatalf("stats = %+v, want the sign-in as the one token request", st)
	}
	if _, err := cred.GetToken(context.Background(), storageScope); err != nil {
		t.Fatal(err)
	}
	if st := cred.CacheStats(); st.Hits != 1 || st.TokenRequests != 1 {
		t.Fatalf("stats after a second GetToken = %+v, want a hit", st)
	}
}

func TestDeviceCodeOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name string
		act  func(srv *entratest.Server, code string) error
		want string // OAuth error, "" for success
	}{
		{"approve after pending polls", func(srv *entratest.Server, code string) error {
			go func() {
				// Approve once the client has polled a few times.
				for srv.Requests(entratest.EndpointToken) < 3 {
					runtimeGosched()
				}
				_ = srv.ApproveDeviceCode(code, entratest.DefaultUsername)
			}()
			return nil
		}, ""},
		{"deny", func(srv *entratest.Server, code string) error { return srv.DenyDeviceCode(code) }, "authorization_declined"},
		{"expire", func(srv *entratest.Server, code string) error { return srv.ExpireDeviceCode(code) }, "expired_token"},
		{"slow down", func(srv *entratest.Server, code string) error {
			if err := srv.SlowDownDeviceCode(code, 2); err != nil {
				return err
			}
			return srv.ApproveDeviceCode(code, entratest.DefaultUsername)
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newUserEmulator(t)
			a := &approver{srv: srv}
			a.act = func(code string) error { return tc.act(srv, code) }
			cred := newDeviceCred(t, srv, a, nil)
			_, err := cred.GetToken(context.Background(), storageScope)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var afe *AuthenticationFailedError
			if !errors.As(err, &afe) || afe.ErrorCode != tc.want {
				t.Fatalf("GetToken = %v, want %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "entratest-dc.") {
				t.Fatal("the error holds the device code")
			}
		})
	}
	// slow_down was answered twice and polling carried on to success.
	srv := newUserEmulator(t)
	a := &approver{srv: srv}
	a.act = func(code string) error {
		_ = srv.SlowDownDeviceCode(code, 3)
		return srv.ApproveDeviceCode(code, entratest.DefaultUsername)
	}
	if _, err := newDeviceCred(t, srv, a, nil).GetToken(context.Background(), storageScope); err != nil {
		t.Fatal(err)
	}
	var slow, ok int
	for _, r := range srv.TokenRequests() {
		switch r.Status {
		case 400:
			slow++
		case 200:
			ok++
		}
	}
	if slow != 3 || ok != 1 {
		t.Fatalf("polls: %d slow_down, %d success; want 3 and 1", slow, ok)
	}
}

func TestDeviceCodeStopsWhenTheContextEnds(t *testing.T) {
	srv := newUserEmulator(t)
	// An hour between polls: only the context can end the wait.
	srv.SetDeviceCodePolicy(entratest.DeviceCodePolicy{Interval: 3600e9})
	ctx, cancel := context.WithCancel(context.Background())
	a := &approver{srv: srv}
	a.act = func(string) error { cancel(); return nil }
	cred, err := newDeviceCodeCredential(&DeviceCodeCredentialOptions{
		ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true, UserPrompt: a.prompt,
	}, 1e9)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(ctx, storageScope)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("GetToken = %v, want context.Canceled", err)
	}
}

func TestDeviceCodeUserPromptError(t *testing.T) {
	srv := newUserEmulator(t)
	boom := errors.New("no terminal")
	a := &approver{srv: srv}
	a.act = func(string) error { return boom }
	_, err := newDeviceCred(t, srv, a, nil).GetToken(context.Background(), storageScope)
	if !errors.Is(err, boom) || srv.Requests(entratest.EndpointToken) != 0 {
		t.Fatalf("GetToken = %v after %d polls", err, srv.Requests(entratest.EndpointToken))
	}
}

func TestAuthenticateNeedsAScopeForCustomClouds(t *testing.T) {
	srv := newUserEmulator(t)
	cred := newDeviceCred(t, srv, &approver{srv: srv}, nil)
	if _, err := cred.Authenticate(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "Scopes") {
		t.Fatalf("Authenticate(nil) = %v", err)
	}
	if got := defaultScope(cloudPublic(), mustURL("https://login.microsoftonline.com/")); len(got) != 1 || got[0] != "https://management.core.windows.net//.default" {
		t.Fatalf("default scope = %v", got)
	}
	_ = policy.TokenRequestOptions{}
}
