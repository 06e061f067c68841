package azid

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
)

// An emulator on loopback works as an authority host without
// DisableInstanceDiscovery: no instance discovery request, one token
// request; for app and user credentials alike.
func TestLocalAuthorityNeedsNoDiscovery(t *testing.T) {
	srv := newUserEmulator(t)
	co := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()}, Transport: srv.Client()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	app, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret, &ClientSecretCredentialOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.GetToken(ctx, storageScope); err != nil {
		t.Fatalf("app credential: %v", err)
	}
	user, err := NewUsernamePasswordCredential(entratest.DefaultTenantID, entratest.AzureCLIClientID, entratest.DefaultUsername, entratest.DefaultPassword, &UsernamePasswordCredentialOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := user.GetToken(ctx, storageScope); err != nil {
		t.Fatalf("user credential: %v", err)
	}
	if n := srv.Requests(entratest.EndpointInstanceDiscovery); n != 0 {
		t.Errorf("%d instance discovery requests for a loopback authority", n)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
}

// An authority host that instance discovery cannot vouch for fails after
// one request (no retries), with an error naming DisableInstanceDiscovery.
// Here Entra's discovery host does not resolve (no internet), or it
// answers that the host is unknown: either way, the same advice.
func TestUndiscoverableAuthorityFailsFast(t *testing.T) {
	var attempts atomic.Int32
	co := azcore.ClientOptions{
		Cloud:            cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.azid-test.invalid/"},
		PerRetryPolicies: []policy.Policy{countingPolicy{&attempts}},
		Retry:            policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Second},
	}
	cred, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret, &ClientSecretCredentialOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = cred.GetToken(ctx, storageScope)
	if err == nil || !strings.Contains(err.Error(), "DisableInstanceDiscovery") {
		t.Fatalf("GetToken = %v, want an error naming DisableInstanceDiscovery", err)
	}
	if n := attempts.Load(); n != 1 {
		t.Errorf("%d requests, want 1: %v", n, err)
	}
}

type countingPolicy struct{ n *atomic.Int32 }

func (c countingPolicy) Do(r *policy.Request) (*http.Response, error) {
	c.n.Add(1)
	return r.Next()
}
