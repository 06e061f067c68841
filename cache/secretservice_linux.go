package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

// secretService escrows cache keys in the freedesktop Secret Service
// (gnome-keyring, KeePassXC, KWallet) on the session bus, spoken in pure
// Go. Every operation uses its own short-lived connection with a deadline:
// the escrow is touched only when a key is created or missing, and a
// Secret Service that wants to show a prompt (a locked collection) counts
// as unavailable rather than a reason to wait.
type secretService struct {
	addr string
}

// newSecretService returns an escrow on the bus at addr, or nil when there
// is no session bus.
func newSecretService(addr string) escrow {
	if addr == "" {
		return nil
	}
	return &secretService{addr: addr}
}

const (
	ssName        = "org.freedesktop.secrets"
	ssPath        = dbus.ObjectPath("/org/freedesktop/secrets")
	ssService     = "org.freedesktop.Secret.Service"
	ssCollection  = "org.freedesktop.Secret.Collection"
	ssItem        = "org.freedesktop.Secret.Item"
	ssAttrApp     = "application"
	ssAttrCache   = "azid-cache"
	ssApplication = "azid"
	ssTimeout     = 5 * time.Second
)

// ssSecret is the Secret Service's (oayays) secret struct.
type ssSecret struct {
	Session     dbus.ObjectPath
	Parameters  []byte
	Value       []byte
	ContentType string
}

// errPromptRequired means the Secret Service wants the user's interaction
// (an unlock prompt), which a library cannot provide.
var errPromptRequired = errors.New("the Secret Service collection is locked and would prompt the user")

func (s *secretService) session(ctx context.Context) (*dbus.Conn, dbus.ObjectPath, func(), error) {
	conn, err := dbus.Connect(s.addr, dbus.WithContext(ctx))
	if err != nil {
		return nil, "", nil, fmt.Errorf("connecting to the session bus: %w", err)
	}
	var out dbus.Variant
	var session dbus.ObjectPath
	err = conn.Object(ssName, ssPath).CallWithContext(ctx, ssService+".OpenSession", 0, "plain", dbus.MakeVariant("")).Store(&out, &session)
	if err != nil {
		conn.Close()
		return nil, "", nil, fmt.Errorf("opening a Secret Service session: %w", err)
	}
	closeAll := func() {
		_ = conn.Object(ssName, session).CallWithContext(ctx, "org.freedesktop.Secret.Session.Close", 0).Err
		conn.Close()
	}
	return conn, session, closeAll, nil
}

func attributes(name string) map[string]string {
	return map[string]string{ssAttrApp: ssApplication, ssAttrCache: name}
}

func (s *secretService) store(ctx context.Context, name string, key []byte) error {
	ctx, cancel := context.WithTimeout(ctx, ssTimeout)
	defer cancel()
	conn, session, done, err := s.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	var coll dbus.ObjectPath
	if err := conn.Object(ssName, ssPath).CallWithContext(ctx, ssService+".ReadAlias", 0, "default").Store(&coll); err != nil {
		return fmt.Errorf("finding the default collection: %w", err)
	}
	if coll == "/" || coll == "" {
		return errors.New("the Secret Service has no default collection (no login keyring)")
	}
	locked, err := conn.Object(ssName, coll).GetProperty(ssCollection + ".Locked")
	if err != nil {
		return fmt.Errorf("reading the collection's state: %w", err)
	}
	if l, _ := locked.Value().(bool); l {
		return errPromptRequired
	}
	props := map[string]dbus.Variant{
		ssItem + ".Label":      dbus.MakeVariant("azid token cache key (" + name + ")"),
		ssItem + ".Attributes": dbus.MakeVariant(attributes(name)),
	}
	secret := ssSecret{Session: session, Value: key, ContentType: "application/octet-stream"}
	var item, prompt dbus.ObjectPath
	if err := conn.Object(ssName, coll).CallWithContext(ctx, ssCollection+".CreateItem", 0, props, secret, true).Store(&item, &prompt); err != nil {
		return fmt.Errorf("storing the key: %w", err)
	}
	if prompt != "/" {
		_ = conn.Object(ssName, prompt).CallWithContext(ctx, "org.freedesktop.Secret.Prompt.Dismiss", 0).Err
		return errPromptRequired
	}
	return nil
}

func (s *secretService) lookup(ctx context.Context, name string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, ssTimeout)
	defer cancel()
	conn, session, done, err := s.session(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var unlocked, locked []dbus.ObjectPath
	if err := conn.Object(ssName, ssPath).CallWithContext(ctx, ssService+".SearchItems", 0, attributes(name)).Store(&unlocked, &locked); err != nil {
		return nil, fmt.Errorf("searching the Secret Service: %w", err)
	}
	if len(unlocked) == 0 {
		if len(locked) > 0 {
			return nil, errPromptRequired
		}
		return nil, nil
	}
	var secret ssSecret
	if err := conn.Object(ssName, unlocked[0]).CallWithContext(ctx, ssItem+".GetSecret", 0, session).Store(&secret); err != nil {
		return nil, fmt.Errorf("reading the key from the Secret Service: %w", err)
	}
	return secret.Value, nil
}

// remove deletes the escrowed key of name (tests use it to clean up).
func (s *secretService) remove(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, ssTimeout)
	defer cancel()
	conn, _, done, err := s.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	var unlocked, locked []dbus.ObjectPath
	if err := conn.Object(ssName, ssPath).CallWithContext(ctx, ssService+".SearchItems", 0, attributes(name)).Store(&unlocked, &locked); err != nil {
		return err
	}
	for _, it := range unlocked {
		var prompt dbus.ObjectPath
		if err := conn.Object(ssName, it).CallWithContext(ctx, ssItem+".Delete", 0).Store(&prompt); err != nil {
			return err
		}
	}
	return nil
}
