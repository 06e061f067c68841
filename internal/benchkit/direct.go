package benchkit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
)

// Direct is a Factory for a baseline, not a credential anyone should use:
// it has no cache and no azcore pipeline, and every GetToken is one
// client-credentials request straight through srv.Client(). Run through the
// cold herd, it shows the floor the emulator itself sets on the shared
// cores (it signs every token), below which no credential's
// figure can go.
func Direct(srv *entratest.Server, _ Options) azcore.TokenCredential {
	return &directCredential{srv: srv}
}

type directCredential struct{ srv *entratest.Server }

// GetToken makes one token request for the default app and tenant (or
// opts.TenantID).
func (d *directCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tenant := entratest.DefaultTenantID
	if opts.TenantID != "" {
		tenant = opts.TenantID
	}
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {entratest.DefaultClientID},
		"client_secret": {entratest.DefaultClientSecret},
		"scope":         {strings.Join(opts.Scopes, " ")},
	}
	endpoint := d.srv.URL() + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return azcore.AccessToken{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := d.srv.Client().Do(req)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return azcore.AccessToken{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return azcore.AccessToken{}, fmt.Errorf("benchkit: token request: %s: %s", resp.Status, body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return azcore.AccessToken{}, fmt.Errorf("benchkit: token response: %w", err)
	}
	return azcore.AccessToken{Token: tr.AccessToken, ExpiresOn: time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)}, nil
}
