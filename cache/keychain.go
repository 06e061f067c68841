package cache

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/azid-go/azid/internal/persist/file"
)

// keychainStorage keeps the cache as a generic password in the macOS
// Keychain, through the /usr/bin/security tool rather than the Security
// framework, so that azid builds with CGO_ENABLED=0 (the framework needs
// cgo). Storage is touched only on cache misses and after acquisitions, so
// a process per operation costs nothing a caller notices.
//
// Each partition is one item, the one azidentity/cache uses for that cache
// name (service = the partition: "msal.cache", its CAE sibling
// "msal.cache.cae"; account "MSALCache"), so the two share tokens; macOS
// may ask the user once before one program reads an item another program
// created.
//
// It lives outside platform_darwin.go so that its command handling is
// tested on every platform against a stand-in for the tool.
//
// It is a [Locker]: writers take the lock file azidentity/cache takes on
// macOS, ~/.IdentityService/<partition>.lockfile, so that azid and
// azidentity processes never interleave their read-merge-write of an item.
// It is not a [Versioner]: the only change marker the Keychain offers is
// an item's modification date, which has a resolution of one second (two
// writes within a second would look alike) and costs a run of the tool,
// as much as reading the item itself.
type keychainStorage struct {
	tool string
	// name is the service of the empty partition.
	name    string
	account string
	// locks holds the lock files (it stores no data).
	locks *file.Store
}

const (
	keychainTool    = "/usr/bin/security"
	keychainAccount = "MSALCache"
	// keychainNotFound is the exit status of security(1) for
	// errSecItemNotFound.
	keychainNotFound = 44
	// keychainWaitDelay bounds how long a cancelled call waits for the
	// tool's output pipes after killing it.
	keychainWaitDelay = time.Second
)

// newKeychainStorage returns the storage of the cache name through tool,
// with its lock files in lockDir.
func newKeychainStorage(tool, name, lockDir string) *keychainStorage {
	return &keychainStorage{tool: tool, name: name, account: keychainAccount,
		locks: &file.Store{Dir: lockDir, Unreadable: ErrUnreadable}}
}

// Lock implements [Locker] with partition's lock file.
func (k *keychainStorage) Lock(ctx context.Context, partition string) (func(), error) {
	return k.locks.Lock(ctx, k.service(partition))
}

// Location names the Keychain item in log messages.
func (k *keychainStorage) Location(partition string) string {
	return fmt.Sprintf("macOS Keychain item (service %q, account %q)", k.service(partition), k.account)
}

func (k *keychainStorage) service(partition string) string {
	if partition == "" {
		return k.name
	}
	return partition
}

// Read implements Storage.
func (k *keychainStorage) Read(ctx context.Context, partition string) ([]byte, error) {
	out, err := k.run(ctx, "find-generic-password", "-s", k.service(partition), "-a", k.account, "-w")
	if errors.Is(err, errKeychainNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeKeychainPassword(out), nil
}

// Write implements Storage. The data goes as hex (-X) so that every byte
// arrives as it is; -U replaces an existing item in place. The argument is
// visible to processes of the same user (who can read the item anyway) and
// to root, not to other users: macOS shows a process's arguments only to
// its owner and root.
func (k *keychainStorage) Write(ctx context.Context, partition string, data []byte, _ time.Time) error {
	svc := k.service(partition)
	_, err := k.run(ctx, "add-generic-password", "-U", "-s", svc, "-a", k.account,
		"-l", svc, "-X", hex.EncodeToString(data))
	return err
}

// Delete implements Storage.
func (k *keychainStorage) Delete(ctx context.Context, partition string) error {
	_, err := k.run(ctx, "delete-generic-password", "-s", k.service(partition), "-a", k.account)
	if errors.Is(err, errKeychainNotFound) {
		return nil
	}
	return err
}

var errKeychainNotFound = errors.New("keychain item not found")

func (k *keychainStorage) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, k.tool, args...)
	cmd.WaitDelay = keychainWaitDelay
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == keychainNotFound {
		return nil, errKeychainNotFound
	}
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	// stderr carries the tool's message (a locked keychain, "User
	// interaction is not allowed" over SSH); it never holds the password,
	// which only -w prints, on stdout.
	msg := strings.TrimSpace(stderr.String())
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return nil, fmt.Errorf("cache: macOS Keychain (%s %s, service %q, account %q): %w: %s",
		k.tool, args[0], args[2], k.account, err, msg)
}

// decodeKeychainPassword turns the output of find-generic-password -w into
// the stored bytes. The tool prints a password that is printable text as it
// is and any other as hex; the cache's data is JSON, never bare hex digits,
// so the two cannot be confused.
func decodeKeychainPassword(out []byte) []byte {
	out = bytes.TrimSuffix(out, []byte("\n"))
	if len(out) > 0 && len(out)%2 == 0 && isHex(out) {
		if b, err := hex.DecodeString(string(out)); err == nil {
			return b
		}
	}
	if out == nil {
		return []byte{}
	}
	return out
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// platformStoreName is the cache name a platform store uses: o.Name, or
// "msal.cache" (azidentity's default) when it is empty.
func platformStoreName(o *Options) string {
	if o != nil && o.Name != "" {
		return o.Name
	}
	return "msal.cache"
}
