package azid

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// userTimeoutCred is a user's own credential in the manner of azidentity's
// documented example: it gives up on a slow source and tells the chain to
// try the next one.
type userTimeoutCred struct{ wrap bool }

func (u userTimeoutCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	err := NewCredentialUnavailableError("managed identity timed out")
	if u.wrap {
		err = fmt.Errorf("my wrapper: %w", err)
	}
	return azcore.AccessToken{}, err
}

func TestNewCredentialUnavailableErrorMovesTheChainOn(t *testing.T) {
	for _, wrap := range []bool{false, true} {
		t.Run(fmt.Sprintf("wrapped=%v", wrap), func(t *testing.T) {
			next := &stubCred{tok: "next"}
			c := newTestChain(t, nil, userTimeoutCred{wrap: wrap}, next)
			if tok := mustToken(t, c, demoScope); tok.Token != "next" {
				t.Fatalf("token %q, want the next source's", tok.Token)
			}
			if next.calls.Load() != 1 {
				t.Fatalf("next source called %d times, want 1", next.calls.Load())
			}
		})
	}
}

func TestNewCredentialUnavailableErrorText(t *testing.T) {
	err := NewCredentialUnavailableError("managed identity timed out")
	if err.Error() != "managed identity timed out" {
		t.Fatalf("Error() = %q, want the message as given", err.Error())
	}
	if _, ok := err.(interface{ NonRetriable() }); !ok {
		t.Fatal("azcore's retry policy would retry a credential-unavailable error")
	}
	if !isUnavailable(err) {
		t.Fatal("not recognised as unavailable")
	}
	// A chain whose only source is unavailable is unavailable itself, with
	// the user's message in its error, so an outer chain moves on too.
	inner := newTestChain(t, nil, userTimeoutCred{})
	next := &stubCred{tok: "outer"}
	outer := newTestChain(t, nil, inner, next)
	if tok := mustToken(t, outer, demoScope); tok.Token != "outer" {
		t.Fatalf("token %q", tok.Token)
	}
	_, err = inner.GetToken(context.Background(), demoScope)
	var u *credentialUnavailableError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "\n\tmanaged identity timed out") {
		t.Fatalf("chain error %q does not list the user's message", err)
	}
}

func TestNonAzidentityErrorsAreNotUnavailable(t *testing.T) {
	for _, err := range []error{
		errors.New("credentialUnavailableError"),
		fmt.Errorf("wrapped: %w", errors.New("x")),
		errors.Join(errors.New("a"), errors.New("b")),
		newAuthenticationFailedError("ClientSecretCredential", errors.New("invalid_client")),
	} {
		if isUnavailable(err) {
			t.Errorf("%q recognised as unavailable", err)
		}
	}
	if !isUnavailable(errors.Join(errors.New("a"), NewCredentialUnavailableError("b"))) {
		t.Error("an unavailable error inside errors.Join not recognised")
	}
}
