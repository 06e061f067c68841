package serve

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzParseQuery: any query string parses to a Query or a *QueryError,
// never panics, and a parsed query is one the handler can serve.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"api-version=2019-08-01&resource=https://management.azure.com/",
		"api-version=2017-09-01&resource=https%3A%2F%2Fvault.azure.net&clientid=abc",
		"api-version=2019-08-01&resource=x&client_id=a&mi_res_id=b",
		"resource=x&resource=y", "%zz", "api-version=2019-08-01&resource=%00", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := ParseQuery(raw)
		if err != nil {
			if _, ok := err.(*QueryError); !ok {
				t.Fatalf("error %T, want *QueryError", err)
			}
			return
		}
		if q.Resource == "" || (q.APIVersion != APIVersion2019 && q.APIVersion != APIVersion2017) {
			t.Fatalf("accepted %+v", q)
		}
		if strings.ContainsAny(q.Resource, " \x00\r\n") {
			t.Fatalf("resource with control characters accepted: %q", q.Resource)
		}
	})
}

// FuzzHandlerQuery sends any query through the whole handler without the
// credential being reachable for a refused one: every answer is JSON in
// App Service's shape or a token, and nothing panics.
func FuzzHandlerQuery(f *testing.F) {
	f.Add("api-version=2019-08-01&resource=api://demo", true)
	f.Add("api-version=2019-08-01&resource=api://demo&object_id=x", true)
	f.Add("api-version=2017-09-01&resource=a", false)
	// An over-long query is refused for its length only once the secret
	// is shown: without it the answer is 401, like any other.
	f.Add("api-version=2019-08-01&resource="+strings.Repeat("a", 5000), false)
	f.Add("api-version=2019-08-01&resource="+strings.Repeat("a", 5000), true)
	secret := strings.Repeat("s", 64)
	h, err := New(Options{Credential: staticCredential{}, Secret: secret, Rate: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string, withSecret bool) {
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1"+Path, nil)
		r.URL.RawQuery = raw
		if withSecret {
			r.Header.Set("X-IDENTITY-HEADER", secret)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if !withSecret && w.Code != http.StatusUnauthorized {
			t.Fatalf("without the secret: %d", w.Code)
		}
		if w.Code == http.StatusOK && strings.Contains(w.Body.String(), secret) {
			t.Fatal("the secret is in the answer")
		}
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("answer %d is not JSON: %q", w.Code, w.Body.String())
		}
		if w.Code == http.StatusOK {
			if q, _ := ParseQuery(raw); body["resource"] != q.Resource {
				t.Fatalf("resource %q came back as %q", q.Resource, body["resource"])
			}
		}
		if !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("content type %q", w.Header().Get("Content-Type"))
		}
	})
}
