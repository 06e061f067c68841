// Package jwe encrypts and decrypts the one kind of JSON Web Encryption
// the persistent cache files use, the same as azidentity/cache on Linux:
// compact serialisation, direct key agreement (alg "dir") and
// A128CBC-HS256 content encryption (RFC 7518 §5.2.3: AES-128-CBC with
// PKCS#7 padding, authenticated by HMAC-SHA-256 truncated to 16 bytes; the
// 32-byte key is the MAC key followed by the encryption key).
//
// azidentity authenticates no additional data (it does not bind the
// protected header), so neither does this package: the header is parsed
// only to check alg and enc. Files written here decrypt there and the
// other way round.
package jwe

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// KeySize is the size of an A128CBC-HS256 key.
const KeySize = 32

// MaxSize bounds what Decrypt accepts, so that a hostile file cannot make
// the reader allocate without limit.
const MaxSize = 64 << 20

// ErrMalformed is wrapped by errors about data that is not a compact JWE of
// the supported kind.
var ErrMalformed = errors.New("not a supported JWE (compact, alg dir, enc A128CBC-HS256)")

// ErrDecrypt is returned when the authentication tag does not match: the
// key is wrong or the data was changed.
var ErrDecrypt = errors.New("the data does not decrypt with this key (wrong key or altered data)")

type header struct {
	Alg string `json:"alg"`
	Enc string `json:"enc"`
	KID string `json:"kid"`
}

// Encrypt seals plaintext with key and returns the compact serialisation.
// kid is recorded in the header (azidentity puts the keyring key's serial
// number there).
func Encrypt(key []byte, kid string, plaintext []byte) ([]byte, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("jwe: the key must be %d bytes, not %d", KeySize, len(key))
	}
	hdr, err := json.Marshal(header{Alg: "dir", Enc: "A128CBC-HS256", KID: kid})
	if err != nil {
		return nil, err
	}
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key[16:])
	if err != nil {
		return nil, err
	}
	n := aes.BlockSize - len(plaintext)%aes.BlockSize
	ct := make([]byte, len(plaintext)+n)
	copy(ct, plaintext)
	for i := len(plaintext); i < len(ct); i++ {
		ct[i] = byte(n)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)
	tag := mac(key[:16], iv, ct)

	enc := base64.RawURLEncoding
	out := make([]byte, 0, enc.EncodedLen(len(hdr))+enc.EncodedLen(len(iv))+enc.EncodedLen(len(ct))+enc.EncodedLen(len(tag))+4)
	out = enc.AppendEncode(out, hdr)
	out = append(out, '.', '.')
	out = enc.AppendEncode(out, iv)
	out = append(out, '.')
	out = enc.AppendEncode(out, ct)
	out = append(out, '.')
	out = enc.AppendEncode(out, tag)
	return out, nil
}

// mac is the A128CBC-HS256 tag with no additional data: HMAC-SHA-256 over
// IV, ciphertext and the 64-bit length in bits of the (empty) AAD,
// truncated to 16 bytes.
func mac(key, iv, ct []byte) []byte { return macAAD(key, nil, iv, ct) }

// macAAD is the RFC 7518 §5.2.2.1 tag with additional data aad, kept
// general so that the RFC's test vector can check it.
func macAAD(key, aad, iv, ct []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(aad)
	h.Write(iv)
	h.Write(ct)
	var al [8]byte
	binary.BigEndian.PutUint64(al[:], uint64(len(aad))*8)
	h.Write(al[:])
	return h.Sum(nil)[:16]
}

// KeyID returns the kid of a compact JWE's header, checking that the data
// has the supported form.
func KeyID(data []byte) (string, error) {
	p, err := parse(data)
	if err != nil {
		return "", err
	}
	return p.hdr.KID, nil
}

type parts struct {
	hdr         header
	iv, ct, tag []byte
}

func parse(data []byte) (parts, error) {
	if len(data) > MaxSize {
		return parts{}, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxSize)
	}
	data = bytes.TrimSpace(data)
	segs := bytes.Split(data, []byte("."))
	if len(segs) != 5 {
		return parts{}, fmt.Errorf("%w: %d segments, want 5", ErrMalformed, len(segs))
	}
	if len(segs[1]) != 0 {
		return parts{}, fmt.Errorf("%w: an encrypted key is present, but alg dir has none", ErrMalformed)
	}
	var p parts
	raw, err := decode(segs[0], "header")
	if err != nil {
		return parts{}, err
	}
	if err := json.Unmarshal(raw, &p.hdr); err != nil {
		return parts{}, fmt.Errorf("%w: the header is not a JSON object", ErrMalformed)
	}
	if p.hdr.Alg != "dir" || p.hdr.Enc != "A128CBC-HS256" {
		return parts{}, fmt.Errorf("%w: alg %q, enc %q", ErrMalformed, p.hdr.Alg, p.hdr.Enc)
	}
	if p.iv, err = decode(segs[2], "IV"); err != nil {
		return parts{}, err
	}
	if p.ct, err = decode(segs[3], "ciphertext"); err != nil {
		return parts{}, err
	}
	if p.tag, err = decode(segs[4], "tag"); err != nil {
		return parts{}, err
	}
	if len(p.iv) != aes.BlockSize || len(p.tag) != 16 || len(p.ct) == 0 || len(p.ct)%aes.BlockSize != 0 {
		return parts{}, fmt.Errorf("%w: wrong IV, tag or ciphertext length", ErrMalformed)
	}
	return p, nil
}

func decode(b []byte, what string) ([]byte, error) {
	out, err := base64.RawURLEncoding.AppendDecode(nil, b)
	if err != nil {
		return nil, fmt.Errorf("%w: the %s is not base64url", ErrMalformed, what)
	}
	return out, nil
}

// Decrypt opens a compact JWE with key. The tag is checked (in constant
// time) before anything is decrypted.
func Decrypt(key, data []byte) ([]byte, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("jwe: the key must be %d bytes, not %d", KeySize, len(key))
	}
	p, err := parse(data)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(mac(key[:16], p.iv, p.ct), p.tag) {
		return nil, ErrDecrypt
	}
	block, err := aes.NewCipher(key[16:])
	if err != nil {
		return nil, err
	}
	pt := make([]byte, len(p.ct))
	cipher.NewCBCDecrypter(block, p.iv).CryptBlocks(pt, p.ct)
	n := int(pt[len(pt)-1])
	if n < 1 || n > aes.BlockSize {
		return nil, ErrDecrypt
	}
	pad := bytes.Repeat([]byte{byte(n)}, n)
	if subtle.ConstantTimeCompare(pt[len(pt)-n:], pad) != 1 {
		return nil, ErrDecrypt
	}
	return pt[:len(pt)-n], nil
}
