package serve

import (
	"context"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// staticCredential answers every scope with one fixed token: the empty
// work against which the handler's own cost is measured, and a credential
// for the fuzz target that needs no network.
type staticCredential struct{}

func (staticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "header.payload.signature", ExpiresOn: time.Now().Add(time.Hour)}, nil
}
