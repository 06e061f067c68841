// Command azidentity-token prints an access token from unmodified
// azidentity's DefaultAzureCredential, configured by the environment
// alone, as a user's program would be. The interop tests run it in a shell
// that evaluated what "azid emulator" printed.
//
//	azidentity-token SCOPE
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: azidentity-token SCOPE")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{os.Args[1]}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(tok.Token)
}
