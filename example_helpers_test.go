package azid_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
)

// demo is the scaffolding the runnable examples share, so that each example
// shows only the task: the Entra ID emulator stands in for Entra ID and an
// HTTPS API that accepts its tokens stands in for an Azure service. Against
// Azure, none of this exists: build the credential with your tenant, client
// ID and secret, and call the real service.
type demo struct {
	entra *entratest.Server
	api   *httptest.Server
	// client trusts both the emulator's and the API's certificates.
	client *http.Client
	calls  atomic.Int64
}

func newDemo() *demo {
	d := &demo{}
	var err error
	if d.entra, err = entratest.NewServer(nil); err != nil {
		log.Fatal(err)
	}
	d.api = httptest.NewTLSServer(http.HandlerFunc(d.serve))
	pool := d.entra.CertPool()
	pool.AddCert(d.api.Certificate())
	d.client = d.api.Client()
	d.client.Transport.(*http.Transport).TLSClientConfig.RootCAs = pool
	return d
}

func (d *demo) close() {
	d.api.Close()
	d.entra.Close()
}

// serve accepts requests bearing a valid token from the emulator.
func (d *demo) serve(w http.ResponseWriter, r *http.Request) {
	d.calls.Add(1)
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="`+d.entra.AuthorityHost()+`"`)
		http.Error(w, "no token", http.StatusUnauthorized)
		return
	}
	if _, err := d.entra.VerifyToken(tok); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if strings.HasPrefix(r.URL.Path, "/subscriptions") {
		fmt.Fprint(w, `{"value":[{"subscriptionId":"00000000-0000-4000-8000-000000000001","displayName":"demo"}]}`)
		return
	}
	fmt.Fprint(w, `{"hello":"world"}`)
}

// clientOptions points a credential or an SDK client at the demo.
func (d *demo) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud: cloud.Configuration{
			ActiveDirectoryAuthorityHost: d.entra.AuthorityHost(),
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Endpoint: d.api.URL, Audience: "https://management.azure.com"},
			},
		},
		Transport: d.client,
	}
}

// credential is the demo app's ClientSecretCredential.
func (d *demo) credential() *azid.ClientSecretCredential {
	cred, err := azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&azid.ClientSecretCredentialOptions{ClientOptions: d.clientOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		log.Fatal(err)
	}
	return cred
}

func (d *demo) tokenRequests() int { return d.entra.Requests(entratest.EndpointToken) }
