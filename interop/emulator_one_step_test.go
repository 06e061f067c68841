//go:build unix

package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/azid-go/azid/entratest"
)

// What "azid emulator --output env" prints, evaluated by a shell as it is,
// is all each client needs: azid's DefaultAzureCredential and
// EnvironmentCredential (through "azid token", the built command),
// unmodified azidentity's DefaultAzureCredential (a small program) and the
// Azure CLI all get tokens from the emulator; azid keeps its tokens in a
// cache of its own, never in msal.cache. Ctrl-C then stops the emulator
// with exit 130.
func TestEmulatorExportsWorkAsPrinted(t *testing.T) {
	if _, err := exec.LookPath("az"); err != nil {
		t.Fatalf("this test runs the Azure CLI: az is not installed (see scripts/ci-setup.sh): %v", err)
	}
	bin := t.TempDir()
	for pkg, name := range map[string]string{"github.com/azid-go/azid/cmd/azid": "azid", "./cmd/azidentity-token": "azidentity-token"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, name), pkg).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, out)
		}
	}
	home := t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	// A user's machine: its own home and cache directory, a provided cache
	// key (so the test leaves nothing in this machine's keyring), and none
	// of this process's Azure or proxy settings.
	env := []string{
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"AZID_CACHE_KEY=" + base64.StdEncoding.EncodeToString(key),
		"DBUS_SESSION_BUS_ADDRESS=",
	}

	c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	emu := exec.CommandContext(c, filepath.Join(bin, "azid"), "emulator", "--output", "env")
	emu.Env = env
	var emuErr bytes.Buffer
	emu.Stderr = &emuErr
	out, err := emu.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			emu.Process.Kill()
			emu.Wait()
		}
	})
	var printed strings.Builder
	br := bufio.NewReader(out)
	for !strings.Contains(printed.String(), "# azid emulator: ready\n") {
		line, err := br.ReadString('\n')
		printed.WriteString(line)
		if err != nil {
			t.Fatalf("azid emulator printed %q, then %v\n%s", printed.String(), err, emuErr.String())
		}
	}
	exports := filepath.Join(t.TempDir(), "emulator.env")
	if err := os.WriteFile(exports, []byte(printed.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	const scope = "https://storage.azure.com/.default"
	script := `set -e
eval "$(cat "$1")"
azid token --scope ` + scope + ` -o raw > azid-default.tok
azid token --credential env --scope ` + scope + ` -o raw 2> azid-env.err > azid-env.tok
azidentity-token ` + scope + ` > azidentity.tok
az login --service-principal -u "$AZURE_CLIENT_ID" -p "$AZURE_CLIENT_SECRET" --tenant "$AZURE_TENANT_ID" --allow-no-subscriptions > /dev/null
az account get-access-token --scope ` + scope + ` --query accessToken -o tsv > az.tok
`
	work := t.TempDir()
	sh := exec.CommandContext(c, "bash", "-c", script, "bash", exports)
	sh.Env = env
	sh.Dir = work
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the shell with the printed exports: %v\n%s\nprinted:\n%s", err, out, printed.String())
	}
	for _, f := range []string{"azid-default.tok", "azid-env.tok", "azidentity.tok", "az.tok"} {
		data, err := os.ReadFile(filepath.Join(work, f))
		if err != nil {
			t.Fatal(err)
		}
		if tid := tenantClaim(t, strings.TrimSpace(string(data))); tid != entratest.DefaultTenantID {
			t.Errorf("%s: a token for tenant %q, want the emulator's %s", f, tid, entratest.DefaultTenantID)
		}
	}
	// The second process found the first one's token on disk.
	if again, _ := os.ReadFile(filepath.Join(work, "azid-env.err")); !strings.Contains(string(again), "served from the persistent cache") {
		t.Errorf("the second azid token was not served from the persistent cache: %s", again)
	}
	cacheDir := filepath.Join(home, ".cache", ".IdentityService")
	if _, err := os.Stat(filepath.Join(cacheDir, "azid-emulator")); err != nil {
		t.Errorf("azid's tokens are not in the emulator's own cache: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cacheDir, "msal.cache")); !os.IsNotExist(err) {
		t.Errorf("the emulator's tokens reached msal.cache: %v", err)
	}

	emu.Process.Signal(syscall.SIGINT)
	emu.Wait()
	stopped = true
	if code := emu.ProcessState.ExitCode(); code != 130 {
		t.Errorf("azid emulator after Ctrl-C: exit %d, want 130\n%s", code, emuErr.String())
	}
}

// tenantClaim reads the tid claim of a JWT (unverified: the emulator's key
// is gone with its process; the claim shows whose token it is).
func tenantClaim(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.20q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		TID string `json:"tid"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.TID
}
