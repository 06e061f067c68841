package interop

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/azid-go/azid"
)

// fixedCred answers every GetToken with one token and counts calls.
type fixedCred struct{ calls int }

func (f *fixedCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	f.calls++
	return azcore.AccessToken{Token: "from-the-next-source", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestAzidChainMovesPastUnavailableAzidentityCredential puts a real,
// unmodified azidentity credential that cannot work here (AzureCLICredential
// with no az on PATH) first in an azid chain: azidentity says it is
// unavailable with its own unexported error type, and the chain must try
// the next source rather than fail.
func TestAzidChainMovesPastUnavailableAzidentityCredential(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	cli, err := azidentity.NewAzureCLICredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}}

	// The premise: azidentity's own chain calls this unavailable.
	_, cliErr := cli.GetToken(ctx, opts)
	if cliErr == nil {
		t.Fatal("AzureCLICredential got a token with no az on PATH")
	}

	next := &fixedCred{}
	chain, err := azid.NewChainedTokenCredential([]azcore.TokenCredential{cli, next}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := chain.GetToken(ctx, opts)
	if err != nil {
		t.Fatalf("the chain stopped at azidentity's unavailable credential: %v", err)
	}
	if tok.Token != "from-the-next-source" || next.calls != 1 {
		t.Fatalf("token %q after %d calls of the next source, want the next source's after 1", tok.Token, next.calls)
	}

	// Alone in a chain, it makes the chain unavailable, so an outer azid
	// chain moves on as well; the error names what azidentity said.
	inner, err := azid.NewChainedTokenCredential([]azcore.TokenCredential{cli}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = inner.GetToken(ctx, opts)
	if err == nil || !strings.Contains(err.Error(), cliErr.Error()) {
		t.Fatalf("chain error %v does not carry azidentity's %q", err, cliErr)
	}
	outer, err := azid.NewChainedTokenCredential([]azcore.TokenCredential{inner, next}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := outer.GetToken(ctx, opts); err != nil {
		t.Fatalf("outer chain: %v", err)
	}

	// A user's credential written for azidentity, returning
	// azidentity.NewCredentialUnavailableError, moves azid's chain on too.
	userCred := errCred{azidentity.NewCredentialUnavailableError("not here")}
	chain2, err := azid.NewChainedTokenCredential([]azcore.TokenCredential{userCred, next}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chain2.GetToken(ctx, opts); err != nil {
		t.Fatalf("azidentity.NewCredentialUnavailableError stopped azid's chain: %v", err)
	}

	// A real failure still stops the chain.
	failing := errCred{errors.New("boom")}
	chain3, err := azid.NewChainedTokenCredential([]azcore.TokenCredential{failing, next}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chain3.GetToken(ctx, opts); err == nil {
		t.Fatal("a real failure did not stop the chain")
	}
}

type errCred struct{ err error }

func (e errCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, e.err
}
