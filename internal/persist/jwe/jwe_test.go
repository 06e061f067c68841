package jwe

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 7518 Appendix B.1: the AES_128_CBC_HMAC_SHA_256 test vector.
func TestRFC7518Vector(t *testing.T) {
	key := unhex(t, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	pt := []byte("A cipher system must not be required to be secret, and it must be able to fall into the hands of the enemy without inconvenience")
	iv := unhex(t, "1af38c2dc2b96ffdd86694092341bc04")
	aad := []byte("The second principle of Auguste Kerckhoffs")
	wantTag := unhex(t, "652c3fa36b0a7c5b3219fab3a30bc1c4")

	block, _ := aes.NewCipher(key[16:])
	n := aes.BlockSize - len(pt)%aes.BlockSize
	ct := append(bytes.Clone(pt), bytes.Repeat([]byte{byte(n)}, n)...)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)
	if !strings.HasPrefix(hex.EncodeToString(ct), "c80edfa32ddf39d5ef00c0b468834279") {
		t.Fatalf("ciphertext %x", ct[:16])
	}
	if got := macAAD(key[:16], aad, iv, ct); !bytes.Equal(got, wantTag) {
		t.Fatalf("tag %x, want %x", got, wantTag)
	}
}

func TestRoundTrip(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	for _, pt := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("0123456789abcdef"), 4)} {
		c, err := Encrypt(key, "123", pt)
		if err != nil {
			t.Fatal(err)
		}
		if kid, err := KeyID(c); err != nil || kid != "123" {
			t.Fatalf("kid %q %v", kid, err)
		}
		got, err := Decrypt(key, c)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("round trip of %q: %q %v", pt, got, err)
		}
	}
}

func TestDecryptRejects(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	good, _ := Encrypt(key, "1", []byte(`{"AccessToken":{}}`))
	wrong := bytes.Repeat([]byte{8}, KeySize)
	if _, err := Decrypt(wrong, good); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong key: %v", err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-30] ^= 1
	if _, err := Decrypt(key, flipped); err == nil {
		t.Fatal("altered data decrypted")
	}
	for _, bad := range []string{"", "a.b.c", "....", "e30..AAAA.AAAA.AAAA", string(good[:len(good)/2])} {
		if _, err := Decrypt(key, []byte(bad)); err == nil {
			t.Errorf("Decrypt(%q) succeeded", bad)
		}
	}
}

func FuzzDecrypt(f *testing.F) {
	key := bytes.Repeat([]byte{7}, KeySize)
	good, _ := Encrypt(key, "1", []byte(`{"AccessToken":{}}`))
	f.Add(good)
	f.Add([]byte("eyJhbGciOiJkaXIiLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0..AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pt, err := Decrypt(key, data)
		if err == nil {
			// Only authentic data decrypts; re-encrypting must round-trip.
			c, err := Encrypt(key, "x", pt)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := Decrypt(key, c); err != nil || !bytes.Equal(back, pt) {
				t.Fatal("round trip failed")
			}
		}
		_, _ = KeyID(data)
	})
}
