package azid

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
)

const proxySNI = "token-proxy.aks.test"

// aksProxy is a local stand-in for the AKS identity bindings token proxy:
// TLS on loopback with a certificate for proxySNI only (not for its IP
// address, so a client must send that name), signed by a CA of its own,
// forwarding what arrives under /aks-proxy/ to the emulator.
type aksProxy struct {
	url   string
	caPEM []byte

	mu    sync.Mutex
	paths []string
	snis  []string
}

func (p *aksProxy) seen() (paths, snis []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.paths...), append([]string(nil), p.snis...)
}

func newAKSProxy(t *testing.T, srv *entratest.Server) *aksProxy {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "aks proxy test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: proxySNI}, DNSNames: []string{proxySNI},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	p := &aksProxy{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	target, _ := url.Parse(srv.URL())
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.URL.Path = strings.TrimPrefix(r.In.URL.Path, "/aks-proxy")
			r.Out.URL.RawPath = ""
		},
		Transport: srv.Client().Transport,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.mu.Lock()
			p.paths = append(p.paths, r.URL.Path)
			p.snis = append(p.snis, r.TLS.ServerName)
			p.mu.Unlock()
			if !strings.HasPrefix(r.URL.Path, "/aks-proxy/") {
				http.NotFound(w, r)
				return
			}
			rp.ServeHTTP(w, r)
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}}},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go hs.ServeTLS(ln, "", "") //nolint:errcheck // ends with Close
	t.Cleanup(func() { hs.Close() })
	p.url = "https://" + ln.Addr().String() + "/aks-proxy"
	return p
}

// proxyWorkloadCred builds a workload identity credential whose authority
// is Entra's real host: with the proxy, nothing may go there.
func proxyWorkloadCred(t *testing.T, srv *entratest.Server, enable bool, copts *azcore.ClientOptions) (*WorkloadIdentityCredential, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	writeToken(t, srv, path, "system:serviceaccount:default:app")
	if copts == nil {
		copts = &azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}
	}
	return NewWorkloadIdentityCredential(&WorkloadIdentityCredentialOptions{
		ClientOptions: *copts,
		ClientID:      fedClientID, TenantID: entratest.DefaultTenantID, TokenFilePath: path,
		DisableInstanceDiscovery: true,
		EnableAzureProxy:         enable,
	})
}

func clearProxyEnv(t *testing.T) {
	for _, k := range []string{envKubernetesTokenProxy, envKubernetesCAFile, envKubernetesCAData, envKubernetesSNIName} {
		t.Setenv(k, "")
	}
}

func TestWorkloadIdentityAzureProxy(t *testing.T) {
	srv := newEmulator(t, nil)
	federatedApp(t, srv, "system:serviceaccount:default:app")
	proxy := newAKSProxy(t, srv)
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, proxy.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"CA data", map[string]string{envKubernetesCAData: string(proxy.caPEM)}},
		{"CA file", map[string]string{envKubernetesCAFile: caFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearProxyEnv(t)
			t.Setenv(envKubernetesTokenProxy, proxy.url)
			t.Setenv(envKubernetesSNIName, proxySNI)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			before := srv.Requests(entratest.EndpointToken)
			pathsBefore, _ := proxy.seen()
			cred, err := proxyWorkloadCred(t, srv, true, nil)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(ctx, demoScope)
			if err != nil {
				t.Fatal(err)
			}
			if claims, err := srv.VerifyToken(tok.Token); err != nil || claims["appid"] != fedClientID {
				t.Fatalf("claims %v, %v", claims, err)
			}
			paths, snis := proxy.seen()
			paths, snis = paths[len(pathsBefore):], snis[len(pathsBefore):]
			want := "/aks-proxy/" + entratest.DefaultTenantID + "/oauth2/v2.0/token"
			if len(paths) != 1 || paths[0] != want || snis[0] != proxySNI {
				t.Fatalf("proxy saw paths %v with SNI %v, want one request for %s with SNI %s", paths, snis, want, proxySNI)
			}
			if n := srv.Requests(entratest.EndpointToken) - before; n != 1 {
				t.Fatalf("%d token requests reached the emulator, want 1", n)
			}
		})
	}

	t.Run("without the SNI name the proxy's certificate does not match", func(t *testing.T) {
		clearProxyEnv(t)
		t.Setenv(envKubernetesTokenProxy, proxy.url)
		t.Setenv(envKubernetesCAData, string(proxy.caPEM))
		cred, err := proxyWorkloadCred(t, srv, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cred.GetToken(ctx, demoScope); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("got %v, want a certificate verification failure", err)
		}
	})

	t.Run("without the CA the proxy is not trusted", func(t *testing.T) {
		clearProxyEnv(t)
		t.Setenv(envKubernetesTokenProxy, proxy.url)
		t.Setenv(envKubernetesSNIName, proxySNI)
		cred, err := proxyWorkloadCred(t, srv, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cred.GetToken(ctx, demoScope); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("got %v, want a certificate verification failure", err)
		}
	})

	t.Run("EnableAzureProxy off ignores the proxy", func(t *testing.T) {
		clearProxyEnv(t)
		t.Setenv(envKubernetesTokenProxy, proxy.url)
		t.Setenv(envKubernetesSNIName, proxySNI)
		t.Setenv(envKubernetesCAData, string(proxy.caPEM))
		pathsBefore, _ := proxy.seen()
		copts := emulatorOptions(srv)
		cred, err := proxyWorkloadCred(t, srv, false, &copts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cred.GetToken(ctx, demoScope); err != nil {
			t.Fatal(err)
		}
		if paths, _ := proxy.seen(); len(paths) != len(pathsBefore) {
			t.Fatal("the proxy was used with EnableAzureProxy off")
		}
	})
}

func TestWorkloadIdentityAzureProxyConfigurationErrors(t *testing.T) {
	srv := newEmulator(t, nil)
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"SNI without proxy", map[string]string{envKubernetesSNIName: proxySNI}, envKubernetesTokenProxy + " is not set"},
		{"http proxy", map[string]string{envKubernetesTokenProxy: "http://127.0.0.1:1/"}, "https"},
		{"query", map[string]string{envKubernetesTokenProxy: "https://127.0.0.1:1/?a=b"}, "query"},
		{"user info", map[string]string{envKubernetesTokenProxy: "https://u:p@127.0.0.1:1/"}, "user information"},
		{"both CAs", map[string]string{envKubernetesTokenProxy: "https://127.0.0.1:1/", envKubernetesCAFile: caFile, envKubernetesCAData: "x"}, "only one"},
		{"bad CA data", map[string]string{envKubernetesTokenProxy: "https://127.0.0.1:1/", envKubernetesCAData: "x"}, "no PEM certificate"},
		{"bad CA file", map[string]string{envKubernetesTokenProxy: "https://127.0.0.1:1/", envKubernetesCAFile: caFile}, "no PEM certificate"},
		{"missing CA file", map[string]string{envKubernetesTokenProxy: "https://127.0.0.1:1/", envKubernetesCAFile: caFile + ".missing"}, "CA file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearProxyEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := proxyWorkloadCred(t, srv, true, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), credNameWorkloadIdentity+": ") {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
			// Off, the same environment is ignored.
			if _, err := proxyWorkloadCred(t, srv, false, nil); err != nil {
				t.Fatalf("with EnableAzureProxy off: %v", err)
			}
		})
	}
}

func FuzzParseTokenProxyURL(f *testing.F) {
	for _, s := range []string{"https://proxy.example", "https://proxy.example/p/", "http://x", "https://u@x/", "https://x/?q", "https://x/#f", "%zz", "https://x/a%2Fb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := parseTokenProxyURL(raw)
		if err != nil {
			return
		}
		if u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.EscapedPath() == "" {
			t.Fatalf("accepted %q as %#v", raw, u)
		}
	})
}

// TestTokenProxyCAFileRotation: the cluster rewrites the CA file in place;
// a changed CA builds a new connection pool, and a file caught empty or
// half-written mid-rotation keeps the CA last read.
func TestTokenProxyCAFileRotation(t *testing.T) {
	srv := newEmulator(t, nil)
	a, b := newAKSProxy(t, srv), newAKSProxy(t, srv)
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	write := func(data []byte) {
		t.Helper()
		if err := os.WriteFile(caFile, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(a.caPEM)
	env := map[string]string{envKubernetesTokenProxy: a.url, envKubernetesCAFile: caFile}
	tr, err := newTokenProxyTransport(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	first, err := tr.transport()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := tr.transport(); again != first {
		t.Fatal("an unchanged CA file rebuilt the transport")
	}
	write(b.caPEM)
	rotated, err := tr.transport()
	if err != nil || rotated == first {
		t.Fatalf("a new CA did not rebuild the transport (%v)", err)
	}
	for _, mid := range [][]byte{nil, []byte("-----BEGIN CERT")} {
		write(mid)
		if kept, err := tr.transport(); err != nil || kept != rotated {
			t.Fatalf("mid-rotation content %q: %v, kept=%v", mid, err, kept == rotated)
		}
	}
}
