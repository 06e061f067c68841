//go:build unix

package redis

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/azid-go/azid"
	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/entratest"
)

// azidentity's public client, which the emulator knows in every tenant.
const userClientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

// userCache is one instance's persistent cache over its own Redis
// connection.
func userCache(t *testing.T, addr string) cache.Cache {
	t.Helper()
	client := newClient(addr)
	t.Cleanup(func() { client.Close() })
	s, err := New(client, patient(&Options{EncryptionKeys: []EncryptionKey{key1}}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(&cache.Options{Storage: s})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestE2EFleetRefreshesOneAccountWithoutReuse: a user signs in on one
// instance; four others, each with its own Redis connection and the
// account's record, refresh overlapping sets of scopes at once against an
// emulator that revokes the sign-in when a refresh token is presented
// twice. The account's Redis lock makes each redemption read the refresh
// token the previous one stored.
func TestE2EFleetRefreshesOneAccountWithoutReuse(t *testing.T) {
	srv, err := entratest.NewServer(&entratest.Options{DetectRefreshTokenReuse: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	r := startRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	co := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()},
		Transport: srv.Client(),
	}
	signIn, err := azid.NewUsernamePasswordCredential("organizations", userClientID, entratest.DefaultUsername, entratest.DefaultPassword,
		&azid.UsernamePasswordCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, Cache: userCache(t, r.Addr())})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := signIn.Authenticate(ctx, &policy.TokenRequestOptions{Scopes: []string{"api://rt-0/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	const instances, perInstance = 4, 4
	var wg sync.WaitGroup
	errs := make(chan error, 2*instances*perInstance)
	start := make(chan struct{})
	for i := range instances {
		cred, err := azid.NewDeviceCodeCredential(&azid.DeviceCodeCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true,
			Cache: userCache(t, r.Addr()), AuthenticationRecord: rec, DisableAutomaticAuthentication: true})
		if err != nil {
			t.Fatal(err)
		}
		// Instance i asks rt-(2i+1) … rt-(2i+4): each scope but the
		// first and last is asked by two instances.
		// Each also asks for CAE tokens, which the engine keeps (and
		// locks) in the account's CAE partition: only the account's lock
		// keeps those redemptions apart from the others.
		for j := range perInstance {
			for _, cae := range []bool{false, true} {
				o := policy.TokenRequestOptions{Scopes: []string{fmt.Sprintf("api://rt-%d/.default", 2*i+1+j)}, EnableCAE: cae}
				wg.Go(func() {
					<-start
					if _, err := cred.GetToken(ctx, o); err != nil {
						errs <- err
					}
				})
			}
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := srv.RefreshTokenStats()
	if st.Reused != 0 || st.RevokedGrants != 0 || st.RefusedRevoked != 0 {
		t.Fatalf("refresh tokens: %+v; want none reused or revoked", st)
	}
	// Scopes asked by two instances were redeemed once: the second found
	// the first's token in Redis.
	if distinct := 2 * (2*(instances-1) + perInstance); st.Redeemed != distinct {
		t.Fatalf("%d redemptions for %d distinct scopes", st.Redeemed, distinct)
	}
}
