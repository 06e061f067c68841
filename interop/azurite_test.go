package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
)

// azuriteBlob finds the azurite-blob launcher: $AZURITE_BLOB, else the
// lead's install under /opt/azurite (npm install --prefix /opt/azurite
// azurite), else $PATH.
func azuriteBlob(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AZURITE_BLOB"); p != "" {
		return p
	}
	if p := "/opt/azurite/node_modules/.bin/azurite-blob"; fileExists(p) {
		return p
	}
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p
	}
	t.Fatal("azurite-blob not found: install the npm package azurite (npm install --prefix /opt/azurite azurite) or set AZURITE_BLOB to its azurite-blob launcher; Node.js must be on PATH")
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// selfSignedCert writes a certificate and key for 127.0.0.1 into dir and
// returns the paths and a pool that trusts the certificate.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "azurite test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// Azurite prints "successfully listens on https://127.0.0.1:<port>" (older
// versions "listening at ...").
var listening = regexp.MustCompile(`listen\w* (?:at|on) (https://127\.0\.0\.1:\d+)`)

// startAzurite runs azurite-blob over HTTPS with OAuth checks on a free
// loopback port and returns its blob endpoint; it is killed at cleanup.
func startAzurite(t *testing.T, certFile, keyFile string) string {
	t.Helper()
	bin := azuriteBlob(t)
	dir := t.TempDir()
	// Port 0 is not accepted by every Azurite version, so pick a free port
	// and retry on the rare collision.
	for attempt := 0; attempt < 3; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		cmd := exec.Command(bin,
			"--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port),
			"--oauth", "basic", "--cert", certFile, "--key", keyFile,
			"--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck")
		cmd.Dir = dir // Azurite writes its debug and lock files to its working directory
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", bin, err)
		}
		t.Cleanup(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		})
		found := make(chan string, 1)
		var lines bytes.Buffer
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines.WriteString(sc.Text() + "\n")
				if m := listening.FindStringSubmatch(sc.Text()); m != nil {
					found <- m[1]
					break
				}
			}
			close(found)
			_, _ = io.Copy(io.Discard, out)
		}()
		select {
		case u, ok := <-found:
			if ok {
				return u
			}
			// Exited without listening: a port collision, or broken. Wait
			// collects its stderr.
			_ = cmd.Wait()
			t.Logf("azurite-blob exited without listening (attempt %d):\n%s%s", attempt+1, lines.String(), stderr.String())
		case <-time.After(60 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
			t.Fatalf("azurite-blob did not report listening within a minute:\n%s", stderr.String())
		}
	}
	t.Fatal("azurite-blob could not be started")
	return ""
}

// TestAzurite drives a real Azure SDK client (azblob) with an azid
// credential whose tokens come from the Entra emulator, against Azurite
// checking OAuth tokens: container, upload, download, list, delete. The
// token endpoint sees exactly one request for all of it.
func TestAzurite(t *testing.T) {
	certFile, keyFile, azPool := selfSignedCert(t, t.TempDir())
	endpoint := startAzurite(t, certFile, keyFile)
	t.Run("azblob", func(t *testing.T) { testAzuriteBlob(t, endpoint, azPool) })
	t.Run("BearerTokenTransport", func(t *testing.T) { testAzuriteBearerTransport(t, endpoint, azPool) })
}

func testAzuriteBlob(t *testing.T, endpoint string, azPool *x509.CertPool) {
	account := endpoint + "/devstoreaccount1"

	srv, err := entratest.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cred, err := azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&azid.ClientSecretCredentialOptions{
			ClientOptions: azcore.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()},
				Transport: srv.Client(),
			},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	azHTTP := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: azPool}}}

	// First, show that Azurite really checks tokens: one that is not a JWT
	// from an Entra issuer for storage is refused.
	req, _ := http.NewRequest(http.MethodGet, account+"?comp=list", nil)
	req.Header.Set("Authorization", "Bearer not-a-token")
	req.Header.Set("x-ms-version", "2021-12-02")
	resp, err := azHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Fatalf("Azurite accepted a bogus bearer token (status %d); is OAuth checking on?", resp.StatusCode)
	}

	client, err := azblob.NewClient(account, cred, &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: azHTTP}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const container = "azid-interop"
	if _, err := client.CreateContainer(ctx, container, nil); err != nil {
		t.Fatalf("creating a container: %v", err)
	}
	ops := 1
	const blobs = 5
	for i := range blobs {
		data := []byte(strings.Repeat(fmt.Sprintf("blob %d ", i), 100))
		name := fmt.Sprintf("blob-%d.txt", i)
		if _, err := client.UploadBuffer(ctx, container, name, data, nil); err != nil {
			t.Fatalf("uploading %s: %v", name, err)
		}
		got, err := client.DownloadStream(ctx, container, name, nil)
		if err != nil {
			t.Fatalf("downloading %s: %v", name, err)
		}
		b, err := io.ReadAll(got.Body)
		got.Body.Close()
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("downloaded %d bytes (%v), want the %d uploaded", len(b), err, len(data))
		}
		ops += 2
	}
	pager := client.NewListBlobsFlatPager(container, nil)
	var listed int
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("listing blobs: %v", err)
		}
		listed += len(page.Segment.BlobItems)
		ops++
	}
	if listed != blobs {
		t.Fatalf("listed %d blobs, want %d", listed, blobs)
	}
	if _, err := client.DeleteContainer(ctx, container, nil); err != nil {
		t.Fatalf("deleting the container: %v", err)
	}
	ops++

	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("%d blob operations made %d token requests, want 1", ops, n)
	}
	st := cred.CacheStats()
	if st.TokenRequests != 1 || st.Misses != 1 {
		t.Fatalf("cache stats %+v, want 1 token request and 1 miss", st)
	}
	t.Logf("%d blob operations, 1 token request, %d cache hits", ops, st.Hits)
}

// testAzuriteBearerTransport uses the plain net/http transport against the
// same Azurite: list containers with raw requests.
func testAzuriteBearerTransport(t *testing.T, endpoint string, azPool *x509.CertPool) {
	srv, err := entratest.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cred, err := azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&azid.ClientSecretCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()}, Transport: srv.Client()},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := azid.NewBearerTokenTransport(cred, []string{"https://storage.azure.com/.default"},
		&http.Transport{TLSClientConfig: &tls.Config{RootCAs: azPool}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: tr}
	for i := range 10 {
		req, _ := http.NewRequest(http.MethodGet, endpoint+"/devstoreaccount1?comp=list", nil)
		req.Header.Set("x-ms-version", "2021-12-02")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("<EnumerationResults")) {
			t.Fatalf("request %d: status %d: %s", i, resp.StatusCode, body)
		}
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("10 requests made %d token requests, want 1", n)
	}
}
