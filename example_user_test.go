package azid_test

import (
	"context"
	"errors"
	"io/fs"
	"log"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
)

// A CLI signs its user in once and keeps the record (no secret in it) next
// to its configuration; with a persistent cache, later runs are silent.
// (Compiled, not run: the first run needs a person to sign in.)
func ExampleDeviceCodeCredential_Authenticate() {
	const recordPath = "/home/me/.config/mytool/auth-record.json"
	record, err := azid.LoadAuthenticationRecord(recordPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Fatal(err)
	}
	cred, err := azid.NewDeviceCodeCredential(&azid.DeviceCodeCredentialOptions{
		AuthenticationRecord: record,
		// Fail instead of prompting in the middle of some other work.
		DisableAutomaticAuthentication: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	if record == (azid.AuthenticationRecord{}) {
		// First run: prompt now, and remember who signed in.
		if record, err = cred.Authenticate(context.Background(), nil); err != nil {
			log.Fatal(err)
		}
		if err := azid.SaveAuthenticationRecord(recordPath, record); err != nil {
			log.Fatal(err)
		}
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}})
	var authRequired *azid.AuthenticationRequiredError
	if errors.As(err, &authRequired) {
		// Entra wants the user again (MFA, revoked session...).
		if _, err := cred.Authenticate(context.Background(), &authRequired.TokenRequestOptions); err != nil {
			log.Fatal(err)
		}
		tok, err = cred.GetToken(context.Background(), authRequired.TokenRequestOptions)
	}
	if err != nil {
		log.Fatal(err)
	}
	_ = tok
}
