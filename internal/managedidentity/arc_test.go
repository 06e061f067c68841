package managedidentity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseArcChallenge(t *testing.T) {
	ok := map[string]string{
		"Basic realm=/var/opt/azcmagent/tokens/a.key":                        "/var/opt/azcmagent/tokens/a.key",
		`basic realm="/var/opt/azcmagent/tokens/a.key"`:                      "/var/opt/azcmagent/tokens/a.key",
		`Basic realm=C:\ProgramData\AzureConnectedMachineAgent\Tokens\a.key`: `C:\ProgramData\AzureConnectedMachineAgent\Tokens\a.key`,
	}
	for h, want := range ok {
		if got, err := ParseArcChallenge(h); err != nil || got != want {
			t.Errorf("%q: %q, %v", h, got, err)
		}
	}
	for _, h := range []string{"", "Bearer realm=x", "Basic", "Basic realm=", `Basic realm=""`, "Basic realm=/a\x00.key"} {
		if _, err := ParseArcChallenge(h); err == nil {
			t.Errorf("%q accepted", h)
		}
	}
}

func TestReadArcKey(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "tokens")
	other := filepath.Join(base, "other")
	for _, d := range []string{dir, other} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	good := writeFile(t, filepath.Join(dir, "good.key"), "the-key\n")
	if key, err := ReadArcKey(dir, good, "linux"); err != nil || key != "the-key" {
		t.Fatalf("%q, %v", key, err)
	}
	// A link to another key inside the directory is fine.
	inside := filepath.Join(dir, "alias.key")
	if err := os.Symlink(good, inside); err != nil {
		t.Fatal(err)
	}
	if key, err := ReadArcKey(dir, inside, "linux"); err != nil || key != "the-key" {
		t.Fatalf("link inside: %q, %v", key, err)
	}
	// So is a key directory reached through a link.
	linkedDir := filepath.Join(base, "linked")
	if err := os.Symlink(dir, linkedDir); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadArcKey(linkedDir, filepath.Join(linkedDir, "good.key"), "linux"); err != nil {
		t.Fatalf("linked directory: %v", err)
	}

	secret := writeFile(t, filepath.Join(other, "secret.key"), "not-yours")
	escape := filepath.Join(dir, "escape.key")
	if err := os.Symlink(secret, escape); err != nil {
		t.Fatal(err)
	}
	escapeTxt := filepath.Join(dir, "escape2.key")
	if err := os.Symlink(writeFile(t, filepath.Join(dir, "plain.txt"), "x"), escapeTxt); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.key"), 0o700); err != nil {
		t.Fatal(err)
	}
	nested := filepath.Join(dir, "nested")
	if err := os.Mkdir(nested, 0o700); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, want string }{
		{secret, "not in the agent's key directory"},
		{writeFile(t, filepath.Join(nested, "deep.key"), "k"), "not in the agent's key directory"},
		{filepath.Join(dir, "..", "other", "secret.key"), "not in the agent's key directory"},
		{filepath.Join(dir, "plain.txt"), "does not end in .key"},
		{filepath.Join(dir, ".key"), "does not end in .key"},
		{filepath.Join(dir, "GOOD.KEY"), "does not end in .key"},
		{escape, "outside the key directory"},
		{escapeTxt, "outside the key directory"},
		{writeFile(t, filepath.Join(dir, "big.key"), strings.Repeat("k", ArcMaxKeySize+1)), "at most 4096"},
		{writeFile(t, filepath.Join(dir, "empty.key"), " \n"), "no usable key"},
		{writeFile(t, filepath.Join(dir, "crlf.key"), "a\r\nb"), "no usable key"},
		{filepath.Join(dir, "sub.key"), "not a regular file"},
		{filepath.Join(dir, "missing.key"), "key file"},
		{"relative/x.key", "not an absolute path"},
	}
	for _, c := range cases {
		_, err := ReadArcKey(dir, c.path, "linux")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.path, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "not-yours") {
			t.Errorf("%s: the error quotes a key: %v", c.path, err)
		}
	}
	if key, err := ReadArcKey(dir, writeFile(t, filepath.Join(dir, "max.key"), strings.Repeat("k", ArcMaxKeySize)), "linux"); err != nil || len(key) != ArcMaxKeySize {
		t.Fatalf("a 4096-byte key: %v", err)
	}
	// Windows compares paths without case.
	if _, err := ReadArcKey(strings.ToUpper(dir[:1])+dir[1:], filepath.Join(dir, "good.key"), "windows"); err != nil && !strings.Contains(err.Error(), "no such") {
		t.Fatalf("windows: %v", err)
	}
}
