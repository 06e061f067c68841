package azid

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
)

// fakeEnv is a fake environment for newEnvironmentCredential.
type fakeEnv map[string]string

func (e fakeEnv) get(k string) string { return e[k] }

func TestEnvironmentCredentialWithSecret(t *testing.T) {
	srv := newEmulator(t, nil)
	// The real environment too, including the cloud: AZURE_AUTHORITY_HOST.
	t.Setenv(envTenantID, entratest.DefaultTenantID)
	t.Setenv(envClientID, entratest.DefaultClientID)
	t.Setenv(envClientSecret, entratest.DefaultClientSecret)
	t.Setenv(envClientCertificatePath, "")
	t.Setenv(envUsername, "")
	t.Setenv(envPassword, "")
	t.Setenv(envAdditionallyAllowedTenants, "")
	t.Setenv("AZURE_AUTHORITY_HOST", srv.AuthorityHost())
	co := emulatorOptions(srv)
	co.Cloud.ActiveDirectoryAuthorityHost = "" // from AZURE_AUTHORITY_HOST
	cred, err := NewEnvironmentCredential(&EnvironmentCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		tok, err := cred.GetToken(context.Background(), demoScope)
		if err != nil {
			t.Fatal(err)
		}
		if claims, err := srv.VerifyToken(tok.Token); err != nil || claims["appid"] != entratest.DefaultClientID {
			t.Fatalf("%v %v", claims, err)
		}
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	if _, ok := cred.cred.(*ClientSecretCredential); !ok {
		t.Fatalf("chose %T", cred.cred)
	}
}

func TestEnvironmentCredentialWithCertificate(t *testing.T) {
	a, _ := sharedCerts(t)
	srv := newEmulator(t, nil)
	certApp(t, srv, certClientID, a)
	dir := t.TempDir()
	pemPath := filepath.Join(dir, "cert.pem")
	pfxPath := filepath.Join(dir, "cert.pfx")
	if err := os.WriteFile(pemPath, joinPEM(pemCert(a.cert), pemCert(a.ca), pemPKCS8(t, a.key)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pfxPath, makePFX(t, a, "pfx-pass", true), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string]fakeEnv{
		"PEM with chain": {envClientCertificatePath: pemPath, envClientSendCertificateChain: "true"},
		"PKCS#12":        {envClientCertificatePath: pfxPath, envClientCertificatePassword: "pfx-pass", envClientSendCertificateChain: "1"},
	} {
		t.Run(name, func(t *testing.T) {
			e[envTenantID] = entratest.DefaultTenantID
			e[envClientID] = certClientID
			e[envAdditionallyAllowedTenants] = "11111111-0000-4000-8000-000000000001;" + secondTenantID
			rec := &formRecorder{next: srv.Client()}
			co := emulatorOptions(srv)
			co.Transport = rec
			cred, err := newEnvironmentCredential(&EnvironmentCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true}, e.get)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: demoScope.Scopes, TenantID: secondTenantID})
			if err != nil {
				t.Fatal(err)
			}
			if claims, _ := srv.VerifyToken(tok.Token); claims["tid"] != secondTenantID {
				t.Fatalf("claims = %v", claims)
			}
			h := decodeJWTPart(t, rec.all()[0].Get("client_assertion"), 0)
			x5c, _ := h["x5c"].([]any)
			if len(x5c) != 2 || x5c[0] != base64.StdEncoding.EncodeToString(a.cert.Raw) {
				t.Fatalf("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN ignored: x5c = %v", h["x5c"])
			}
		})
	}
	// A wrong password is a clear configuration error, not "unavailable".
	_, err := newEnvironmentCredential(nil, fakeEnv{envTenantID: "t", envClientID: "c", envClientCertificatePath: pfxPath, envClientCertificatePassword: "nope"}.get)
	if err == nil || isUnavailable(err) || !strings.Contains(err.Error(), "password") || strings.Contains(err.Error(), "nope") {
		t.Fatalf("wrong password: %v", err)
	}
	_, err = newEnvironmentCredential(nil, fakeEnv{envTenantID: "t", envClientID: "c", envClientCertificatePath: filepath.Join(dir, "none")}.get)
	if err == nil || !strings.Contains(err.Error(), envClientCertificatePath) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestEnvironmentCredentialIncompleteConfiguration(t *testing.T) {
	for name, tc := range map[string]struct {
		env     fakeEnv
		missing []string
		present []string
	}{
		"nothing":                   {fakeEnv{}, []string{envTenantID, envClientID, envClientSecret, envClientCertificatePath, envUsername}, nil},
		"tenant and client only":    {fakeEnv{envTenantID: "t", envClientID: "c"}, []string{envClientSecret, envClientCertificatePath}, []string{envTenantID + ",", envClientID + ","}},
		"secret without tenant":     {fakeEnv{envClientID: "c", envClientSecret: "s"}, []string{envTenantID}, []string{envClientID + ","}},
		"username without password": {fakeEnv{envTenantID: "t", envClientID: "c", envUsername: "u"}, []string{envPassword}, nil},
		"password without username": {fakeEnv{envTenantID: "t", envClientID: "c", envPassword: "p"}, []string{envUsername}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := newEnvironmentCredential(nil, tc.env.get)
			if !isUnavailable(err) {
				t.Fatalf("err = %v, want credential unavailable", err)
			}
			for _, v := range tc.missing {
				if !strings.Contains(err.Error(), v) {
					t.Errorf("%q does not name %s", err, v)
				}
			}
			for _, v := range tc.present {
				if strings.Contains(err.Error(), v) {
					t.Errorf("%q names %s, which is set", err, v)
				}
			}
			if s, ok := tc.env[envClientSecret]; ok && strings.Contains(err.Error(), s+"\"") {
				t.Error("the error quotes the secret")
			}
		})
	}
}

func TestEnvironmentCredentialWithUsernamePassword(t *testing.T) {
	srv := newEmulator(t, nil)
	env := fakeEnv{
		envTenantID: entratest.DefaultTenantID,
		envClientID: "04b07795-8ddb-461a-bbee-02f9e1bf7b46", // a public client known in every tenant
		envUsername: entratest.DefaultUsername,
		envPassword: entratest.DefaultPassword,
	}
	cred, err := newEnvironmentCredential(&EnvironmentCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true}, env.get)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cred.cred.(*UsernamePasswordCredential); !ok {
		t.Fatalf("chose %T", cred.cred)
	}
	for range 3 {
		tok, err := cred.GetToken(context.Background(), demoScope)
		if err != nil {
			t.Fatal(err)
		}
		if claims, err := srv.VerifyToken(tok.Token); err != nil || claims["idtyp"] != "user" {
			t.Fatalf("%v %v", claims, err)
		}
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
}
