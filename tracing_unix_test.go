// The fake developer tools are shell scripts.

//go:build unix

package azid

import (
	"testing"

	"github.com/azid-go/azid/entratest"
)

// TestTracingDefaultAzureCredential: the chain's member that serves the
// token traces under its own name (EnvironmentCredential's inner
// ClientSecretCredential here), from the chain's ClientOptions.
func TestTracingDefaultAzureCredential(t *testing.T) {
	srv := newEmulator(t, nil)
	rec := &spanRecorder{}
	f := newFakeDevTools(t)
	f.vars[envTokenCredentials] = "EnvironmentCredential"
	f.vars["AZURE_TENANT_ID"] = entratest.DefaultTenantID
	f.vars["AZURE_CLIENT_ID"] = entratest.DefaultClientID
	f.vars["AZURE_CLIENT_SECRET"] = entratest.DefaultClientSecret
	copts := emulatorOptions(srv)
	copts.TracingProvider = rec.provider()
	dac, err := f.newDAC(t, &DefaultAzureCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	traceTwice(t, rec, dac, "ClientSecretCredential.GetToken", demoScope)
}
