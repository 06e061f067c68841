package azid

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var sampleRecord = AuthenticationRecord{
	Authority:     "https://login.microsoftonline.com",
	ClientID:      "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
	HomeAccountID: "0a1b2c3d-0000-4000-8000-000000000001.e7a7e570-0000-4000-8000-00000000e57a",
	TenantID:      "e7a7e570-0000-4000-8000-00000000e57a",
	Username:      "ada@contoso.example",
	Version:       "1.0",
}

func TestAuthenticationRecordJSONMatchesAzidentity(t *testing.T) {
	b, err := json.Marshal(sampleRecord)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]string
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	// azidentity's field names, exactly.
	want := map[string]string{
		"authority": sampleRecord.Authority, "clientId": sampleRecord.ClientID, "homeAccountId": sampleRecord.HomeAccountID,
		"tenantId": sampleRecord.TenantID, "username": sampleRecord.Username, "version": "1.0",
	}
	if !reflect.DeepEqual(fields, want) {
		t.Fatalf("JSON = %s", b)
	}
	got, err := ParseAuthenticationRecord(b)
	if err != nil || got != sampleRecord {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
}

func TestAuthenticationRecordFromOtherSDKs(t *testing.T) {
	for name, doc := range map[string]string{
		// .NET and Python write the same names; field order differs.
		"dotnet": `{"username":"ada@contoso.example","authority":"login.microsoftonline.com","homeAccountId":"u.t","tenantId":"t","clientId":"c","version":"1.0"}`,
		// JavaScript may write the authority with a tenant path.
		"js": `{"authority":"https://login.microsoftonline.com/t","homeAccountId":"u.t","clientId":"c","tenantId":"t","username":"ada@contoso.example","version":"1.0"}`,
		// A byte order mark (PowerShell's Out-File) and unknown fields.
		"bom": "\xef\xbb\xbf" + `{"homeAccountId":"u.t","version":"1.0","extra":{"x":1}}`,
	} {
		if _, err := ParseAuthenticationRecord([]byte(doc)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	r, _ := ParseAuthenticationRecord([]byte(`{"authority":"https://login.microsoftonline.com/t","homeAccountId":"u.t","version":"1.0"}`))
	if h, err := r.authorityHost(); err != nil || h != "login.microsoftonline.com" {
		t.Fatalf("authority host = %q, %v", h, err)
	}
}

func TestAuthenticationRecordRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"no version":       `{"homeAccountId":"u.t"}`,
		"future version":   `{"homeAccountId":"u.t","version":"2.0"}`,
		"not JSON":         `homeAccountId=u.t`,
		"no account":       `{"version":"1.0"}`,
		"bad account":      `{"homeAccountId":"justone","version":"1.0"}`,
		"http authority":   `{"homeAccountId":"u.t","authority":"http://evil.example","version":"1.0"}`,
		"wrong field type": `{"homeAccountId":5,"version":"1.0"}`,
	} {
		if _, err := ParseAuthenticationRecord([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var r AuthenticationRecord
	if err := json.Unmarshal([]byte(`{"version":"3"}`), &r); err == nil {
		t.Error("json.Unmarshal accepted an unknown version")
	}
}

func TestSaveAndLoadAuthenticationRecord(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	path := filepath.Join(dir, "record.json")
	if _, err := LoadAuthenticationRecord(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if err := SaveAuthenticationRecord(path, sampleRecord); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: mode %v, %v; want %v", p, fi.Mode().Perm(), err, want)
		}
	}
	got, err := LoadAuthenticationRecord(path)
	if err != nil || got != sampleRecord {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	// Saving again replaces the file; no temporary files are left.
	r2 := sampleRecord
	r2.Username = "grace@contoso.example"
	if err := SaveAuthenticationRecord(path, r2); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("directory holds %d entries", len(entries))
	}
	if got, _ := LoadAuthenticationRecord(path); got.Username != r2.Username {
		t.Fatal("the record was not replaced")
	}
	if err := os.WriteFile(path, []byte(`{"version":"1.0"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAuthenticationRecord(path); err == nil {
		t.Fatal("a record without an account was loaded")
	}
}

func FuzzParseAuthenticationRecord(f *testing.F) {
	b, _ := json.Marshal(sampleRecord)
	f.Add(b)
	f.Add([]byte(`{"homeAccountId":"u.t","version":"1.0","authority":"login.microsoftonline.com/x"}`))
	f.Add([]byte("\xef\xbb\xbf{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseAuthenticationRecord(data)
		if err != nil {
			return
		}
		if r.Version != "1.0" || r.validate() != nil {
			t.Fatalf("accepted an invalid record %+v", r)
		}
		// What was accepted survives a round trip.
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if r2, err := ParseAuthenticationRecord(b); err != nil || r2 != r {
			t.Fatalf("round trip of %+v: %+v, %v", r, r2, err)
		}
	})
}
