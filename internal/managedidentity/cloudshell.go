package managedidentity

import (
	"context"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// Cloud Shell: MSI_ENDPOINT without MSI_SECRET. Tokens are requested with a
// POSTed form and are always the signed-in user's; there is no
// user-assigned identity to choose.

func (c *Client) setupCloudShell(o *Options) error {
	if c.id.Kind != SystemAssigned {
		return fmt.Errorf("%s managed identity does not support user-assigned identities (ID is %s); leave ID unset", CloudShell, c.id)
	}
	u, err := parseEndpoint(envMSIEndpoint, o.getenv(envMSIEndpoint))
	if err != nil {
		return err
	}
	c.endpoint = u
	return nil
}

func (c *Client) cloudShellToken(ctx context.Context, pl runtime.Pipeline, resource string) (Token, error) {
	x := exchange{
		method: http.MethodPost,
		form:   map[string][]string{"resource": {resource}},
		header: http.Header{"Metadata": {"true"}},
	}
	resp, body, err := c.send(ctx, pl, x)
	if err != nil {
		return Token{}, err
	}
	return c.result(resp, body, nil)
}
