package msalcache

import (
	"fmt"
	"testing"
)

func bigDoc(n int) []byte {
	d := New()
	for i := range n {
		d.Put(AccessToken, &Entry{Environment: "login.microsoftonline.com", ClientID: "c11e2700-0000-4000-8000-00000000c11e",
			Realm: "e7a7e570-0000-4000-8000-00000000e57a", Target: fmt.Sprintf("api://w/s%d/.default", i),
			Secret: fmt.Sprintf("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.token-%d.sig", i), CachedAt: 1700000000, ExpiresOn: 1700003600, ExtendedExpiresOn: 1700003600, TokenType: "Bearer"})
	}
	b, _ := d.Marshal()
	return b
}

// BenchmarkParse1000 and BenchmarkMarshal1000 measure one reload and one
// rewrite of a cache holding 1,000 access tokens (what a save under
// contention costs besides I/O).
func BenchmarkParse1000(b *testing.B) {
	data := bigDoc(1000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal1000(b *testing.B) {
	d, _, _ := Parse(bigDoc(1000))
	for b.Loop() {
		if _, err := d.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}
