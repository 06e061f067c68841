package redis

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
)

// A sealed value is
//
//	magic (6 bytes: 0x00 "AZID" 0x01) | len(keyID) (1 byte) | keyID |
//	nonce (12 bytes) | AES-GCM ciphertext and tag
//
// with additional data: everything before the nonce, then the Redis key's
// partition name, so a value moved to another key does not open. The
// leading NUL keeps sealed values apart from plain ones, which are the
// stored blob as it is (MSAL-schema JSON).
var magic = []byte{0, 'A', 'Z', 'I', 'D', 1}

const nonceSize = 12

// Reasons a value does not open. They are reported (counted, logged) and
// the value is treated as absent.
var (
	errNotSealed      = errors.New("the value is not encrypted but encryption is on")
	errNoKeys         = errors.New("the value is encrypted but no EncryptionKeys are configured")
	errMalformed      = errors.New("the encrypted value is malformed (truncated or not written by azid)")
	errUnknownKeyID   = errors.New("the value was encrypted with a key that is not in EncryptionKeys")
	errAuthentication = errors.New("the value does not decrypt with its key: a wrong key under that ID, or the value was altered or moved")
)

// sealed reports whether v has the header of a sealed value.
func sealed(v []byte) bool { return bytes.HasPrefix(v, magic) }

// seal encrypts data for partition with the first key, or returns data as
// it is when encryption is off.
func seal(keys []sealingKey, partition string, data []byte) ([]byte, error) {
	if len(keys) == 0 {
		return data, nil
	}
	k := keys[0]
	head := len(magic) + 1 + len(k.id)
	out := make([]byte, head+nonceSize, head+nonceSize+len(data)+k.aead.Overhead())
	copy(out, magic)
	out[len(magic)] = byte(len(k.id))
	copy(out[len(magic)+1:], k.id)
	nonce := out[head : head+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("redis cache: random nonce: %w", err)
	}
	return k.aead.Seal(out, nonce, data, additionalData(out[:head], partition)), nil
}

// open returns the blob in v, read from partition's key. Errors say why the
// value cannot be used; they never contain the value.
func open(keys []sealingKey, partition string, v []byte) ([]byte, error) {
	if !sealed(v) {
		if len(keys) > 0 {
			return nil, errNotSealed
		}
		return v, nil
	}
	if len(keys) == 0 {
		return nil, errNoKeys
	}
	if len(v) < len(magic)+1 {
		return nil, errMalformed
	}
	idLen := int(v[len(magic)])
	head := len(magic) + 1 + idLen
	if idLen == 0 || len(v) < head+nonceSize {
		return nil, errMalformed
	}
	id := v[len(magic)+1 : head]
	for _, k := range keys {
		if k.id != string(id) {
			continue
		}
		if len(v) < head+nonceSize+k.aead.Overhead() {
			return nil, errMalformed
		}
		nonce := v[head : head+nonceSize]
		data, err := k.aead.Open(nil, nonce, v[head+nonceSize:], additionalData(v[:head], partition))
		if err != nil {
			return nil, errAuthentication
		}
		return data, nil
	}
	return nil, fmt.Errorf("%w (key ID %q)", errUnknownKeyID, printable(id))
}

func additionalData(head []byte, partition string) []byte {
	ad := make([]byte, 0, len(head)+len(partition))
	ad = append(ad, head...)
	return append(ad, partition...)
}

// printable makes a key ID read from Redis safe to put in a log line.
func printable(b []byte) string {
	const max = 64
	var sb bytes.Buffer
	for i, c := range b {
		if i == max {
			sb.WriteString("…")
			break
		}
		if c < 0x20 || c >= 0x7f {
			fmt.Fprintf(&sb, "\\x%02x", c)
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}
