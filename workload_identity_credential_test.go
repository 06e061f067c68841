package azid

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
)

// writeToken writes a federated token for subject to path, replacing the
// file the way kubelet does: a new file renamed over the old one.
func writeToken(t *testing.T, srv *entratest.Server, path, subject string) {
	t.Helper()
	tok, err := srv.IssueFederatedToken(entratest.FederatedToken{Issuer: "https://issuer.example", Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWorkloadIdentityCredentialFromEnvironment(t *testing.T) {
	srv := newEmulator(t, nil)
	federatedApp(t, srv, "system:serviceaccount:default:app")
	path := filepath.Join(t.TempDir(), "token")
	writeToken(t, srv, path, "system:serviceaccount:default:app")
	t.Setenv(envClientID, fedClientID)
	t.Setenv(envTenantID, entratest.DefaultTenantID)
	t.Setenv(envFederatedTokenFile, path)
	cred, err := NewWorkloadIdentityCredential(&WorkloadIdentityCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok, err := cred.GetToken(ctx, demoScope)
	if err != nil {
		t.Fatal(err)
	}
	if claims, err := srv.VerifyToken(tok.Token); err != nil || claims["appid"] != fedClientID {
		t.Fatalf("claims %v, %v", claims, err)
	}
	if _, err := cred.GetToken(ctx, demoScope); err != nil || srv.Requests(entratest.EndpointToken) != 1 {
		t.Fatalf("second call: %v, %d requests", err, srv.Requests(entratest.EndpointToken))
	}
	// A new acquisition with the file unchanged does not read it again.
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"api://two/.default"}}); err != nil {
		t.Fatal(err)
	}
	if cred.file.reads.Load() != 1 {
		t.Fatalf("file read %d times for two acquisitions, want 1", cred.file.reads.Load())
	}
	// Kubernetes rotates the token: the next acquisition reads the new one.
	writeToken(t, srv, path, "system:serviceaccount:default:app")
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"api://three/.default"}}); err != nil {
		t.Fatal(err)
	}
	if cred.file.reads.Load() != 2 {
		t.Fatalf("file read %d times after a rotation, want 2", cred.file.reads.Load())
	}
	// A token for another subject now in the file is refused by Entra,
	// which shows the credential sends what the file holds.
	writeToken(t, srv, path, "system:serviceaccount:default:other")
	_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"api://four/.default"}})
	var afe *AuthenticationFailedError
	if !errors.As(err, &afe) || afe.ErrorCodes[0] != 70021 || afe.CredentialType != credNameWorkloadIdentity {
		t.Fatalf("err = %v", err)
	}
}

func TestWorkloadIdentityCredentialOptionsOverrideEnvironment(t *testing.T) {
	srv := newEmulator(t, nil)
	federatedApp(t, srv, "sub")
	path := filepath.Join(t.TempDir(), "token")
	writeToken(t, srv, path, "sub")
	t.Setenv(envClientID, "wrong-client")
	t.Setenv(envTenantID, "wrong-tenant")
	t.Setenv(envFederatedTokenFile, filepath.Join(t.TempDir(), "missing"))
	cred, err := NewWorkloadIdentityCredential(&WorkloadIdentityCredentialOptions{ClientOptions: emulatorOptions(srv),
		DisableInstanceDiscovery: true, ClientID: fedClientID, TenantID: entratest.DefaultTenantID, TokenFilePath: path})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred.GetToken(context.Background(), demoScope); err != nil {
		t.Fatal(err)
	}
}

func TestWorkloadIdentityCredentialBadConfiguration(t *testing.T) {
	t.Setenv(envClientID, "")
	t.Setenv(envTenantID, "")
	t.Setenv(envFederatedTokenFile, "")
	_, err := NewWorkloadIdentityCredential(nil)
	if !isUnavailable(err) {
		t.Fatalf("err = %v, want credential unavailable", err)
	}
	for _, v := range []string{envClientID, envTenantID, envFederatedTokenFile} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("%q does not name %s", err, v)
		}
	}
	_, err = NewWorkloadIdentityCredential(&WorkloadIdentityCredentialOptions{ClientID: "c", TenantID: "t"})
	if !isUnavailable(err) || !strings.Contains(err.Error(), envFederatedTokenFile) || strings.Contains(err.Error(), envClientID) {
		t.Fatalf("only the file missing: %v", err)
	}

	srv := newEmulator(t, nil)
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		content *string
		want    string
	}{
		"missing file": {nil, "no such file"},
		"empty file":   {ptrTo("  \n"), "empty"},
		"two tokens":   {ptrTo("a.b.c\nd.e.f"), "more than one token"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
			if tc.content != nil {
				if err := os.WriteFile(path, []byte(*tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cred, err := NewWorkloadIdentityCredential(&WorkloadIdentityCredentialOptions{ClientOptions: emulatorOptions(srv),
				DisableInstanceDiscovery: true, ClientID: fedClientID, TenantID: entratest.DefaultTenantID, TokenFilePath: path})
			if err != nil {
				t.Fatal(err)
			}
			_, err = cred.GetToken(context.Background(), demoScope)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "federated token file") {
				t.Fatalf("err = %v, want one about the token file (%q)", err, tc.want)
			}
			if srv.Requests(entratest.EndpointToken) != 0 {
				t.Fatal("a request was sent without a token")
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

// FuzzParseFederatedToken feeds arbitrary token file contents to the
// reader: it returns a token with no whitespace or an error, never panics.
func FuzzParseFederatedToken(f *testing.F) {
	f.Add([]byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln\n"))
	f.Add([]byte(""))
	f.Add([]byte(" \t\r\n"))
	f.Add([]byte("a b"))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := parseFederatedToken(data)
		if err != nil {
			if tok != "" {
				t.Fatal("a token with an error")
			}
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") || len(tok) > maxTokenFileSize {
			t.Fatalf("bad token %q accepted", tok)
		}
	})
}
