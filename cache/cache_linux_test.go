package cache

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/azid-go/azid/internal/msalcache"
	"github.com/azid-go/azid/internal/persist"
	"github.com/azid-go/azid/internal/persist/jwe"
	"golang.org/x/sys/unix"
)

// The file and key are azidentity/cache's: a keyring key of type user
// described by the cache name, 32 bytes plus a NUL, sealing a compact JWE
// (alg dir, enc A128CBC-HS256, kid = the key's serial) in
// $XDG_CACHE_HOME/.IdentityService/<name>, 0600 in a 0700 directory.
func TestKeyringFileFormat(t *testing.T) {
	requireKeyring(t)
	name, dir := testCache(t)
	c := mustNew(t, &Options{Name: name})
	ring, _ := userKeyring()
	if _, err := unix.KeyctlSearch(ring, "user", name, 0); err == nil {
		t.Fatal("New created a key before anything was stored")
	}
	if err := persist.TokenStore(c).Save(bg, keyOf("api://x/.default"), storedTok("secret-token")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file %v %v", fi.Mode(), err)
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v", di.Mode())
	}
	data, _ := os.ReadFile(path)
	if bytes.Contains(data, []byte("secret-token")) {
		t.Fatal("token in clear text")
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(string(bytes.SplitN(data, []byte("."), 2)[0]))
	var h map[string]string
	json.Unmarshal(hdr, &h)
	id, err := unix.KeyctlSearch(ring, "user", name, 0)
	if err != nil {
		t.Fatal("no keyring key described by the cache name:", err)
	}
	if h["alg"] != "dir" || h["enc"] != "A128CBC-HS256" || h["kid"] != strconv.Itoa(id) {
		t.Fatalf("header %v, key id %d", h, id)
	}
	buf := make([]byte, 64)
	n, _ := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
	if n != 33 || buf[32] != 0 {
		t.Fatalf("key payload %d bytes, want 32 + NUL", n)
	}
	pt, err := jwe.Decrypt(buf[:32], data)
	if err != nil || !bytes.Contains(pt, []byte(`"secret":"secret-token"`)) {
		t.Fatalf("decrypt with the keyring key: %v", err)
	}

	// Another instance (another process's view) reads it.
	c2 := mustNew(t, &Options{Name: name})
	got, ok, err := persist.TokenStore(c2).Load(bg, keyOf("api://x/.default"))
	if err != nil || !ok || got.AccessToken != "secret-token" {
		t.Fatalf("Load = %+v %v %v", got, ok, err)
	}
}

// Item 9: every kind of damage leaves the cache usable: loads report an
// ErrUnreadable naming the file, and the next save replaces the file.
func TestDamagedFiles(t *testing.T) {
	requireKeyring(t)
	cases := map[string]func(t *testing.T, path, name string){
		"corrupt": func(t *testing.T, path, _ string) { os.WriteFile(path, []byte("garbage\x00\xff"), 0o600) },
		"truncated": func(t *testing.T, path, _ string) {
			data, _ := os.ReadFile(path)
			os.WriteFile(path, data[:len(data)/2], 0o600)
		},
		"wrong key": func(t *testing.T, _, name string) {
			ring, _ := userKeyring()
			other := make([]byte, 33)
			unix.AddKey("user", name, other, ring) // replaces the payload
		},
		"missing key": func(t *testing.T, _, name string) { unlinkKeys(name) },
		"plain JSON":  func(t *testing.T, path, _ string) { os.WriteFile(path, []byte(`{"AccessToken":{}}`), 0o600) },
	}
	for what, damage := range cases {
		t.Run(what, func(t *testing.T) {
			name, dir := testCache(t)
			path := filepath.Join(dir, name)
			var logs bytes.Buffer
			c := mustNew(t, &Options{Name: name, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			s := persist.TokenStore(c)
			if err := s.Save(bg, keyOf("api://a/.default"), storedTok("a")); err != nil {
				t.Fatal(err)
			}
			damage(t, path, name)
			fresh := persist.TokenStore(mustNew(t, &Options{Name: name}))
			_, ok, err := fresh.Load(bg, keyOf("api://a/.default"))
			if ok || !isUnreadable(err) || !strings.Contains(err.Error(), path) && !strings.Contains(err.Error(), name) {
				t.Fatalf("load of a damaged file: ok=%v err=%v", ok, err)
			}
			if err := fresh.Save(bg, keyOf("api://b/.default"), storedTok("b")); err != nil {
				t.Fatal("save over a damaged file:", err)
			}
			again := persist.TokenStore(mustNew(t, &Options{Name: name}))
			if got, ok, err := again.Load(bg, keyOf("api://b/.default")); !ok || err != nil || got.AccessToken != "b" {
				t.Fatalf("damaged file not replaced: %v %v", ok, err)
			}
		})
	}
}

// A directory where the file should be: the first load (or save) fails
// with a *NotAFileError naming the path, later ones are quiet (reported
// once), nothing panics, nothing is deleted.
func TestDirectoryInPlaceOfFile(t *testing.T) {
	requireKeyring(t)
	name, dir := testCache(t)
	path := filepath.Join(dir, name)
	os.MkdirAll(filepath.Join(path, "keep"), 0o700)
	s := persist.TokenStore(mustNew(t, &Options{Name: name}))
	var nf *NotAFileError
	if _, _, err := s.Load(bg, keyOf("api://a/.default")); !errors.As(err, &nf) || !strings.Contains(err.Error(), path) {
		t.Fatalf("load: %v", err)
	}
	if err := s.Save(bg, keyOf("api://a/.default"), storedTok("a")); err != nil {
		t.Fatalf("save after the report: %v, want quiet", err)
	}
	fresh := persist.TokenStore(mustNew(t, &Options{Name: name}))
	if err := fresh.Save(bg, keyOf("api://a/.default"), storedTok("a")); !errors.As(err, &nf) || !strings.Contains(err.Error(), path) {
		t.Fatalf("save: %v", err)
	}
	if _, err := os.Stat(filepath.Join(path, "keep")); err != nil {
		t.Fatal("the directory was changed")
	}
}

// Permission denied (an unprivileged process facing a root-only
// directory) and a disk that refuses writes (a 64-byte file size limit):
// GetToken keeps working from the network and memory; the store's
// failure is logged with the path.
func TestUnwritableStorage(t *testing.T) {
	requireKeyring(t)
	for _, mode := range []string{"nobody", "full-disk"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "nobody" && os.Geteuid() != 0 {
				t.Fatal("this case drops root privileges to get a real EACCES; run the tests as root (CI does)")
			}
			name, dir := testCache(t)
			if mode == "full-disk" {
				os.MkdirAll(dir, 0o700)
			}
			t.Cleanup(func() { unlinkKeys(name) })
			out, err := helperCmd(t, mode, name).CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "RESULT calls=1 ") {
				t.Fatalf("GetToken did not keep working from the network and memory:\n%s", out)
			}
			want := map[string]string{"nobody": "permission denied", "full-disk": "file too large"}[mode]
			if !strings.Contains(string(out), want) || !strings.Contains(string(out), dir) {
				t.Fatalf("the failure is not logged with %q and the path:\n%s", want, out)
			}
			if strings.Contains(string(out), "net-token") {
				t.Fatal("a token was logged")
			}
		})
	}
}

// Item 10: 8 processes storing 200 distinct tokens each at once: all 1,600
// are present afterwards and the file decrypts.
func TestManyProcesses(t *testing.T) {
	requireKeyring(t)
	name, _ := testCache(t)
	const procs, each = 8, 200
	var wg sync.WaitGroup
	for w := range procs {
		cmd := helperCmd(t, "writer", name, strconv.Itoa(w), strconv.Itoa(each))
		wg.Go(func() {
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("writer %d: %v\n%s", w, err, out)
			}
		})
	}
	wg.Wait()
	doc := readDoc(t, name)
	if n := doc.Len(msalcache.AccessToken); n != procs*each {
		t.Fatalf("%d tokens stored, want %d", n, procs*each)
	}
	s := persist.TokenStore(mustNew(t, &Options{Name: name}))
	for w := range procs {
		for i := range each {
			got, ok, err := s.Load(bg, keyOf(fmt.Sprintf("api://w%d/s%d/.default", w, i)))
			if err != nil || !ok || got.AccessToken != fmt.Sprintf("tok-%d-%d", w, i) {
				t.Fatalf("token %d/%d: %+v %v %v", w, i, got, ok, err)
			}
		}
	}
}

// readDoc decrypts and parses the cache file with the keyring key, failing
// the test if it cannot.
func readDoc(t *testing.T, name string) *msalcache.Document {
	t.Helper()
	st, err := platformStorage(&Options{Name: name, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	data, err := st.Read(bg, name)
	if err != nil {
		t.Fatalf("the cache file does not decrypt: %v", err)
	}
	doc, problems, err := msalcache.Parse(data)
	if err != nil || len(problems) > 0 {
		t.Fatalf("the cache file does not parse: %v %v", err, problems)
	}
	return doc
}

// Item 10: kill -9 at random points while processes write, 200 times: the
// file always decrypts and parses, and what was stored before survives.
func TestCrashLoop(t *testing.T) {
	requireKeyring(t)
	name, dir := testCache(t)
	s := persist.TokenStore(mustNew(t, &Options{Name: name}))
	if err := s.Save(bg, keyOf("api://before/.default"), storedTok("survivor")); err != nil {
		t.Fatal(err)
	}
	const kills = 200
	interrupted := 0
	for i := range kills {
		cmd := helperCmd(t, "crash", name, strconv.Itoa(i))
		stdout, _ := cmd.StdoutPipe()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make([]byte, 6)
		if _, err := io.ReadFull(stdout, ready); err != nil {
			cmd.Wait()
			t.Fatalf("helper %d did not start writing: %v\n%s", i, err, stderr.String())
		}
		// Let it write for a random while (a few saves), then kill it
		// wherever it is.
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if temps, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(temps) > 0 {
			interrupted++ // killed between creating and renaming its file
		}
		doc := readDoc(t, name)
		if msalcache.NewIndex(doc).Find(msalcache.TokenQuery{Environment: "login.example", ClientID: "client", Realm: "tenant", Scopes: []string{"api://before/.default"}}) == nil {
			t.Fatalf("after kill %d the earlier token is gone", i)
		}
	}
	t.Logf("%d of %d kills interrupted a file write", interrupted, kills)
	if interrupted == 0 {
		t.Fatal("no kill landed inside a write; the test did not test anything")
	}
	// Temporary files of killed writers are cleaned up by the next write.
	if err := s.Save(bg, keyOf("api://after/.default"), storedTok("x")); err != nil {
		t.Fatal(err)
	}
	temps, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	if len(temps) != 0 {
		t.Fatalf("stale temporary files: %v", temps)
	}
	if _, err := os.Stat(filepath.Join(dir, name+".lockfile")); err != nil {
		t.Fatal("the lock file must stay:", err)
	}
}

// Where keyctl is blocked the error says so and names the two ways out;
// each way out works.
func TestKeyringUnavailableWaysOut(t *testing.T) {
	name, dir := testCache(t)
	err := keyringUnavailableError(errors.New("operation not permitted"))
	for _, want := range []string{"keyctl", "KeyFromFile", "KeyFromEnv", "AllowUnencryptedStorage", "operation not permitted"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if !errors.Is(err, ErrStorageUnavailable) {
		t.Error("not ErrStorageUnavailable")
	}

	// A provided key (from the environment).
	key := make([]byte, 32)
	key[0] = 9
	t.Setenv("AZID_TEST_KEY", base64.StdEncoding.EncodeToString(key))
	c := mustNew(t, &Options{Name: name, Key: KeyFromEnv("AZID_TEST_KEY")})
	if err := persist.TokenStore(c).Save(bg, keyOf("api://k/.default"), storedTok("keyed")); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, name))
	if pt, err := jwe.Decrypt(key, data); err != nil || !bytes.Contains(pt, []byte("keyed")) {
		t.Fatalf("not sealed with the provided key: %v", err)
	}
	ring, _ := userKeyring()
	if _, err := unix.KeyctlSearch(ring, "user", name, 0); err == nil {
		t.Fatal("a provided key must keep the keyring out of it")
	}
	if _, err := New(&Options{Name: name, Key: KeyFromEnv("AZID_TEST_NO_SUCH_VAR")}); err == nil {
		t.Fatal("missing key variable accepted")
	}
	bad := filepath.Join(t.TempDir(), "key")
	os.WriteFile(bad, []byte("c2hvcnQ="), 0o600)
	if _, err := New(&Options{Name: name, Key: KeyFromFile(bad)}); err == nil || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Fatalf("short key: %v", err)
	}

	// Unencrypted storage, logged once as such.
	var logs bytes.Buffer
	st := unencryptedStorage(&Options{Name: name, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, dir, errors.New("blocked"))
	uc := persist.New(st, persist.Options{Name: name})
	if err := persist.TokenStore(uc).Save(bg, keyOf("api://u/.default"), storedTok("plain")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".unencrypted")
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("unencrypted file %v %v", fi, err)
	}
	if strings.Count(logs.String(), "NOT encrypted") != 1 || !strings.Contains(logs.String(), p) {
		t.Fatalf("log: %s", logs.String())
	}
}

func TestNameMustBeAFileName(t *testing.T) {
	testCache(t)
	for _, n := range []string{"../x", "a/b", "..", strings.Repeat("x", 300)} {
		if _, err := New(&Options{Name: n}); err == nil {
			t.Errorf("name %q accepted", n)
		}
	}
}
