//go:build unix

package redis

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// nopClient is a client for tests that never reach Redis.
func nopClient() goredis.UniversalClient {
	return goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
}

var (
	key1 = EncryptionKey{ID: "2026-10", Key: bytes.Repeat([]byte{0x11}, 32)}
	key2 = EncryptionKey{ID: "2026-11", Key: bytes.Repeat([]byte{0x22}, 16)}
	// key1Wrong has key1's ID but other bytes: a misconfigured instance.
	key1Wrong = EncryptionKey{ID: "2026-10", Key: bytes.Repeat([]byte{0x33}, 32)}
)

func TestEncryptionAtRest(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	ctx := ctxT(t)
	const p = "app:h:c:t"

	plain := newStorage(t, r, &Options{KeyPrefix: "plain:"})
	if err := plain.Write(ctx, p, blob, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	raw, err := rdb.Get(ctx, plain.dataKey(p)).Bytes()
	if err != nil || !bytes.Equal(raw, blob) {
		t.Fatalf("without keys the value is the blob as it is; got %q, %v", raw, err)
	}

	enc := newStorage(t, r, &Options{KeyPrefix: "enc:", EncryptionKeys: []EncryptionKey{key1}})
	if err := enc.Write(ctx, p, blob, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	raw, err = rdb.Get(ctx, enc.dataKey(p)).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("SECRET-ACCESS-TOKEN")) || bytes.Contains(raw, []byte("AccessToken")) {
		t.Fatal("the encrypted value contains the plaintext")
	}
	if !bytes.HasPrefix(raw, append(append([]byte{}, magic...), byte(len(key1.ID)))) || !bytes.Contains(raw[:20], []byte(key1.ID)) {
		t.Fatalf("the value's header does not name key %q: %q", key1.ID, raw[:20])
	}
	got, err := enc.Read(ctx, p)
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("Read = %q, %v; want the blob", got, err)
	}
	// Two writes of the same blob differ (random nonce).
	enc.Write(ctx, p, blob, time.Now().Add(time.Hour))
	raw2, _ := rdb.Get(ctx, enc.dataKey(p)).Bytes()
	if bytes.Equal(raw, raw2) {
		t.Fatal("two encryptions of the same blob are identical")
	}
}

// undecryptable writes a value with writer and checks that reader treats it
// as a miss: nil, nil, counted, and logged without the token.
func undecryptable(t *testing.T, writer, reader *Storage, log *logRecorder, reason string) {
	t.Helper()
	ctx := ctxT(t)
	const p = "app:h:c:t"
	if err := writer.Write(ctx, p, blob, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	before := reader.Stats()
	got, err := reader.Read(ctx, p)
	if got != nil || err != nil {
		t.Fatalf("Read = %q, %v; want a miss (nil, nil)", got, err)
	}
	after := reader.Stats()
	if after.Undecryptable != before.Undecryptable+1 || after.Misses != before.Misses+1 || after.Errors != before.Errors {
		t.Fatalf("Stats %+v → %+v; want one more Undecryptable and Miss, no Error", before, after)
	}
	recs := log.records()
	if len(recs) == 0 || !strings.Contains(recs[len(recs)-1], reason) {
		t.Fatalf("log = %q; want a record saying %q", recs, reason)
	}
	for _, r := range recs {
		if strings.Contains(r, "SECRET-ACCESS-TOKEN") {
			t.Fatalf("a log record contains the token: %s", r)
		}
	}
}

func TestUndecryptableValuesAreMisses(t *testing.T) {
	r := startRedis(t)
	cases := []struct {
		name           string
		writer, reader []EncryptionKey
		reason         string
	}{
		{"wrong key under the same ID", []EncryptionKey{key1}, []EncryptionKey{key1Wrong}, "does not decrypt"},
		{"unknown key ID", []EncryptionKey{key2}, []EncryptionKey{key1}, `key ID "2026-11"`},
		{"plain value while encryption is on", nil, []EncryptionKey{key1}, "not encrypted"},
		{"encrypted value without keys", []EncryptionKey{key1}, nil, "no EncryptionKeys"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prefix := string(rune('a'+i)) + ":"
			log := &logRecorder{}
			w := newStorage(t, r, &Options{KeyPrefix: prefix, EncryptionKeys: c.writer})
			rd := newStorage(t, r, &Options{KeyPrefix: prefix, EncryptionKeys: c.reader, Logger: slog.New(log)})
			undecryptable(t, w, rd, log, c.reason)
			// The value is replaced by the next write, and then reads.
			ctx := ctxT(t)
			if err := rd.Write(ctx, "app:h:c:t", blob, time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if got, _ := rd.Read(ctx, "app:h:c:t"); !bytes.Equal(got, blob) {
				t.Fatal("after a rewrite the value still does not read")
			}
		})
	}
}

func TestValueMovedToAnotherKeyDoesNotOpen(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	log := &logRecorder{}
	s := newStorage(t, r, &Options{EncryptionKeys: []EncryptionKey{key1}, Logger: slog.New(log)})
	ctx := ctxT(t)
	if err := s.Write(ctx, "app:h:c:victim", blob, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	raw, _ := rdb.Get(ctx, s.dataKey("app:h:c:victim")).Bytes()
	rdb.Set(ctx, s.dataKey("app:h:c:attacker"), raw, time.Hour)
	if got, err := s.Read(ctx, "app:h:c:attacker"); got != nil || err != nil {
		t.Fatalf("a value copied to another partition opened: %q, %v", got, err)
	}
	if s.Stats().Undecryptable != 1 {
		t.Fatalf("Stats = %+v", s.Stats())
	}
}

func TestKeyRotation(t *testing.T) {
	r := startRedis(t)
	ctx := ctxT(t)
	const p = "app:h:c:t"
	old := newStorage(t, r, &Options{EncryptionKeys: []EncryptionKey{key1}})
	rotated := newStorage(t, r, &Options{EncryptionKeys: []EncryptionKey{key2, key1}})
	if err := old.Write(ctx, p, blob, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// An instance with the new key first still reads the old key's value.
	if got, err := rotated.Read(ctx, p); err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("rotated Read of an old value = %q, %v", got, err)
	}
	// It writes with the new key; the header says so.
	if err := rotated.Write(ctx, p, []byte(`{"v":2}`), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	raw, _ := r.Client(t).Get(ctx, rotated.dataKey(p)).Bytes()
	if !bytes.Contains(raw[:len(magic)+1+len(key2.ID)], []byte(key2.ID)) {
		t.Fatalf("a rotated write's header does not name the new key: %q", raw[:16])
	}
	if got, _ := rotated.Read(ctx, p); string(got) != `{"v":2}` {
		t.Fatalf("rotated Read = %q", got)
	}
	// An instance not yet given the new key sees a miss, never an error.
	if got, err := old.Read(ctx, p); got != nil || err != nil {
		t.Fatalf("old-key Read of a new-key value = %q, %v; want a miss", got, err)
	}
	// Listing the new key (in any position) is enough to read.
	both := newStorage(t, r, &Options{EncryptionKeys: []EncryptionKey{key1, key2}})
	if got, _ := both.Read(ctx, p); string(got) != `{"v":2}` {
		t.Fatalf("Read with both keys listed = %q", got)
	}
}

func TestUndecryptableLoggedOncePerInterval(t *testing.T) {
	r := startRedis(t)
	log := &logRecorder{}
	w := newStorage(t, r, &Options{EncryptionKeys: []EncryptionKey{key2}})
	rd := newStorage(t, r, &Options{EncryptionKeys: []EncryptionKey{key1}, Logger: slog.New(log), LogInterval: time.Hour})
	ctx := ctxT(t)
	w.Write(ctx, "p", blob, time.Time{})
	for range 20 {
		if got, err := rd.Read(ctx, "p"); got != nil || err != nil {
			t.Fatalf("Read = %q, %v", got, err)
		}
	}
	if n := len(log.records()); n != 1 {
		t.Fatalf("%d log records for 20 undecryptable reads within LogInterval; want 1", n)
	}
	if rd.Stats().Undecryptable != 20 {
		t.Fatalf("Stats = %+v", rd.Stats())
	}
}

func TestSealOpen(t *testing.T) {
	st, err := newSettings(&Options{EncryptionKeys: []EncryptionKey{key1, key2}})
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range [][]byte{nil, {}, []byte("x"), blob, bytes.Repeat([]byte("a"), 1<<16)} {
		v, err := seal(st.keys, "p", data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := open(st.keys, "p", v)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("open(seal(%d bytes)) = %d bytes, %v", len(data), len(got), err)
		}
		// Every truncation and every single-byte change is refused.
		for i := range min(len(v), 64) {
			if _, err := open(st.keys, "p", v[:i]); err == nil && i >= len(magic) {
				t.Fatalf("a value truncated to %d bytes opened", i)
			}
			w := bytes.Clone(v)
			w[i] ^= 0x80
			if _, err := open(st.keys, "p", w); err == nil {
				t.Fatalf("a value with byte %d changed opened", i)
			}
		}
	}
	if _, err := open(st.keys, "p", magic); !errors.Is(err, errMalformed) {
		t.Fatalf("open(header only) = %v; want errMalformed", err)
	}
}

// FuzzOpen feeds arbitrary Redis values to the reader: it must never panic,
// and whatever opens must have been sealed by a listed key (so arbitrary
// input never opens).
func FuzzOpen(f *testing.F) {
	st, err := newSettings(&Options{EncryptionKeys: []EncryptionKey{key1, key2}})
	if err != nil {
		f.Fatal(err)
	}
	for _, d := range [][]byte{nil, blob, []byte("{}")} {
		v, _ := seal(st.keys, "p", d)
		f.Add(v, "p")
	}
	f.Add(append(append([]byte{}, magic...), 0), "p")
	f.Add(append(append([]byte{}, magic...), 255, 'x'), "p")
	f.Add([]byte(`{"AccessToken":{}}`), "")
	f.Fuzz(func(t *testing.T, v []byte, partition string) {
		data, err := open(st.keys, partition, v)
		if err != nil {
			if data != nil {
				t.Fatal("an error with data")
			}
			if strings.Contains(err.Error(), string(v)) && len(v) > 8 {
				t.Fatal("the error repeats the value")
			}
			return
		}
		// Whatever opens re-seals and opens to the same bytes.
		again, err := seal(st.keys, partition, data)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := open(st.keys, partition, again); err != nil || !bytes.Equal(back, data) {
			t.Fatalf("round trip of opened data failed: %v", err)
		}
		// Plain mode never interprets a sealed-looking value as data.
		if got, err := open(nil, partition, v); err == nil && sealed(v) {
			t.Fatalf("plain mode returned %q for a sealed value", got)
		}
	})
}

var _ = context.Background
