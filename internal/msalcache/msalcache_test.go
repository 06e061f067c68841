package msalcache

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// A document as another MSAL wrote it: mixed-case legacy keys, a number
// timestamp, null fields, an unknown section and unknown fields, one bad
// entry.
const foreign = `{
  "AccessToken": {
    "UID.UTID-login.windows.net-AccessToken-my_client_id-contoso-S2 S1": {
      "environment": "login.windows.net", "credential_type": "accesstoken",
      "secret": "at-1", "realm": "contoso", "target": "S2 S1", "client_id": "my_client_id",
      "cached_at": 1000, "home_account_id": "uid.utid", "expires_on": "4600",
      "extended_expires_on": null, "refresh_on": "", "token_type": "Bearer", "x_future": {"a": [1, 2]}
    },
    "bad-entry": {"secret": 7},
    "not-an-object": [1, 2, 3],
    "bad-time": {"secret": "s", "expires_on": "soon"}
  },
  "RefreshToken": {
    "uid.utid-login.windows.net-refreshtoken-my_client_id--": {
      "environment": "login.windows.net", "credential_type": "RefreshToken", "secret": "rt-1",
      "client_id": "my_client_id", "home_account_id": "uid.utid"
    }
  },
  "IdToken": null,
  "Account": {
    "uid.utid-login.windows.net-contoso": {
      "username": "John", "local_account_id": "obj", "realm": "contoso",
      "environment": "login.windows.net", "home_account_id": "uid.utid", "authority_type": "MSSTS"
    }
  },
  "AppMetadata": {"appmetadata-login.windows.net-my_client_id": {"environment": "login.windows.net", "client_id": "my_client_id", "family_id": "1"}},
  "unknownEntity": {"field1": "1", "field2": "whats"}
}`

func TestParseLenient(t *testing.T) {
	d, problems, err := Parse([]byte(foreign))
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 3 {
		t.Fatalf("problems = %v, want the 3 bad entries", problems)
	}
	for _, p := range problems {
		if strings.Contains(p.String(), "at-1") || strings.Contains(p.String(), `"s"`) {
			t.Fatalf("problem %q leaks a secret", p)
		}
	}
	if d.Len(AccessToken) != 1 || d.Len(RefreshToken) != 1 || d.Len(Account) != 1 || d.Len(AppMetadata) != 1 {
		t.Fatalf("sections: %d %d %d %d", d.Len(AccessToken), d.Len(RefreshToken), d.Len(Account), d.Len(AppMetadata))
	}
	at := NewIndex(d).Find(TokenQuery{HomeAccountID: "UID.utid", Environment: "login.windows.net", ClientID: "MY_client_id", Realm: "Contoso", Scopes: []string{"s1", "S2 s1"}})
	if at == nil {
		t.Fatal("access token not found by a case-insensitive, order-insensitive query")
	}
	if at.CachedAt != 1000 || at.ExpiresOn != 4600 || at.ExtendedExpiresOn != 0 || at.RefreshOn != 0 || at.CredentialType != "AccessToken" {
		t.Fatalf("entry = %+v", at)
	}

	out, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(out, &top); err != nil {
		t.Fatal(err)
	}
	var ats map[string]map[string]any
	if err := json.Unmarshal(top["AccessToken"], &ats); err != nil {
		t.Fatal(err)
	}
	e, ok := ats["uid.utid-login.windows.net-accesstoken-my_client_id-contoso-s2 s1"]
	if !ok || len(ats) != 1 {
		t.Fatalf("access tokens written as %v, want one under its canonical key", ats)
	}
	if e["cached_at"] != "1000" || e["expires_on"] != "4600" || e["x_future"] == nil {
		t.Fatalf("entry written as %v", e)
	}
	if _, ok := e["refresh_on"]; ok {
		t.Fatal("absent timestamp written")
	}
	if !strings.Contains(string(top["unknownEntity"]), `"field2":"whats"`) {
		t.Fatalf("unknown section changed: %s", out)
	}
	// Rewriting the rewrite changes nothing.
	d2, problems, err := Parse(out)
	if err != nil || len(problems) != 0 {
		t.Fatal(err, problems)
	}
	out2, _ := d2.Marshal()
	if string(out) != string(out2) {
		t.Fatalf("not stable:\n%s\n%s", out, out2)
	}
}

func TestParseKeepsNewestDuplicate(t *testing.T) {
	doc := `{"AccessToken": {
	  "a": {"environment": "e", "client_id": "c", "realm": "r", "target": "s", "secret": "old", "cached_at": "10", "credential_type": "AccessToken"},
	  "B": {"environment": "E", "client_id": "C", "realm": "R", "target": "S", "secret": "new", "cached_at": "20", "credential_type": "ACCESSTOKEN"},
	  "c": {"environment": "e", "client_id": "c", "realm": "r", "target": "s", "secret": "older", "cached_at": "5"}
	}}`
	d, _, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if d.Len(AccessToken) != 1 {
		t.Fatalf("%d entries, want duplicates dropped", d.Len(AccessToken))
	}
	if got := NewIndex(d).Find(TokenQuery{Environment: "e", ClientID: "c", Realm: "r", Scopes: []string{"s"}}); got == nil || got.Secret != "new" {
		t.Fatalf("kept %+v, want the newest", got)
	}
}

func TestParseRejectsNonObjects(t *testing.T) {
	for _, in := range []string{"[]", "null", "42", `"x"`, "{", "\x00garbage"} {
		if _, _, err := Parse([]byte(in)); !errors.Is(err, ErrNotADocument) {
			t.Errorf("Parse(%q) = %v, want ErrNotADocument", in, err)
		}
	}
	for _, in := range []string{"", "  \n", "{}"} {
		d, _, err := Parse([]byte(in))
		if err != nil || d.Len(AccessToken) != 0 {
			t.Errorf("Parse(%q) = %v", in, err)
		}
	}
	d, problems, err := Parse([]byte(`{"AccessToken": 5, "Account": "x"}`))
	if err != nil || len(problems) != 2 || d.Len(AccessToken) != 0 {
		t.Fatalf("bad sections: %v %v", problems, err)
	}
}

func TestUsers(t *testing.T) {
	d := New()
	d.Put(RefreshToken, &Entry{HomeAccountID: "h", Environment: "env", ClientID: "other", FamilyID: "1", Secret: "family-rt"})
	d.Put(AppMetadata, &Entry{Environment: "env", ClientID: "mine", FamilyID: "1"})
	d.Put(Account, &Entry{HomeAccountID: "h", Environment: "env", Realm: "t1", Username: "u"})
	u, ok := d.FindUser(UserQuery{HomeAccountID: "H", Environment: "env", ClientID: "mine"})
	if !ok || u.RefreshToken.Secret != "family-rt" || u.Account.Username != "u" {
		t.Fatalf("family lookup: %+v %v", u, ok)
	}
	d.Put(RefreshToken, &Entry{HomeAccountID: "h", Environment: "env", ClientID: "mine", Secret: "own-rt"})
	d.Put(IDToken, &Entry{HomeAccountID: "h", Environment: "env", ClientID: "mine", Realm: "t1", Secret: "idt"})
	u, _ = d.FindUser(UserQuery{HomeAccountID: "h", Environment: "env", ClientID: "mine"})
	if u.RefreshToken.Secret != "own-rt" || u.IDToken.Secret != "idt" {
		t.Fatalf("own lookup: %+v", u)
	}
	d.DeleteUser(UserQuery{HomeAccountID: "h", Environment: "env", ClientID: "mine"})
	if d.Len(IDToken) != 0 || d.Len(RefreshToken) != 1 || d.Len(Account) != 1 {
		t.Fatal("delete removed the wrong things")
	}
	d.DeleteUser(UserQuery{HomeAccountID: "h", Environment: "env", ClientID: "other"})
	if d.Len(Account) != 0 {
		t.Fatal("account kept after its last refresh token went")
	}
}

func TestPruneExpired(t *testing.T) {
	d := New()
	d.Put(AccessToken, &Entry{Environment: "e", ClientID: "c", Realm: "r", Target: "a", Secret: "x", ExpiresOn: 100})
	d.Put(AccessToken, &Entry{Environment: "e", ClientID: "c", Realm: "r", Target: "b", Secret: "y", ExpiresOn: 300})
	if n := d.PruneExpired(200); n != 1 || d.Len(AccessToken) != 1 {
		t.Fatalf("pruned %d", n)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(foreign))
	f.Add([]byte(`{"AccessToken":{"k":{"expires_on":1e9,"cached_at":"-1"}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, _, err := Parse(data)
		// The hand-written reader agrees with encoding/json on what is a
		// JSON object.
		trimmed := strings.TrimSpace(string(data))
		var obj map[string]json.RawMessage
		isObject := json.Unmarshal(data, &obj) == nil && obj != nil
		if err == nil && trimmed != "" && !isObject {
			t.Fatalf("accepted what encoding/json rejects: %q", data)
		}
		if err != nil && isObject {
			t.Fatalf("rejected a JSON object: %v", err)
		}
		if err != nil {
			return
		}
		out, err := d.Marshal()
		if err != nil {
			t.Fatalf("marshal after a successful parse: %v", err)
		}
		d2, problems, err := Parse(out)
		if err != nil || len(problems) != 0 {
			t.Fatalf("own output does not parse cleanly: %v %v", err, problems)
		}
		for k := range numKinds {
			if d.Len(k) != d2.Len(k) {
				t.Fatalf("section %v: %d entries became %d", k, d.Len(k), d2.Len(k))
			}
		}
		out2, _ := d2.Marshal()
		if string(out) != string(out2) {
			t.Fatal("output not stable")
		}
	})
}
