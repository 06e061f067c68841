package cache

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"

	"github.com/azid-go/azid/internal/persist/file"
	"github.com/azid-go/azid/internal/persist/jwe"
	"golang.org/x/sys/unix"
)

// platformStorage on Linux is azidentity/cache's: a random 32-byte key in
// the kernel keyring (type "user", description = the partition name, in
// the persistent keyring where there is one) sealing a compact JWE at
// $XDG_CACHE_HOME/.IdentityService/<name>. Beyond azidentity, the key is
// escrowed in the Secret Service when one runs on the session bus, so that
// after a reboot (which empties the kernel keyring) the key comes back and
// the cache still opens.
func platformStorage(o *Options) (Storage, error) {
	dir, err := cacheDir(os.Getenv)
	if err != nil {
		return nil, err
	}
	if o.Key != nil {
		k, err := o.Key.Key(context.Background())
		if err != nil {
			return nil, err
		}
		return &file.Store{Dir: dir, Codec: staticKeyCodec{key: k}, Unreadable: ErrUnreadable}, nil
	}
	ring, err := userKeyring()
	if err != nil {
		if o.AllowUnencryptedStorage {
			return unencryptedStorage(o, dir, err), nil
		}
		return nil, keyringUnavailableError(err)
	}
	codec := &keyringCodec{ring: ring, log: o.Logger, escrow: newSecretService(os.Getenv("DBUS_SESSION_BUS_ADDRESS"))}
	return &file.Store{Dir: dir, Codec: codec, Unreadable: ErrUnreadable}, nil
}

// keyringUnavailableError explains a blocked keyctl and names the ways out.
func keyringUnavailableError(err error) error {
	return fmt.Errorf("%w: the kernel keyring cannot be used (keyctl: %v), which is usual in a container whose seccomp profile blocks keyctl (Docker's default). "+
		"Either provide a key (cache.Options.Key = cache.KeyFromFile(path) or cache.KeyFromEnv(name)) or opt into a plain-text file (cache.Options.AllowUnencryptedStorage)",
		ErrStorageUnavailable, err)
}

// userKeyring returns the keyring azidentity/cache uses: the persistent
// keyring linked to the user keyring, or the user keyring where there is
// no persistent one. An error means keyctl is unusable here.
func userKeyring() (int, error) {
	ring, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_USER_KEYRING, true)
	if err != nil {
		return 0, fmt.Errorf("keyctl: getting the user keyring: %w", err)
	}
	// Possessing the user keyring through the session keyring lets this
	// process read keys it finds there (keyrings(7), "Possession").
	if session, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, true); err == nil {
		_, _ = unix.KeyctlInt(unix.KEYCTL_LINK, ring, session, 0, 0)
	}
	if p, err := unix.KeyctlInt(unix.KEYCTL_GET_PERSISTENT, -1, ring, 0, 0); err == nil {
		ring = p
	}
	return ring, nil
}

// escrow keeps a copy of cache keys outside the kernel keyring.
type escrow interface {
	// store saves key for name; errors mean no escrow (logged).
	store(ctx context.Context, name string, key []byte) error
	// lookup returns the key saved for name, nil when there is none.
	lookup(ctx context.Context, name string) ([]byte, error)
}

// keyringCodec seals files with the partition's key from the kernel
// keyring, as azidentity does (the JWE kid is the key's serial number).
type keyringCodec struct {
	ring   int
	log    *slog.Logger
	escrow escrow // nil without a Secret Service

	mu        sync.Mutex
	keys      map[string][]byte // read-side cache; writers always ask the keyring
	escrowed  map[string]bool
	warnedEsc bool
}

// errNoKey means the keyring holds no key for the partition.
var errNoKey = errors.New("no key")

// findKey looks the partition's key up in the keyring.
func (c *keyringCodec) findKey(name string) ([]byte, int, error) {
	id, err := unix.KeyctlSearch(c.ring, "user", name, 0)
	if err != nil {
		if isNoKey(err) {
			return nil, 0, errNoKey
		}
		return nil, 0, fmt.Errorf("keyctl search: %w", err)
	}
	buf := make([]byte, jwe.KeySize+1) // azidentity stores a NUL after the key
	n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
	if err != nil {
		if isNoKey(err) {
			return nil, 0, errNoKey
		}
		return nil, 0, fmt.Errorf("keyctl read: %w", err)
	}
	if n < jwe.KeySize {
		return nil, 0, fmt.Errorf("the keyring key %q holds %d bytes, not a cache key", name, n)
	}
	return buf[:jwe.KeySize], id, nil
}

func isNoKey(err error) bool {
	return errors.Is(err, unix.ENOKEY) || errors.Is(err, unix.EKEYEXPIRED) || errors.Is(err, unix.EKEYREVOKED) || errors.Is(err, unix.ENOENT)
}

func (c *keyringCodec) addKey(name string, key []byte) (int, error) {
	payload := append(append(make([]byte, 0, jwe.KeySize+1), key...), 0)
	id, err := unix.AddKey("user", name, payload, c.ring)
	if err != nil {
		return 0, fmt.Errorf("keyctl add_key: %w", err)
	}
	return id, nil
}

// key returns the partition's key: from the keyring, else restored from
// the escrow, else (when create) a new one.
func (c *keyringCodec) key(ctx context.Context, name string, create bool) ([]byte, int, error) {
	k, id, err := c.findKey(name)
	if err == nil || !errors.Is(err, errNoKey) {
		return k, id, err
	}
	if c.escrow != nil {
		if k, lerr := c.escrow.lookup(ctx, name); lerr == nil && len(k) == jwe.KeySize {
			id, err := c.addKey(name, k)
			if err != nil {
				return nil, 0, err
			}
			c.log.LogAttrs(ctx, slog.LevelInfo, "restored the token cache key from the Secret Service into the kernel keyring", slog.String("cache", name))
			return k, id, nil
		} else if lerr != nil {
			c.warnEscrow(ctx, name, lerr)
		}
	}
	if !create {
		return nil, 0, errNoKey
	}
	k = make([]byte, jwe.KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, 0, err
	}
	if id, err = c.addKey(name, k); err != nil {
		return nil, 0, err
	}
	return k, id, nil
}

func (c *keyringCodec) warnEscrow(ctx context.Context, name string, err error) {
	c.mu.Lock()
	first := !c.warnedEsc
	c.warnedEsc = true
	c.mu.Unlock()
	if first {
		c.log.LogAttrs(ctx, slog.LevelWarn, "the Secret Service cannot keep a copy of the token cache key; the cache will not survive a reboot",
			slog.String("cache", name), slog.Any("error", err))
	}
}

// Seal implements file.Codec. It runs under the partition's lock, so the
// keyring is asked afresh (another program may have replaced the key) and
// a new key is created without racing another azid writer.
func (c *keyringCodec) Seal(ctx context.Context, name string, pt []byte) ([]byte, error) {
	k, id, err := c.key(ctx, name, true)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.keys == nil {
		c.keys, c.escrowed = map[string][]byte{}, map[string]bool{}
	}
	c.keys[name] = k
	needEscrow := c.escrow != nil && !c.escrowed[name]
	c.mu.Unlock()
	if needEscrow {
		if err := c.escrow.store(ctx, name, k); err != nil {
			c.warnEscrow(ctx, name, err)
		} else {
			c.mu.Lock()
			c.escrowed[name] = true
			c.mu.Unlock()
		}
	}
	return jwe.Encrypt(k, strconv.Itoa(id), pt)
}

// RemoveKey implements file.KeyRemover: the partition's key leaves the
// kernel keyring and the Secret Service, so a cache removed for good
// leaves no key behind.
func (c *keyringCodec) RemoveKey(ctx context.Context, name string) error {
	c.mu.Lock()
	delete(c.keys, name)
	delete(c.escrowed, name)
	c.mu.Unlock()
	// A key may be linked more than once (another program added its
	// own); a bounded loop, in case the kernel keeps finding one.
	for range 10 {
		_, id, err := c.findKey(name)
		if errors.Is(err, errNoKey) {
			break
		}
		if err != nil {
			return err
		}
		if _, err := unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0); err != nil {
			if _, uerr := unix.KeyctlInt(unix.KEYCTL_UNLINK, id, c.ring, 0, 0); uerr != nil {
				return fmt.Errorf("removing the key %q from the kernel keyring: %w", name, err)
			}
		}
	}
	if r, ok := c.escrow.(interface {
		remove(context.Context, string) error
	}); ok {
		// No Secret Service reachable means no copy there to remove.
		if err := r.remove(ctx, name); err != nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, "could not remove the token cache key's copy from the Secret Service", slog.String("cache", name), slog.Any("error", err))
		}
	}
	return nil
}

// Open implements file.Codec.
func (c *keyringCodec) Open(ctx context.Context, name string, data []byte) ([]byte, error) {
	c.mu.Lock()
	k := c.keys[name]
	c.mu.Unlock()
	if k != nil {
		if pt, err := jwe.Decrypt(k, data); err == nil {
			return pt, nil
		}
	}
	// No key yet, or it changed (another process created a new one).
	k, _, err := c.key(ctx, name, false)
	if errors.Is(err, errNoKey) {
		return nil, fmt.Errorf("%w: its key %q is not in the kernel keyring (emptied by a reboot, or expired) and no Secret Service holds a copy", ErrUnreadable, name)
	}
	if err != nil {
		return nil, err
	}
	pt, err := jwe.Decrypt(k, data)
	if err != nil {
		if errors.Is(err, jwe.ErrDecrypt) {
			return nil, fmt.Errorf("%w: it does not decrypt with the keyring's key %q (the file was written with another key)", ErrUnreadable, name)
		}
		return nil, fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	c.mu.Lock()
	if c.keys == nil {
		c.keys, c.escrowed = map[string][]byte{}, map[string]bool{}
	}
	c.keys[name] = k
	c.mu.Unlock()
	return pt, nil
}

// Current implements file.KeyChecker: whether sealed opens with the key
// now in the keyring (another program may have replaced it since Seal).
func (c *keyringCodec) Current(_ context.Context, name string, sealed []byte) bool {
	k, _, err := c.findKey(name)
	if err != nil {
		return true
	}
	_, err = jwe.Decrypt(k, sealed)
	return err == nil
}
