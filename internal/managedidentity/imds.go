package managedidentity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// IMDS, the Azure Instance Metadata Service: virtual machines, scale sets,
// AKS nodes, Container Instances.
const (
	imdsDefaultHost = "http://169.254.169.254"
	imdsTokenPath   = "/metadata/identity/oauth2/token"
	imdsAPIVersion  = "2018-02-01"
)

// IMDSRetryStatusCodes are the statuses IMDS's documentation says to retry
// ("Error handling" in "How to use managed identities for Azure resources
// on an Azure VM to acquire an access token"): 404 while the identity is
// being assigned, 410 while IMDS is being updated, 429 and the 5xx.
var IMDSRetryStatusCodes = []int{
	http.StatusNotFound, http.StatusGone, http.StatusTooManyRequests,
	http.StatusInternalServerError, http.StatusNotImplemented, http.StatusBadGateway,
	http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusHTTPVersionNotSupported,
	http.StatusVariantAlsoNegotiates, http.StatusInsufficientStorage, http.StatusLoopDetected,
	http.StatusNotExtended, http.StatusNetworkAuthenticationRequired,
}

func (c *Client) setupIMDS(o *Options) error {
	base, name := o.IMDSEndpoint, "the IMDS endpoint option"
	if base == "" {
		base, name = o.getenv(envPodIdentityHost), envPodIdentityHost
	}
	if base == "" {
		base, name = imdsDefaultHost, "the IMDS endpoint"
	}
	u, err := parseEndpoint(name, base)
	if err != nil {
		return err
	}
	// A base URL gets the token path; a URL that already ends in it is
	// taken as it is.
	if !strings.HasSuffix(u.Path, imdsTokenPath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + imdsTokenPath
		u.RawPath = ""
	}
	c.endpoint = u
	return nil
}

func (c *Client) imdsToken(ctx context.Context, pl runtime.Pipeline, resource string) (Token, error) {
	x := exchange{method: http.MethodGet, query: map[string][]string{
		"api-version": {imdsAPIVersion},
		"resource":    {resource},
	}, header: http.Header{"Metadata": {"true"}}}
	c.selector(x.query, "msi_res_id")
	resp, body, err := c.send(ctx, pl, x)
	if err != nil {
		return Token{}, err
	}
	t, err := c.result(resp, body, nil)
	var re *ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusForbidden && bytes.Contains(body, []byte("unreachable")) {
		re.Unreachable = true
	}
	return t, err
}

// Probe asks whether IMDS is there at all, for DefaultAzureCredential,
// which must not wait through IMDS's retries on a machine that has none. It
// sends one request without the Metadata header, which IMDS answers at once
// with a JSON error, with no retries and the given timeout. A JSON answer
// means IMDS is there; no answer, or one that is not JSON (a sandbox's or
// proxy's refusal page at IMDS's address), means it is not. Other sources
// are not probed; their variables say they are there.
func (c *Client) Probe(ctx context.Context, pl runtime.Pipeline, timeout time.Duration) error {
	if c.source != IMDS {
		return nil
	}
	ctx, cancel := context.WithTimeout(withoutRetries(ctx), timeout)
	defer cancel()
	req, err := runtime.NewRequest(ctx, http.MethodGet, c.Endpoint())
	if err != nil {
		return fmt.Errorf("building the IMDS probe: %w", err)
	}
	runtime.SkipBodyDownload(req)
	resp, err := pl.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("no managed identity endpoint here: IMDS at %s did not answer within %s", c.Endpoint(), timeout)
		}
		return fmt.Errorf("no managed identity endpoint here: IMDS at %s: %w", c.Endpoint(), err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if !json.Valid(bytes.TrimSpace(body)) {
		return fmt.Errorf("no managed identity endpoint here: something other than IMDS answers at %s (%s, not JSON)", c.Endpoint(), resp.Status)
	}
	return nil
}
