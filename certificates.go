package azid

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"

	"software.sslmate.com/src/go-pkcs12"
)

// ErrCertificatePassword is returned (wrapped) by [ParseCertificates] when a
// PKCS#12 file cannot be decrypted with the password given: the password is
// wrong, or the file needs one and none was given.
var ErrCertificatePassword = errors.New("wrong or missing password for the PKCS#12 certificate file")

// maxCertificateData bounds what ParseCertificates reads: certificate files
// are a few kilobytes, and a bound keeps a wrong path (a disk image, a log)
// from costing much.
const maxCertificateData = 1 << 20

// ParseCertificates loads the certificates and the private key an app
// authenticates with, for [NewClientCertificateCredential], from either:
//
//   - PEM: one or more CERTIFICATE blocks and one private key, as a
//     "PRIVATE KEY" (PKCS#8) or "RSA PRIVATE KEY" (PKCS#1) block, in any
//     order. Encrypted PEM keys are not supported; password is ignored.
//   - PKCS#12 (.pfx, .p12), with or without a password. Pass nil for a file
//     without one.
//
// The key must be RSA (Entra accepts nothing else for client assertions) and
// must belong to one of the certificates; that certificate comes first in
// the result, the others (the chain, sent with SendCertificateChain) follow
// in file order. Each problem gets its own error: a wrong password wraps
// [ErrCertificatePassword]; no certificate, no key, several keys, a key of
// another type, a key that matches none of the certificates, and data that
// is neither PEM nor PKCS#12 are all reported as such.
func ParseCertificates(certData []byte, password []byte) ([]*x509.Certificate, crypto.PrivateKey, error) {
	if len(certData) == 0 {
		return nil, nil, errors.New("ParseCertificates: the certificate data is empty")
	}
	if len(certData) > maxCertificateData {
		return nil, nil, fmt.Errorf("ParseCertificates: %d bytes is too large for a certificate file (limit %d)", len(certData), maxCertificateData)
	}
	var certs []*x509.Certificate
	var key crypto.PrivateKey
	var err error
	if bytes.Contains(certData, []byte("-----BEGIN")) {
		certs, key, err = parsePEM(certData)
	} else {
		certs, key, err = parsePKCS12(certData, password)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("ParseCertificates: %w", err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("ParseCertificates: %w", unsupportedKey(key))
	}
	ordered, err := leafFirst(certs, rk)
	if err != nil {
		return nil, nil, fmt.Errorf("ParseCertificates: %w", err)
	}
	return ordered, rk, nil
}

// parsePEM reads every PEM block, ignoring those that are neither a
// certificate nor a private key (parameters, text between blocks).
func parsePEM(data []byte) ([]*x509.Certificate, crypto.PrivateKey, error) {
	var certs []*x509.Certificate
	var key crypto.PrivateKey
	found := false
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		found = true
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("a CERTIFICATE block is not a valid X.509 certificate: %w", err)
			}
			certs = append(certs, c)
		case "PRIVATE KEY", "RSA PRIVATE KEY":
			if key != nil {
				return nil, nil, errors.New("the PEM data holds more than one private key; keep only the certificate's key")
			}
			if _, encrypted := b.Headers["Proc-Type"]; encrypted {
				return nil, nil, errors.New("the PEM private key is encrypted, which is not supported: decrypt it (openssl rsa) or use a PKCS#12 file with a password")
			}
			k, err := parsePrivateKey(b)
			if err != nil {
				return nil, nil, err
			}
			key = k
		case "ENCRYPTED PRIVATE KEY":
			return nil, nil, errors.New("the PEM private key is encrypted (PKCS#8), which is not supported: decrypt it (openssl pkcs8) or use a PKCS#12 file with a password")
		case "EC PRIVATE KEY":
			return nil, nil, errors.New("the private key is an EC key; Entra needs an RSA key for certificate credentials")
		}
	}
	if !found {
		return nil, nil, errors.New("the data contains no PEM block")
	}
	if len(certs) == 0 {
		return nil, nil, errors.New("the PEM data contains no certificate")
	}
	if key == nil {
		return nil, nil, errors.New("the PEM data contains no private key (a PRIVATE KEY or RSA PRIVATE KEY block)")
	}
	return certs, key, nil
}

// parsePrivateKey reads a PKCS#8 or PKCS#1 key whatever the block's label
// says: tools mislabel them often enough.
func parsePrivateKey(b *pem.Block) (crypto.PrivateKey, error) {
	if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	if _, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
		return nil, errors.New("the private key is an EC key; Entra needs an RSA key for certificate credentials")
	}
	return nil, fmt.Errorf("the %s block is not a PKCS#8 or PKCS#1 private key", b.Type)
}

// parsePKCS12 decodes a PKCS#12 file. An empty password also opens files
// protected by the empty password, which is how tools export "no password".
func parsePKCS12(data, password []byte) ([]*x509.Certificate, crypto.PrivateKey, error) {
	key, leaf, chain, err := pkcs12.DecodeChain(data, string(password))
	if err != nil {
		switch {
		case errors.Is(err, pkcs12.ErrIncorrectPassword), errors.Is(err, pkcs12.ErrDecryption):
			return nil, nil, ErrCertificatePassword
		case len(data) > 0 && data[0] != 0x30:
			// Not DER at all: neither PKCS#12 nor PEM.
			return nil, nil, errors.New("the data is neither PEM nor PKCS#12 (DER): check the file's path and format")
		}
		return nil, nil, fmt.Errorf("the PKCS#12 data is invalid or holds no certificate and key: %w", err)
	}
	return append([]*x509.Certificate{leaf}, chain...), key, nil
}

// unsupportedKey describes a key of a type Entra does not accept.
func unsupportedKey(key crypto.PrivateKey) error {
	kind := fmt.Sprintf("%T", key)
	switch key.(type) {
	case *ecdsa.PrivateKey:
		kind = "an ECDSA key"
	case ed25519.PrivateKey:
		kind = "an Ed25519 key"
	case nil:
		kind = "no key"
	}
	return fmt.Errorf("the private key is %s; Entra needs an RSA key for certificate credentials", kind)
}

// leafFirst returns certs with the certificate of key first: that is the
// certificate the assertion names and the first of the x5c chain.
func leafFirst(certs []*x509.Certificate, key *rsa.PrivateKey) ([]*x509.Certificate, error) {
	out := make([]*x509.Certificate, 0, len(certs))
	var leaf *x509.Certificate
	for _, c := range certs {
		if c == nil {
			continue
		}
		if pub, ok := c.PublicKey.(*rsa.PublicKey); ok && leaf == nil && pub.Equal(&key.PublicKey) {
			leaf = c
			continue
		}
		out = append(out, c)
	}
	if leaf == nil {
		if len(out) == 0 {
			return nil, errors.New("no certificate given")
		}
		return nil, errors.New("the private key does not match any of the certificates: check that the key and certificate belong together")
	}
	return append([]*x509.Certificate{leaf}, out...), nil
}

// certCredential is a certificate and its key ready to sign client
// assertions: the leaf's thumbprints and the x5c chain are computed once.
type certCredential struct {
	key      *rsa.PrivateKey
	x5tS256  string   // SHA-256 thumbprint of the leaf, base64url
	x5tSHA1  string   // SHA-1 thumbprint of the leaf, base64url, for ADFS
	x5c      []string // the chain, leaf first, standard base64 DER (RFC 7515)
	sendX5c  bool
	leafName string // subject of the leaf, for errors
}

// newCertCredential validates a certificate/key pair given to a
// constructor: an RSA key matching one of certs.
func newCertCredential(certs []*x509.Certificate, key crypto.PrivateKey, sendChain bool) (*certCredential, error) {
	if len(certs) == 0 {
		return nil, errors.New("at least one certificate is required")
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, unsupportedKey(key)
	}
	ordered, err := leafFirst(certs, rk)
	if err != nil {
		return nil, err
	}
	leaf := ordered[0]
	c := &certCredential{key: rk, sendX5c: sendChain, leafName: leaf.Subject.String()}
	c.x5tS256 = base64.RawURLEncoding.EncodeToString(sha256Sum(leaf.Raw))
	c.x5tSHA1 = base64.RawURLEncoding.EncodeToString(sha1Sum(leaf.Raw))
	for _, cert := range ordered {
		c.x5c = append(c.x5c, base64.StdEncoding.EncodeToString(cert.Raw))
	}
	return c, nil
}
