package azid_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/entratest"
)

// A service keeps its tokens in the persistent cache, so that a restart
// (here: a second credential over a newly opened cache, as a new process
// would have) reuses the token instead of asking Entra ID again.
//
// On a desktop or server, cache.New(nil) keeps the encryption key in the
// platform's key store (the kernel keyring and Secret Service on Linux, the
// Keychain on macOS, DPAPI on Windows). In a container there is none: give
// the cache a key from a mounted secret or the environment, as here.
func Example_persistentCache() {
	d := newDemo()
	defer d.close()
	defer examplePersistentCacheEnv()()

	run := func() {
		c, err := cache.New(&cache.Options{Name: "myservice", Key: cache.KeyFromEnv("MYSERVICE_CACHE_KEY")})
		if err != nil {
			log.Fatal(err) // no key store, and no key given
		}
		cred, err := azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
			&azid.ClientSecretCredentialOptions{ClientOptions: d.clientOptions(), DisableInstanceDiscovery: true, Cache: c})
		if err != nil {
			log.Fatal(err)
		}
		if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}}); err != nil {
			log.Fatal(err)
		}
		fmt.Println("token requests so far:", d.tokenRequests())
	}
	run() // first start: Entra ID issues the token, the cache stores it
	run() // restart: the token comes from the cache file
	// Output:
	// token requests so far: 1
	// token requests so far: 1
}

// A command-line tool signs its user in once, saves the
// AuthenticationRecord (it names the account and holds no secret) and keeps
// the tokens in the persistent cache. Every later run builds the credential
// with the record and the cache and gets tokens silently, for the scope it
// had and for new ones (through the cached refresh token), without
// prompting.
func Example_persistentCacheAndAuthenticationRecord() {
	d := newUserDemo()
	defer d.close()
	defer examplePersistentCacheEnv()()
	dir, err := os.MkdirTemp("", "mytool")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// A real tool would use its configuration directory.
	recordPath := filepath.Join(dir, "auth-record.json")

	run := func(scope string) {
		ctx := context.Background()
		c, err := cache.New(&cache.Options{Name: "mytool", Key: cache.KeyFromEnv("MYSERVICE_CACHE_KEY")})
		if err != nil {
			log.Fatal(err)
		}
		record, err := azid.LoadAuthenticationRecord(recordPath)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			log.Fatal(err)
		}
		cred, err := azid.NewDeviceCodeCredential(&azid.DeviceCodeCredentialOptions{
			ClientOptions: d.clientOptions(), DisableInstanceDiscovery: true,
			AuthenticationRecord: record,
			Cache:                c,
			// Prompt only when this program decides to (Authenticate).
			DisableAutomaticAuthentication: true,
			UserPrompt:                     d.approve,
		})
		if err != nil {
			log.Fatal(err)
		}
		opts := policy.TokenRequestOptions{Scopes: []string{scope}}
		if record == (azid.AuthenticationRecord{}) {
			// First run: the user signs in.
			if record, err = cred.Authenticate(ctx, &opts); err != nil {
				log.Fatal(err)
			}
			if err := azid.SaveAuthenticationRecord(recordPath, record); err != nil {
				log.Fatal(err)
			}
		}
		if _, err := cred.GetToken(ctx, opts); err != nil {
			log.Fatal(err) // an *azid.AuthenticationRequiredError: Authenticate again
		}
		fmt.Printf("%s: %d sign-ins, grants so far %v\n", record.Username, d.prompts, d.grants())
	}
	run("https://storage.azure.com/.default") // signs in
	run("https://storage.azure.com/.default") // silent: the cached token
	run("https://vault.azure.net/.default")   // silent: the cached refresh token
	// Output:
	// ada@entratest.example: 1 sign-ins, grants so far map[device_code:1]
	// ada@entratest.example: 1 sign-ins, grants so far map[device_code:1]
	// ada@entratest.example: 1 sign-ins, grants so far map[device_code:1 refresh_token:1]
}

// examplePersistentCacheEnv gives an example its own cache directory and
// key, and returns the function restoring the environment: examples must
// not touch the cache of whoever runs them.
func examplePersistentCacheEnv() func() {
	dir, err := os.MkdirTemp("", "azid-example-cache")
	if err != nil {
		log.Fatal(err)
	}
	key := make([]byte, cache.KeySize)
	rand.Read(key)
	restore := setenvs(map[string]string{
		"XDG_CACHE_HOME":      dir,
		"MYSERVICE_CACHE_KEY": base64.StdEncoding.EncodeToString(key),
	})
	return func() {
		restore()
		os.RemoveAll(dir)
	}
}

// setenvs sets (or, for "", unsets) environment variables and returns the
// function restoring them.
func setenvs(vars map[string]string) func() {
	type old struct {
		v  string
		ok bool
	}
	saved := map[string]old{}
	for k, v := range vars {
		ov, ok := os.LookupEnv(k)
		saved[k] = old{ov, ok}
		if v == "" {
			os.Unsetenv(k)
		} else {
			os.Setenv(k, v)
		}
	}
	return func() {
		for k, o := range saved {
			if o.ok {
				os.Setenv(k, o.v)
			} else {
				os.Unsetenv(k)
			}
		}
	}
}

// userDemo is the demo with a user who approves device code sign-ins in
// the emulator, as they would in a browser.
type userDemo struct {
	*demo
	prompts int
}

func newUserDemo() *userDemo {
	d := &userDemo{demo: newDemo()}
	// Entra asks clients to poll every 5 seconds; the demo, every second.
	d.entra.SetDeviceCodePolicy(entratest.DeviceCodePolicy{Interval: time.Second})
	return d
}

func (d *userDemo) approve(_ context.Context, m azid.DeviceCodeMessage) error {
	d.prompts++
	// A real prompt prints m.Message, which tells the user where to go.
	return d.entra.ApproveDeviceCode(m.UserCode, entratest.DefaultUsername)
}

// grants counts token requests by grant type, short names.
func (d *userDemo) grants() map[string]int {
	m := map[string]int{}
	for _, r := range d.entra.TokenRequests() {
		g := r.GrantType
		if g == "urn:ietf:params:oauth:grant-type:device_code" {
			g = "device_code"
		}
		m[g]++
	}
	return m
}
