//go:build unix

package cache

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azid-go/azid/internal/persist"
	"github.com/azid-go/azid/internal/tokencache"
)

// fakeSecurity is a stand-in for macOS's /usr/bin/security, enough of it to
// test keychainStorage's commands on any platform: items are files named
// after service and account holding the hex data; find-generic-password -w
// prints printable data as text and other data as hex, as the real tool
// does; a missing item exits 44. Each call's arguments are logged.
const fakeSecurity = `#!/bin/bash
dir="$FAKE_KEYCHAIN"
echo "$*" >> "$dir/calls.log"
if [ -n "$FAKE_KEYCHAIN_FAIL" ]; then echo "$FAKE_KEYCHAIN_FAIL" >&2; exit 51; fi
cmd="$1"; shift
svc=""; acct=""; hexdata=""; want_w=""
while [ $# -gt 0 ]; do
  case "$1" in
    -s) svc="$2"; shift 2;;
    -a) acct="$2"; shift 2;;
    -l) shift 2;;
    -X) hexdata="$2"; shift 2;;
    -w) want_w=1; shift;;
    -U) shift;;
    *) echo "unexpected argument $1" >&2; exit 2;;
  esac
done
item="$dir/item.$svc.$acct"
case "$cmd" in
  add-generic-password)
    printf '%s' "$hexdata" > "$item";;
  find-generic-password)
    [ -f "$item" ] || { echo "security: SecKeychainSearchCopyNext: The specified item could not be found in the keychain." >&2; exit 44; }
    [ -n "$want_w" ] || exit 2
    h=$(cat "$item")
    printable=1
    for ((i=0; i<${#h}; i+=2)); do
      b=$((16#${h:i:2}))
      if [ $b -lt 32 ] || [ $b -gt 126 ]; then printable=0; break; fi
    done
    if [ $printable = 1 ]; then printf '%b\n' "$(printf '%s' "$h" | sed 's/../\\x&/g')"; else printf '%s\n' "$h"; fi;;
  delete-generic-password)
    [ -f "$item" ] || { echo "security: SecKeychainSearchCopyNext: The specified item could not be found in the keychain." >&2; exit 44; }
    rm "$item";;
  *) echo "unknown command $cmd" >&2; exit 2;;
esac
`

func newFakeKeychain(t *testing.T) (*keychainStorage, string) {
	t.Helper()
	if _, err := os.Stat("/bin/bash"); err != nil {
		t.Fatal("the Keychain stand-in needs /bin/bash")
	}
	dir := t.TempDir()
	tool := filepath.Join(dir, "security")
	if err := os.WriteFile(tool, []byte(fakeSecurity), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_KEYCHAIN", dir)
	return newKeychainStorage(tool, "msal.cache", filepath.Join(dir, ".IdentityService")), dir
}

func TestKeychainStorage(t *testing.T) {
	k, dir := newFakeKeychain(t)
	ctx := context.Background()
	if got, err := k.Read(ctx, ""); got != nil || err != nil {
		t.Fatalf("Read of a missing item = %q, %v; want nil, nil", got, err)
	}
	if err := k.Delete(ctx, ""); err != nil {
		t.Fatalf("Delete of a missing item: %v", err)
	}
	for _, data := range [][]byte{
		[]byte(`{"AccessToken":{"k":{"secret":"tok","target":"a b"}},"Unknown":{}}`),
		[]byte(`{"Account":{"x":{"username":"jürgen@example.com"}}}`), // non-ASCII: printed as hex
		[]byte("line1\nline2\n"),
		{0, 1, 2, 0xff},
		[]byte(`{}`),
	} {
		if err := k.Write(ctx, "msal.cache", data, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, err := k.Read(ctx, "")
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Read = %q, %v; want %q", got, err, data)
		}
	}
	// The CAE sibling is another item, azidentity's "<name>.cae".
	if err := k.Write(ctx, "msal.cache.cae", []byte(`{"cae":1}`), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := k.Read(ctx, "msal.cache"); !bytes.Equal(got, []byte(`{}`)) {
		t.Fatalf("the CAE write changed the main item: %q", got)
	}
	if got, _ := k.Read(ctx, "msal.cache.cae"); string(got) != `{"cae":1}` {
		t.Fatalf("CAE item = %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "item.msal.cache.cae.MSALCache")); err != nil {
		t.Fatalf("no item with service msal.cache.cae: %v", err)
	}
	if err := k.Delete(ctx, "msal.cache.cae"); err != nil {
		t.Fatal(err)
	}
	if err := k.Delete(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := k.Read(ctx, ""); got != nil || err != nil {
		t.Fatalf("Read after Delete = %q, %v", got, err)
	}
	calls, _ := os.ReadFile(filepath.Join(dir, "calls.log"))
	for _, line := range strings.Split(strings.TrimSpace(string(calls)), "\n") {
		// The item is azidentity/cache's: service = the cache name,
		// account MSALCache.
		if !strings.Contains(line, "-s msal.cache") || !strings.Contains(line, "-a MSALCache") {
			t.Fatalf("a call does not name azidentity's item: %q", line)
		}
		// The data never goes as -w, which the tool would read as text.
		if strings.HasPrefix(line, "add-generic-password") && (!strings.Contains(line, " -U ") || strings.Contains(line, " -w")) {
			t.Fatalf("write command %q; want -U and -X", line)
		}
	}
}

func TestKeychainStorageErrors(t *testing.T) {
	k, _ := newFakeKeychain(t)
	t.Setenv("FAKE_KEYCHAIN_FAIL", "security: SecKeychainItemCreateFromContent: User interaction is not allowed.")
	ctx := context.Background()
	_, err := k.Read(ctx, "")
	if err == nil || !strings.Contains(err.Error(), "User interaction is not allowed") || !strings.Contains(err.Error(), "msal.cache") {
		t.Fatalf("Read error = %v; want the tool's message and the item", err)
	}
	err = k.Write(ctx, "", []byte(`{"secret":"SECRET-TOKEN"}`), time.Time{})
	if err == nil || strings.Contains(err.Error(), "SECRET-TOKEN") || strings.Contains(err.Error(), "5345435245") {
		t.Fatalf("Write error = %v; want an error without the data", err)
	}
	if err := k.Delete(ctx, ""); err == nil {
		t.Fatal("Delete succeeded with a failing tool")
	}
	missing := newKeychainStorage(filepath.Join(t.TempDir(), "no-such-tool"), "x", t.TempDir())
	if _, err := missing.Read(ctx, ""); err == nil {
		t.Fatal("Read succeeded without the tool")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	t.Setenv("FAKE_KEYCHAIN_FAIL", "")
	if _, err := k.Read(cancelled, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read with a cancelled context = %v", err)
	}
}

func TestDecodeKeychainPassword(t *testing.T) {
	cases := map[string]string{
		"{\"a\":1}\n":      `{"a":1}`,
		"7b7d\n":           "{}",
		"7B7D\n":           "{}",
		"\n":               "",
		"abc\n":            "abc", // odd length: text
		"{\"x\":\"\n\"}\n": "{\"x\":\"\n\"}",
	}
	for in, want := range cases {
		if got := decodeKeychainPassword([]byte(in)); string(got) != want {
			t.Errorf("decode(%q) = %q; want %q", in, got, want)
		}
	}
}

// FuzzDecodeKeychainPassword: the tool's output never panics the decoder,
// and what was written with -X reads back after either form of printing.
func FuzzDecodeKeychainPassword(f *testing.F) {
	f.Add([]byte(`{"AccessToken":{}}`))
	f.Add([]byte{0, 1, 2})
	f.Add([]byte("7b7d"))
	f.Fuzz(func(t *testing.T, out []byte) {
		decodeKeychainPassword(out)
		if len(out) > 0 && out[0] == '{' {
			// JSON data printed as text reads back as it is.
			if got := decodeKeychainPassword(append(out, '\n')); !bytes.Equal(got, out) {
				t.Fatalf("decode(%q) = %q", out, got)
			}
		}
		// Data printed as hex reads back.
		h := []byte(strings.ToLower(hexString(out)))
		if got := decodeKeychainPassword(append(h, '\n')); len(out) > 0 && !bytes.Equal(got, out) {
			t.Fatalf("decode(hex of %q) = %q", out, got)
		}
	})
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte(digits[c>>4])
		sb.WriteByte(digits[c&15])
	}
	return sb.String()
}

// TestKeychainThroughPersist: the Keychain storage under the persistent
// cache: a token saved by one instance is found by another (another
// process's view), and writers take azidentity's lock file,
// ~/.IdentityService/<name>.lockfile, which stays.
func TestKeychainThroughPersist(t *testing.T) {
	k, dir := newFakeKeychain(t)
	a := persist.TokenStore(persist.New(k, persist.Options{Name: "msal.cache"}))
	key := tokencache.Key{Authority: "login.example", ClientID: "client", TenantID: "tenant", Scopes: []string{"api://x/.default"}}
	now := time.Now().Truncate(time.Second)
	if err := a.Save(context.Background(), key, tokencache.Stored{AccessToken: "tok", CachedAt: now, ExpiresOn: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	other := newKeychainStorage(k.tool, "msal.cache", k.locks.Dir)
	b := persist.TokenStore(persist.New(other, persist.Options{Name: "msal.cache"}))
	if got, ok, err := b.Load(context.Background(), key); !ok || err != nil || got.AccessToken != "tok" {
		t.Fatalf("another instance: %+v %v %v", got, ok, err)
	}
	lockFile := filepath.Join(dir, ".IdentityService", "msal.cache.lockfile")
	if _, err := os.Stat(lockFile); err != nil {
		t.Fatalf("no lock file at azidentity's place: %v", err)
	}
}

// TestKeychainLock: the lock excludes another holder (another instance,
// as another process would) until it is released.
func TestKeychainLock(t *testing.T) {
	k, _ := newFakeKeychain(t)
	other := newKeychainStorage(k.tool, "msal.cache", k.locks.Dir)
	unlock, err := k.Lock(context.Background(), "msal.cache")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := other.Lock(ctx, ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second Lock while held = %v; want it to wait until its context ends", err)
	}
	// Another partition is another lock.
	u2, err := other.Lock(context.Background(), "msal.cache.cae")
	if err != nil {
		t.Fatal(err)
	}
	u2()
	unlock()
	u3, err := other.Lock(context.Background(), "")
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	u3()
}
