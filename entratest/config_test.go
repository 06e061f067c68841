package entratest

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const exampleConfig = `{
  "$schema": "ignored",
  "tenants": [
    {"id": "7E4A0000-0000-4000-8000-000000000001", "displayName": "Contoso", "domains": ["contoso.example"],
     "subscriptions": [{"id": "5ab50000-0000-4000-8000-000000000001", "displayName": "dev"}]},
    {"id": "7e4a0000-0000-4000-8000-000000000002", "subscriptions": []}
  ],
  "apps": [
    {"tenantId": "7e4a0000-0000-4000-8000-000000000001", "clientId": "a9900000-0000-4000-8000-000000000001", "secret": "s3cret-value"},
    {"tenantId": "7e4a0000-0000-4000-8000-000000000002", "clientId": "a9900000-0000-4000-8000-000000000002", "secret": "other", "allowedTenants": ["*"]}
  ],
  "users": [
    {"username": "alice@Contoso.example", "password": "pw"},
    {"username": "bob@contoso.example", "password": "pw2", "tenantId": "7e4a0000-0000-4000-8000-000000000002",
     "objectId": "0b1ec700-0000-4000-8000-000000000001", "displayName": "Bob"}
  ],
  "token": {"expiresIn": "90m", "refreshIn": 600}
}`

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(exampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Options
	if len(o.Tenants) != 2 || len(o.Apps) != 2 || len(o.Tenants[0].Subscriptions) != 1 ||
		o.Tenants[1].Subscriptions == nil || len(o.Tenants[1].Subscriptions) != 0 {
		t.Errorf("options = %+v", o)
	}
	if o.Token.ExpiresIn != 90*time.Minute || o.Token.RefreshIn != 10*time.Minute || o.Token.ExtExpiresIn != 0 {
		t.Errorf("token = %+v", o.Token)
	}
	if len(c.Users) != 2 {
		t.Fatalf("users = %+v", c.Users)
	}
	alice, bob := c.Users[0], c.Users[1]
	if alice.Username != "alice@contoso.example" || alice.TenantID != "7e4a0000-0000-4000-8000-000000000001" ||
		!isGUID(alice.ObjectID) || alice.DisplayName != "alice" {
		t.Errorf("alice = %+v", alice)
	}
	if bob.ObjectID != "0b1ec700-0000-4000-8000-000000000001" || bob.DisplayName != "Bob" {
		t.Errorf("bob = %+v", bob)
	}

	// The options start a server that serves them.
	srv := newTestServer(t, &o)
	form := with(with(ccForm(), "client_id", "a9900000-0000-4000-8000-000000000001"), "client_secret", "s3cret-value")
	if r := postForm(t, srv, tokenPath("7e4a0000-0000-4000-8000-000000000001"), form); r.status != 200 {
		t.Errorf("token for a configured app: %d %s", r.status, r.raw)
	}
	r := postForm(t, srv, tokenPath(DefaultTenantID), ccForm())
	// No default app when apps are configured (the tenant exists: an app
	// allows "*").
	wantEntraError(t, r, 400, "unauthorized_client", 700016)
	if r := get(t, srv, "/common/userrealm/x@contoso.example?api-version=1.0"); r.str("account_type") != "Managed" {
		t.Errorf("user realm of a configured domain: %s", r.raw)
	}
}

func TestParseConfigRejects(t *testing.T) {
	const tenant = `"7e4a0000-0000-4000-8000-000000000001"`
	for _, tt := range []struct{ name, json, where string }{
		{"empty", ``, "empty"},
		{"not an object", `[]`, "must be"},
		{"syntax", "{\n  \"apps\": [,]\n}", "line 2, column"},
		{"trailing", `{} {}`, "trailing data"},
		{"unknown field", `{"app": []}`, `unknown field "app"`},
		{"typo in app", `{"apps": [{"tenant": ` + tenant + `}]}`, `unknown field "tenant"`},
		{"wrong type", `{"apps": [{"tenantId": 5}]}`, "apps.tenantId must be string"},
		{"app without client", `{"apps": [{"tenantId": ` + tenant + `}]}`, "apps[0]"},
		{"bad tenant", `{"tenants": [{"id": "contoso"}]}`, "tenants[0]"},
		{"bad domain", `{"tenants": [{"id": ` + tenant + `, "domains": ["a b"]}]}`, "tenants[0]"},
		{"bad subscription", `{"tenants": [{"id": ` + tenant + `, "subscriptions": [{"id": "x"}]}]}`, "tenants[0]"},
		{"user without domain", `{"users": [{"username": "alice", "password": "p"}]}`, "users[0]"},
		{"user without password", `{"users": [{"username": "alice@contoso.example"}]}`, "needs a password"},
		{"user twice", `{"users": [{"username": "a@b.example", "password": "p"}, {"username": "a@B.example", "password": "q"}]}`, "users[1]"},
		{"user in unknown tenant", `{"users": [{"username": "a@b.example", "password": "p", "tenantId": "0badc0de-0000-4000-8000-000000000000"}]}`, "users[0].tenantId"},
		{"bad duration", `{"token": {"expiresIn": "soon"}}`, "not a duration"},
		{"negative duration", `{"token": {"expiresIn": "-1h"}}`, "token.expiresIn"},
		{"huge seconds", `{"token": {"expiresIn": 99999999999999}}`, "not a duration"},
		{"unknown endpoint", `{"faults": {"tokens": {"status": 503}}}`, "faults.tokens: no such endpoint; the endpoints are "},
		{"fault typo", `{"faults": {"token": {"stauts": 503}}}`, `unknown field "stauts"`},
		{"empty fault", `{"faults": {"token": {}}}`, "faults.token: the fault does nothing"},
		{"times only", `{"faults": {"token": {"times": 2}}}`, "does nothing"},
		{"success status", `{"faults": {"token": {"status": 200}}}`, "status 200 is not an HTTP status from 400"},
		{"bad status with body", `{"faults": {"token": {"status": 99, "body": "x"}}}`, "from 200 to 599"},
		{"negative latency", `{"faults": {"keys": {"latency": "-1s"}}}`, "faults.keys: latency and retryAfter must not be negative"},
		{"negative times", `{"faults": {"token": {"status": 503, "times": -1}}}`, "times must not be negative"},
		{"hang with status", `{"faults": {"token": {"hang": true, "status": 503}}}`, "hang never answers"},
		{"drop with status", `{"faults": {"token": {"drop": true, "status": 503}}}`, "drop sends no answer"},
		{"body and echo", `{"faults": {"token": {"body": "x", "echo": true}}}`, "one of body and echo"},
		{"content type alone", `{"faults": {"token": {"status": 500, "contentType": "text/html"}}}`, "contentType applies only with a body"},
		{"retry-after alone", `{"faults": {"token": {"retryAfter": "5s"}}}`, "give a status too"},
		{"endpoint name quoted safely", "{\"faults\": {\"a\\u0000b\": {\"status\": 503}}}", "faults.a"},
	} {
		_, err := ParseConfig([]byte(tt.json))
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%s: err = %v, want a *ConfigError", tt.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.where) {
			t.Errorf("%s: %q does not mention %q", tt.name, err, tt.where)
		}
	}
	// Secrets in a broken file are not quoted back.
	_, err := ParseConfig([]byte(`{"apps": [{"tenantId": "t", "clientId": "c", "secret": "hunter2-secret"}], "x": 1}`))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("err = %v", err)
	}
	if _, err := ParseConfig(make([]byte, maxConfigBytes+1)); err == nil {
		t.Error("an oversized file was accepted")
	}
}

// Faults and the outage switch from a file: parsed as written, applied by
// ApplyFaults, and cleared by applying a file that no longer lists them.
func TestConfigFaults(t *testing.T) {
	c, err := ParseConfig([]byte(`{"faults": {
		"token": {"status": 429, "retryAfter": 7, "times": 1},
		"keys":  {"latency": "10ms", "body": "<html>proxy error</html>", "contentType": "text/html", "status": 502},
		"imds":  {"drop": true}
	}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[Endpoint]Fault{
		EndpointToken: {Status: 429, RetryAfter: 7 * time.Second, Times: 1},
		EndpointKeys:  {Latency: 10 * time.Millisecond, Body: []byte("<html>proxy error</html>"), ContentType: "text/html", Status: 502},
		EndpointIMDS:  {Drop: true},
	}
	if len(c.Faults) != len(want) || c.Outage {
		t.Fatalf("faults = %+v, outage %v", c.Faults, c.Outage)
	}
	for ep, w := range want {
		g := c.Faults[ep]
		if g.Status != w.Status || g.RetryAfter != w.RetryAfter || g.Times != w.Times || g.Latency != w.Latency ||
			g.Drop != w.Drop || string(g.Body) != string(w.Body) || g.ContentType != w.ContentType {
			t.Errorf("%s: %+v, want %+v", ep, g, w)
		}
	}

	srv := newTestServer(t, nil)
	c.ApplyFaults(srv)
	r := postForm(t, srv, tokenPath(DefaultTenantID), ccForm())
	wantEntraError(t, r, 429, "temporarily_unavailable", 90055)
	if ra := r.header.Get("Retry-After"); ra != "7" {
		t.Errorf("Retry-After = %q, want 7", ra)
	}
	if r := postForm(t, srv, tokenPath(DefaultTenantID), ccForm()); r.status != 200 {
		t.Errorf("after the counted fault: %d", r.status)
	}
	if r := get(t, srv, "/common/discovery/keys"); r.status != 502 || !strings.Contains(string(r.raw), "proxy error") {
		t.Errorf("keys: %d %s", r.status, r.raw)
	}

	outage, err := ParseConfig([]byte(`{"outage": true}`))
	if err != nil || !outage.Outage || len(outage.Faults) != 0 {
		t.Fatalf("outage config: %+v, %v", outage, err)
	}
	outage.ApplyFaults(srv)
	if r := get(t, srv, "/common/discovery/keys"); r.status != 503 {
		t.Errorf("keys in an outage: %d", r.status)
	}
	healthy, _ := ParseConfig([]byte(`{}`))
	healthy.ApplyFaults(srv)
	if r := get(t, srv, "/common/discovery/keys"); r.status != 200 {
		t.Errorf("keys once the file lists no faults: %d (the old fault was not cleared)", r.status)
	}
}

func TestLoadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "emu.json")
	if err := os.WriteFile(path, []byte(exampleConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := LoadConfig(path); err != nil || len(c.Options.Apps) != 2 {
		t.Errorf("LoadConfig: %v", err)
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestParseUser(t *testing.T) {
	u, err := ParseUser("Alice@Contoso.Example:p:w")
	if err != nil || u.Username != "Alice@contoso.example" || u.Password != "p:w" || u.TenantID != DefaultTenantID {
		t.Errorf("ParseUser = %+v, %v", u, err)
	}
	for _, bad := range []string{"alice", "alice@contoso.example", "alice@contoso.example:", ":pw", "al ice@x.example:pw"} {
		if _, err := ParseUser(bad); err == nil {
			t.Errorf("ParseUser(%q) accepted", bad)
		}
	}
}

// FuzzParseConfig: the configuration parser never panics, and whatever it
// accepts starts a server configuration NewServer's own checks accept.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(exampleConfig))
	f.Add([]byte(`{"apps": [{"tenantId": "7e4a0000-0000-4000-8000-000000000001", "clientId": "c", "secret": "s"}]}`))
	f.Add([]byte(`{"token": {"expiresIn": 30}}`))
	f.Add([]byte(`{"users": [{"username": "a@b.example", "password": "p"}]}`))
	f.Add([]byte(`{"tenants": [{"id": "7e4a0000-0000-4000-8000-000000000001", "subscriptions": []}]}`))
	f.Add([]byte(`{"oneTimeClientAssertions": true, "token": {"expiresIn": "1h", "refreshIn": "1h"}}`))
	f.Add([]byte(`{"apps": [{"tenantId": "7e4a0000-0000-4000-8000-000000000001", "clientId": "c", "certificates": ["-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"]}]}`))
	f.Add([]byte(`{"faults": {"token": {"status": 503, "retryAfter": "30s", "times": 3}, "keys": {"hang": true}}, "outage": true}`))
	f.Add([]byte(`{"faults": {"imds": {"body": "{", "contentType": "text/plain"}, "app-service": {"drop": true, "latency": 5}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		dir := newDirectory()
		for _, ten := range c.Options.Tenants {
			if err := dir.addTenant(ten); err != nil {
				t.Fatalf("accepted tenant rejected later: %v", err)
			}
		}
		for _, a := range c.Options.Apps {
			if err := dir.add(a); err != nil {
				t.Fatalf("accepted app rejected later: %v", err)
			}
		}
		for _, u := range c.Users {
			if !isGUID(u.TenantID) || !isGUID(u.ObjectID) || u.Password == "" {
				t.Fatalf("accepted user is incomplete: %+v", u)
			}
		}
		if err := c.Options.Token.Validate(); err != nil {
			t.Fatalf("accepted token policy rejected later: %v", err)
		}
		for ep, f := range c.Faults {
			if !slices.Contains(allEndpoints(), ep) || isZeroFault(f) || f.Times < 0 || f.Latency < 0 || f.RetryAfter < 0 {
				t.Fatalf("accepted fault for %q does nothing or cannot apply: %+v", ep, f)
			}
		}
	})
}
