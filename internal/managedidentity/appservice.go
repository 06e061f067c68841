package managedidentity

import (
	"context"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// App Service, Functions, Container Apps: IDENTITY_ENDPOINT and
// IDENTITY_HEADER, API version 2019-08-01.
const appServiceAPIVersion = "2019-08-01"

func (c *Client) setupAppService(o *Options) error {
	u, err := parseEndpoint(envIdentityEndpoint, o.getenv(envIdentityEndpoint))
	if err != nil {
		return err
	}
	c.endpoint, c.secret = u, o.getenv(envIdentityHeader)
	return nil
}

func (c *Client) appServiceToken(ctx context.Context, pl runtime.Pipeline, resource string) (Token, error) {
	x := exchange{
		method:  http.MethodGet,
		query:   map[string][]string{"api-version": {appServiceAPIVersion}, "resource": {resource}},
		header:  http.Header{"X-Identity-Header": {c.secret}},
		secrets: []string{c.secret},
	}
	c.selector(x.query, "mi_res_id")
	resp, body, err := c.send(ctx, pl, x)
	if err != nil {
		return Token{}, err
	}
	return c.result(resp, body, x.secrets)
}
