package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
)

// formKeeper records the body of every POST it forwards.
type formKeeper struct {
	next  *http.Client
	mu    sync.Mutex
	forms []url.Values
}

func (k *formKeeper) Do(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		if f, err := url.ParseQuery(string(b)); err == nil {
			k.mu.Lock()
			k.forms = append(k.forms, f)
			k.mu.Unlock()
		}
	}
	return k.next.Do(req)
}

// A configuration file with an app certificate and
// "oneTimeClientAssertions": ClientCertificateCredential gets a token per
// scope (a new assertion each time) and a replayed request is refused.
func TestEmulatorCmdOneTimeAssertions(t *testing.T) {
	const clientID = "ce270000-0000-4000-8000-0000000ce27c"
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "emulator test app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	cfg, _ := json.Marshal(map[string]any{
		"apps": []map[string]any{{"tenantId": entratest.DefaultTenantID, "clientId": clientID,
			"certificates": []string{string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}}},
		"oneTimeClientAssertions": true,
	})
	path := filepath.Join(t.TempDir(), "emulator.json")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	line, _ := startEmulatorCmd(t, "--output", "json", "--config", path)
	var info emulatorInfo
	if err := json.Unmarshal([]byte(line), &info); err != nil {
		t.Fatalf("--output json printed %q: %v", line, err)
	}
	keeper := &formKeeper{next: clientTrusting(t, info.CAFile, "")}
	cred, err := azid.NewClientCertificateCredential(entratest.DefaultTenantID, clientID, []*x509.Certificate{cert}, key,
		&azid.ClientCertificateCredentialOptions{DisableInstanceDiscovery: true, ClientOptions: azcore.ClientOptions{
			Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: info.AuthorityHost}, Transport: keeper}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, scope := range []string{"api://one/.default", "api://two/.default", "api://three/.default"} {
		if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}}); err != nil {
			t.Fatalf("%s: %v", scope, err)
		}
	}
	keeper.mu.Lock()
	first := keeper.forms[0]
	keeper.mu.Unlock()
	resp, err := keeper.next.PostForm(info.AuthorityHost+entratest.DefaultTenantID+"/oauth2/v2.0/token", first)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "AADSTS700027") {
		t.Fatalf("a replayed request: %d %s", resp.StatusCode, body)
	}
}
