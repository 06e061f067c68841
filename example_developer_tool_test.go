package azid_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
)

// On a developer's machine, use the account signed in to the Azure CLI.
// Repeated calls are answered from memory; az runs again only for a new
// scope or tenant, or after `az login` / `az account set`. (Compiled, not
// run: it needs an Azure CLI signed in to Azure.)
func ExampleNewAzureCLICredential() {
	cred, err := azid.NewAzureCLICredential(nil)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{
		Scopes: []string{"https://management.azure.com/.default"},
	})
	if err != nil {
		// "not signed in" and "az not installed" are unavailable errors;
		// the message says what to run.
		log.Fatal(err)
	}
	fmt.Println("token expires at", tok.ExpiresOn)
}

// Try a service principal from the environment first, then the developer's
// Azure CLI sign-in. The chain keeps using whichever worked first.
// (Compiled, not run: it needs one of them configured for Azure.)
func ExampleNewChainedTokenCredential() {
	var sources []azcore.TokenCredential
	if sp, err := azid.NewClientSecretCredential("my-tenant", "my-client-id", "secret-from-config", nil); err == nil {
		sources = append(sources, sp)
	}
	cli, err := azid.NewAzureCLICredential(nil)
	if err != nil {
		log.Fatal(err)
	}
	sources = append(sources, cli)
	chain, err := azid.NewChainedTokenCredential(sources, nil)
	if err != nil {
		log.Fatal(err)
	}
	_, err = chain.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	var failed *azid.AuthenticationFailedError
	if errors.As(err, &failed) {
		// One source failed for real (a wrong secret, say); err lists
		// every source tried and why each failed.
		log.Fatal(err)
	}
}

// Restrict DefaultAzureCredential to developer tools with
// AZURE_TOKEN_CREDENTIALS=dev, or to one credential type by name; require the
// variable so that a deployment never picks an identity by accident.
// (Compiled, not run: it needs a developer tool signed in to Azure.)
func ExampleNewDefaultAzureCredential() {
	cred, err := azid.NewDefaultAzureCredential(&azid.DefaultAzureCredentialOptions{
		RequireAzureTokenCredentials: true,
	})
	if err != nil {
		log.Fatal(err) // AZURE_TOKEN_CREDENTIALS unset or invalid
	}
	_ = cred
}
