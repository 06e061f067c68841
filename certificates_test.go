package azid

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// testCert is a certificate, its key and a CA that issued it.
type testCert struct {
	key   *rsa.PrivateKey
	cert  *x509.Certificate
	ca    *x509.Certificate
	caKey *rsa.PrivateKey
}

// RSA key generation is slow; tests share keys made once.
var (
	testCertOnce  sync.Once
	testCertA     *testCert
	testCertB     *testCert
	testCertPanic error
)

func sharedCerts(t testing.TB) (*testCert, *testCert) {
	t.Helper()
	testCertOnce.Do(func() {
		testCertA, testCertPanic = makeTestCert("app-a")
		if testCertPanic == nil {
			testCertB, testCertPanic = makeTestCert("app-b")
		}
	})
	if testCertPanic != nil {
		t.Fatal(testCertPanic)
	}
	return testCertA, testCertB
}

func makeTestCert(name string) (*testCert, error) {
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCert{key: key, cert: cert, ca: ca, caKey: caKey}, nil
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func pemPKCS8(t testing.TB, k any) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func pemPKCS1(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

func makePFX(t testing.TB, c *testCert, password string, chain bool) []byte {
	var cas []*x509.Certificate
	if chain {
		cas = []*x509.Certificate{c.ca}
	}
	enc := pkcs12.Modern2023
	if password == "" {
		enc = pkcs12.Passwordless
	}
	data, err := enc.Encode(c.key, c.cert, cas, password)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func joinPEM(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestParseCertificatesAcceptsEveryLayout(t *testing.T) {
	a, _ := sharedCerts(t)
	cases := map[string]struct {
		data     []byte
		password string
		certs    int
	}{
		"PEM cert then PKCS#8 key":         {data: joinPEM(pemCert(a.cert), pemPKCS8(t, a.key)), certs: 1},
		"PEM PKCS#1 key then cert":         {data: joinPEM(pemPKCS1(a.key), pemCert(a.cert)), certs: 1},
		"PEM chain with key in the middle": {data: joinPEM(pemCert(a.ca), pemPKCS1(a.key), pemCert(a.cert)), certs: 2},
		"PEM with text around blocks":      {data: joinPEM([]byte("Bag Attributes\n"), pemCert(a.cert), []byte("junk\n"), pemPKCS8(t, a.key)), certs: 1},
		"PKCS#12 with password":            {data: makePFX(t, a, "s3cret", false), password: "s3cret", certs: 1},
		"PKCS#12 without password":         {data: makePFX(t, a, "", false), certs: 1},
		"PKCS#12 with chain":               {data: makePFX(t, a, "pw", true), password: "pw", certs: 2},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var pw []byte
			if tc.password != "" {
				pw = []byte(tc.password)
			}
			certs, key, err := ParseCertificates(tc.data, pw)
			if err != nil {
				t.Fatal(err)
			}
			if len(certs) != tc.certs {
				t.Fatalf("got %d certificates, want %d", len(certs), tc.certs)
			}
			if !certs[0].Equal(a.cert) {
				t.Fatalf("first certificate is %s, want the key's certificate", certs[0].Subject)
			}
			if rk, ok := key.(*rsa.PrivateKey); !ok || !rk.Equal(a.key) {
				t.Fatalf("key = %T, not the certificate's key", key)
			}
		})
	}
}

func TestParseCertificatesRejectsBadInput(t *testing.T) {
	a, b := sharedCerts(t)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	cases := map[string]struct {
		data     []byte
		password string
		want     string
	}{
		"empty":                    {data: nil, want: "empty"},
		"garbage":                  {data: []byte("hello, world"), want: "neither PEM nor PKCS#12"},
		"PEM without key":          {data: pemCert(a.cert), want: "no private key"},
		"PEM without cert":         {data: pemPKCS8(t, a.key), want: "no certificate"},
		"key of another cert":      {data: joinPEM(pemCert(a.cert), pemPKCS8(t, b.key)), want: "does not match"},
		"two keys":                 {data: joinPEM(pemCert(a.cert), pemPKCS8(t, a.key), pemPKCS1(a.key)), want: "more than one private key"},
		"EC key (SEC 1)":           {data: joinPEM(pemCert(a.cert), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})), want: "RSA"},
		"EC key (PKCS#8)":          {data: joinPEM(pemCert(a.cert), pemPKCS8(t, ecKey)), want: "ECDSA"},
		"encrypted PKCS#8":         {data: joinPEM(pemCert(a.cert), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}})), want: "encrypted"},
		"bad certificate":          {data: joinPEM(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}}), pemPKCS8(t, a.key)), want: "not a valid X.509"},
		"truncated PKCS#12":        {data: makePFX(t, a, "pw", false)[:100], password: "pw", want: "PKCS#12"},
		"wrong PKCS#12 password":   {data: makePFX(t, a, "right", false), password: "wrong", want: "password"},
		"missing PKCS#12 password": {data: makePFX(t, a, "right", false), want: "password"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var pw []byte
			if tc.password != "" {
				pw = []byte(tc.password)
			}
			certs, key, err := ParseCertificates(tc.data, pw)
			if err == nil {
				t.Fatalf("no error; got %d certs and %T", len(certs), key)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
	_, _, err := ParseCertificates(makePFX(t, a, "right", false), []byte("wrong"))
	if !errors.Is(err, ErrCertificatePassword) {
		t.Fatalf("wrong password: %v is not ErrCertificatePassword", err)
	}
}

func TestNewClientCertificateCredentialRejectsBadPairs(t *testing.T) {
	a, b := sharedCerts(t)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, tc := range map[string]struct {
		certs []*x509.Certificate
		key   any
		want  string
	}{
		"no certificate": {nil, a.key, "at least one certificate"},
		"no key":         {[]*x509.Certificate{a.cert}, nil, "no key"},
		"EC key":         {[]*x509.Certificate{a.cert}, ecKey, "ECDSA"},
		"mismatched key": {[]*x509.Certificate{a.cert}, b.key, "does not match"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewClientCertificateCredential("tenant", "client", tc.certs, tc.key, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), credNameCert) {
				t.Fatalf("err = %v, want one naming the credential and mentioning %q", err, tc.want)
			}
		})
	}
}

// FuzzParseCertificates feeds arbitrary PEM and PKCS#12 data (seeded with
// valid files of both kinds) to ParseCertificates: it must return an error
// or a matching certificate and RSA key, never panic.
func FuzzParseCertificates(f *testing.F) {
	a, _ := sharedCerts(f)
	f.Add(joinPEM(pemCert(a.cert), pemPKCS8(f, a.key)), []byte(nil))
	f.Add(joinPEM(pemPKCS1(a.key), pemCert(a.ca), pemCert(a.cert)), []byte(nil))
	f.Add(makePFX(f, a, "pw", true), []byte("pw"))
	f.Add(makePFX(f, a, "", false), []byte(nil))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte(nil))
	f.Fuzz(func(t *testing.T, data, password []byte) {
		certs, key, err := ParseCertificates(data, password)
		if err != nil {
			return
		}
		rk, ok := key.(*rsa.PrivateKey)
		if !ok || len(certs) == 0 {
			t.Fatalf("success without an RSA key and a certificate: %T, %d", key, len(certs))
		}
		if pub, ok := certs[0].PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&rk.PublicKey) {
			t.Fatal("the first certificate is not the key's")
		}
	})
}
