package azid_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
)

// homegrownCredential stands for a credential written outside azid, for
// example one that asks an internal token service; it has no cache.
type homegrownCredential struct{ calls int }

func (h *homegrownCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	h.calls++ // a CachingCredential calls it for one key at a time
	return azcore.AccessToken{Token: "opaque", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// Giving any credential azid's cache: hits without locks, one call for many
// concurrent misses, refresh in the background before expiry, and the
// cached token served through outages of the token source.
func ExampleNewCachingCredential() {
	inner := &homegrownCredential{}
	cred, err := azid.NewCachingCredential(inner, nil)
	if err != nil {
		log.Fatal(err)
	}
	opts := policy.TokenRequestOptions{Scopes: []string{"api://my-service/.default"}}
	for range 1000 {
		if _, err := cred.GetToken(context.Background(), opts); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("calls to the wrapped credential:", inner.calls)
	// Output: calls to the wrapped credential: 1
}
