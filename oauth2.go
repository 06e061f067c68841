package azid

import (
	"context"
	"errors"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"golang.org/x/oauth2"
)

// TokenSource adapts cred to golang.org/x/oauth2, for libraries that take an
// [oauth2.TokenSource] (oauth2.NewClient, gRPC's oauth credentials, many API
// clients). Every Token call is served by azid's cache engine: the
// credential's own cache for azid credentials; any other credential is
// wrapped in a [CachingCredential].
//
// The returned token's Expiry is the time azid plans to refresh it (its
// RefreshOn), not the end of its validity. oauth2.NewClient and
// oauth2.ReuseTokenSource keep a token until Expiry; with the true expiry
// they would stop asking azid, so azid could neither refresh the token in
// the background nor hand out the refreshed one, and the first request
// after expiry would wait for a new token. The token itself remains valid
// past Expiry. For the same reason Expiry is not moved forward while a
// refresh is running or failing: oauth2 then asks azid on every request
// (a cache hit), and azid keeps serving the token until it is close to
// expiry; oauth2.Token.Valid reports false in that window.
//
// Token has no context parameter; it uses context.Background, so a call
// that must wait for a new token waits at most the engine's acquisition
// timeout (1 minute).
func TokenSource(cred azcore.TokenCredential, scopes ...string) oauth2.TokenSource {
	if len(scopes) == 0 {
		return errTokenSource{errors.New("azid: TokenSource needs at least one scope, such as \"https://management.azure.com/.default\"")}
	}
	c, err := withEngine(cred)
	if err != nil {
		return errTokenSource{fmt.Errorf("azid: TokenSource: %w", err)}
	}
	return &tokenSource{cred: c, opts: policy.TokenRequestOptions{Scopes: append([]string(nil), scopes...)}}
}

type tokenSource struct {
	cred azcore.TokenCredential
	opts policy.TokenRequestOptions
}

// Token implements oauth2.TokenSource.
func (s *tokenSource) Token() (*oauth2.Token, error) {
	tok, err := s.cred.GetToken(context.Background(), s.opts)
	if err != nil {
		return nil, err
	}
	expiry := tok.RefreshOn
	if expiry.IsZero() || expiry.After(tok.ExpiresOn) {
		expiry = tok.ExpiresOn
	}
	return &oauth2.Token{AccessToken: tok.Token, TokenType: "Bearer", Expiry: expiry}, nil
}

// errTokenSource reports a construction error from every Token call, since
// oauth2.TokenSource has no other way to fail.
type errTokenSource struct{ err error }

func (e errTokenSource) Token() (*oauth2.Token, error) { return nil, e.err }
