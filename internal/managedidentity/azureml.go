package managedidentity

import (
	"context"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// Azure ML compute: MSI_ENDPOINT and MSI_SECRET, API version 2017-09-01.
// It names a user-assigned identity by client ID only, in a parameter of
// its own ("clientid"), and sends DEFAULT_IDENTITY_CLIENT_ID for the
// compute's default identity.
const azureMLAPIVersion = "2017-09-01"

func (c *Client) setupAzureML(o *Options) error {
	if k := c.id.Kind; k == ObjectID || k == ResourceID {
		return fmt.Errorf("%s managed identity names a user-assigned identity by client ID only, not by %s; use a ClientID", AzureML, c.id)
	}
	u, err := parseEndpoint(envMSIEndpoint, o.getenv(envMSIEndpoint))
	if err != nil {
		return err
	}
	c.endpoint, c.secret = u, o.getenv(envMSISecret)
	c.mlClientID = o.getenv(envDefaultIdentityCID)
	if c.id.Kind == ClientID {
		c.mlClientID = c.id.Value
	}
	return nil
}

func (c *Client) azureMLToken(ctx context.Context, pl runtime.Pipeline, resource string) (Token, error) {
	x := exchange{
		method:  http.MethodGet,
		query:   map[string][]string{"api-version": {azureMLAPIVersion}, "resource": {resource}},
		header:  http.Header{"Secret": {c.secret}},
		secrets: []string{c.secret},
	}
	if c.mlClientID != "" {
		x.query.Set("clientid", c.mlClientID)
	}
	resp, body, err := c.send(ctx, pl, x)
	if err != nil {
		return Token{}, err
	}
	return c.result(resp, body, x.secrets)
}
