package cache

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/azid-go/azid/internal/persist/jwe"
)

// KeySource supplies the 32-byte key that encrypts the cache file when the
// platform's key store cannot be used (containers, CI). [New] reads it once.
type KeySource interface {
	Key(ctx context.Context) ([]byte, error)
}

// KeySize is the size of a cache key: 32 random bytes, e.g. from
// `head -c 32 /dev/urandom | base64`.
const KeySize = jwe.KeySize

// KeyFromFile reads the key from a file (a mounted secret): 32 bytes, as
// base64 (standard or URL alphabet, padded or not), as 64 hex digits, or
// raw. Surrounding white space is ignored.
func KeyFromFile(path string) KeySource { return fileKey(path) }

// KeyFromEnv reads the key from the environment variable name, encoded as
// for [KeyFromFile] (base64 or hex).
func KeyFromEnv(name string) KeySource { return envKey(name) }

type fileKey string

func (f fileKey) Key(context.Context) ([]byte, error) {
	b, err := os.ReadFile(string(f))
	if err != nil {
		return nil, fmt.Errorf("cache: reading the key file: %w", err)
	}
	k, err := decodeKey(b)
	if err != nil {
		return nil, fmt.Errorf("cache: the key file %s: %w", string(f), err)
	}
	return k, nil
}

type envKey string

func (e envKey) Key(context.Context) ([]byte, error) {
	v, ok := os.LookupEnv(string(e))
	if !ok || v == "" {
		return nil, fmt.Errorf("cache: the environment variable %s holding the cache key is not set", string(e))
	}
	k, err := decodeKey([]byte(v))
	if err != nil {
		return nil, fmt.Errorf("cache: the environment variable %s: %w", string(e), err)
	}
	return k, nil
}

// decodeKey accepts 32 bytes as hex, base64 or raw. Errors never include
// the input.
func decodeKey(b []byte) ([]byte, error) {
	s := strings.TrimSpace(string(b))
	if len(s) == 2*KeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	if raw := bytes.TrimRight(b, "\r\n"); len(raw) == KeySize {
		return bytes.Clone(raw), nil
	}
	return nil, fmt.Errorf("the key must be %d bytes, base64 or hex encoded (make one with `head -c %d /dev/urandom | base64`)", KeySize, KeySize)
}

// staticKeyCodec seals cache files with a key the user provided.
type staticKeyCodec struct{ key []byte }

// providedKeyID is the JWE kid of files sealed with a provided key.
const providedKeyID = "azid-provided-key"

func (c staticKeyCodec) Seal(_ context.Context, _ string, pt []byte) ([]byte, error) {
	return jwe.Encrypt(c.key, providedKeyID, pt)
}

func (c staticKeyCodec) Open(_ context.Context, _ string, data []byte) ([]byte, error) {
	pt, err := jwe.Decrypt(c.key, data)
	if err != nil {
		if errors.Is(err, jwe.ErrDecrypt) {
			return nil, fmt.Errorf("%w: it does not decrypt with the provided key (another key wrote it)", ErrUnreadable)
		}
		return nil, fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	return pt, nil
}
