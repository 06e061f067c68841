package cache

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func TestDecodeKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, KeySize)
	for _, in := range []string{
		base64.StdEncoding.EncodeToString(key) + "\n",
		base64.RawURLEncoding.EncodeToString(key),
		hex.EncodeToString(key),
		"  " + strings.ToUpper(hex.EncodeToString(key)) + "\r\n",
		string(key),
	} {
		got, err := decodeKey([]byte(in))
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("decodeKey(%q) = %x, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "short", base64.StdEncoding.EncodeToString(key[:31]), hex.EncodeToString(key[:31])} {
		if _, err := decodeKey([]byte(in)); err == nil {
			t.Errorf("decodeKey(%q) accepted", in)
		}
	}
}

// FuzzDecodeKey: any input gives a 32-byte key or an error that does not
// echo the input.
func FuzzDecodeKey(f *testing.F) {
	f.Add([]byte(base64.StdEncoding.EncodeToString(make([]byte, 32))))
	f.Add([]byte(hex.EncodeToString(make([]byte, 32))))
	f.Add([]byte("not a key at all"))
	f.Fuzz(func(t *testing.T, in []byte) {
		k, err := decodeKey(in)
		if err != nil {
			if len(in) >= 8 && strings.Contains(err.Error(), string(in)) {
				t.Fatal("error echoes the key material")
			}
			return
		}
		if len(k) != KeySize {
			t.Fatalf("%d-byte key", len(k))
		}
	})
}
