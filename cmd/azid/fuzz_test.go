package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// The token printed is outside input (Entra's, or a tool's): reading its
// tenant must never panic, and the JSON must stay one valid object with
// the token intact.
func FuzzPrintToken(f *testing.F) {
	f.Add("eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ0ZW5hbnQifQ.sig")
	f.Add("a.b.c")
	f.Add("...")
	f.Add("opaque-token")
	f.Add("x.eyJ0aWQiOjF9.y")
	f.Fuzz(func(t *testing.T, token string) {
		_ = tenantOf(token)
		var out bytes.Buffer
		if code := printToken(&out, azcore.AccessToken{Token: token, ExpiresOn: time.Unix(1e9, 0)}, "json", ""); code != exitOK {
			t.Fatalf("exit %d", code)
		}
		if !strings.HasPrefix(out.String(), "{") || !strings.HasSuffix(out.String(), "}\n") {
			t.Fatalf("output %q", out.String())
		}
	})
}
