package azid_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
)

// timeoutCredential gives another credential a deadline and, when it runs
// out, tells a chain to try its next source instead of failing.
type timeoutCredential struct {
	cred    azcore.TokenCredential
	timeout time.Duration
}

func (c timeoutCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tok, err := c.cred.GetToken(ctx, opts)
	if errors.Is(err, context.DeadlineExceeded) {
		return tok, azid.NewCredentialUnavailableError("no token within " + c.timeout.String())
	}
	return tok, err
}

// slowCredential never answers before its caller's deadline.
type slowCredential struct{}

func (slowCredential) GetToken(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	<-ctx.Done()
	return azcore.AccessToken{}, ctx.Err()
}

// fixedCredential stands in for any working credential.
type fixedCredential struct{}

func (fixedCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "from the second source", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// Your own credential takes part in a chain as azid's do: returning
// NewCredentialUnavailableError sends the chain on to its next source,
// where any other error would stop it.
func ExampleNewCredentialUnavailableError() {
	chain, err := azid.NewChainedTokenCredential([]azcore.TokenCredential{
		timeoutCredential{cred: slowCredential{}, timeout: 10 * time.Millisecond},
		fixedCredential{},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := chain.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Token)
	// Output: from the second source
}
