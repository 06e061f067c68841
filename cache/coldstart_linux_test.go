package cache

import (
	"context"
	"crypto/rand"
	"log/slog"
	"sync"
	"testing"

	"github.com/azid-go/azid/internal/persist"
	"github.com/azid-go/azid/internal/persist/file"
	"golang.org/x/sys/unix"
)

// racingCodec replaces the keyring key right after azid's first Seal, as
// an azidentity process does at a cold start when it also found no key
// (its lock does not exclude azid's) and adds its own a moment later.
type racingCodec struct {
	*keyringCodec
	once sync.Once
}

func (r *racingCodec) Seal(ctx context.Context, name string, pt []byte) ([]byte, error) {
	out, err := r.keyringCodec.Seal(ctx, name, pt)
	r.once.Do(func() {
		other := make([]byte, 33)
		rand.Read(other[:32])
		unix.AddKey("user", name, other, r.ring) // replaces the payload
	})
	return out, err
}

// Item 7: a key replaced by another program while azid writes does not
// leave a file sealed with a key nobody has: the write is sealed again
// with the key now in the keyring, and every process can read it.
func TestKeyReplacedDuringColdStart(t *testing.T) {
	requireKeyring(t)
	name, dir := testCache(t)
	ring, _ := userKeyring()
	codec := &racingCodec{keyringCodec: &keyringCodec{ring: ring, log: slog.New(slog.DiscardHandler)}}
	st := &file.Store{Dir: dir, Codec: codec, Unreadable: ErrUnreadable}
	c := persist.New(st, persist.Options{Name: name})
	if err := persist.TokenStore(c).Save(bg, keyOf("api://a/.default"), storedTok("a")); err != nil {
		t.Fatal(err)
	}
	// Another process (the keyring's current key only) reads it.
	fresh := persist.TokenStore(mustNew(t, &Options{Name: name}))
	if got, ok, err := fresh.Load(bg, keyOf("api://a/.default")); err != nil || !ok || got.AccessToken != "a" {
		t.Fatalf("another process cannot read the cold-start write: %+v %v %v", got, ok, err)
	}
}
