//go:build unix

package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azid-go/azid/cache"
)

// logRecorder is a slog.Handler keeping every record's text.
type logRecorder struct {
	mu   sync.Mutex
	recs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, b.String())
	l.mu.Unlock()
	return nil
}

func (l *logRecorder) records() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.recs...)
}

func (l *logRecorder) count(substr string) int {
	n := 0
	for _, r := range l.records() {
		if strings.Contains(r, substr) {
			n++
		}
	}
	return n
}

const secretToken = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.SECRET-ACCESS-TOKEN.sig"

// blob is an MSAL-schema document as another version (or another MSAL)
// might write it: unknown sections and fields, numbers where strings are
// usual. Storage must keep it byte for byte.
var blob = []byte(`{"AccessToken":{"k":{"secret":"` + secretToken + `","expires_on":1790000000,"x_future_field":{"a":[1,2]}}},"FutureSection":{"z":null}}`)

func TestReadWriteDelete(t *testing.T) {
	r := startRedis(t)
	s := newStorage(t, r, nil)
	ctx := ctxT(t)
	const p = "app:login.example:client:tenant"

	if got, err := s.Read(ctx, p); got != nil || err != nil {
		t.Fatalf("Read of an empty store = %q, %v; want nil, nil", got, err)
	}
	if err := s.Write(ctx, p, blob, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Read(ctx, p)
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("Read = %q, %v; want the written blob unchanged", got, err)
	}
	// Another partition is another key.
	if got, err := s.Read(ctx, p+":other"); got != nil || err != nil {
		t.Fatalf("Read of another partition = %q, %v; want nil, nil", got, err)
	}
	// Write replaces.
	if err := s.Write(ctx, p, []byte(`{}`), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Read(ctx, p); string(got) != `{}` {
		t.Fatalf("after a second Write, Read = %q; want {}", got)
	}
	// An empty blob exists: it is not "none".
	if err := s.Write(ctx, p, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read(ctx, p); got == nil || len(got) != 0 || err != nil {
		t.Fatalf("Read of an empty blob = %#v, %v; want an empty, non-nil slice", got, err)
	}
	if err := s.Delete(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read(ctx, p); got != nil || err != nil {
		t.Fatalf("Read after Delete = %q, %v; want nil, nil", got, err)
	}
	if err := s.Delete(ctx, p); err != nil {
		t.Fatalf("deleting nothing: %v", err)
	}
	st := s.Stats()
	if st.Reads != 6 || st.Hits != 3 || st.Misses != 3 || st.Writes != 3 || st.Deletes != 2 || st.Errors != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestKeyPrefixSeparatesApplications(t *testing.T) {
	r := startRedis(t)
	a := newStorage(t, r, &Options{KeyPrefix: "appA:"})
	b := newStorage(t, r, &Options{KeyPrefix: "appB:"})
	ctx := ctxT(t)
	if err := a.Write(ctx, "p", blob, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Read(ctx, "p"); got != nil {
		t.Fatal("a storage with another prefix read the value")
	}
	keys, err := r.Client(t).Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "appA:tok:p" {
		t.Fatalf("Redis keys = %q; want [appA:tok:p]", keys)
	}
}

func TestTTLFollowsTokens(t *testing.T) {
	r := startRedis(t)
	s := newStorage(t, r, &Options{ExpirySlack: 2 * time.Minute, RefreshTokenTTL: 48 * time.Hour})
	rdb := r.Client(t)
	ctx := ctxT(t)
	app := s.Partition(cache.PartitionKey{Environment: "login.example", ClientID: "c", TenantID: "t", Resource: "https://vault.azure.net"})
	obo := s.Partition(cache.PartitionKey{Environment: "login.example", ClientID: "c", UserAssertionHash: "h"})
	user := s.Partition(cache.PartitionKey{Environment: "login.example", ClientID: "c", HomeAccountID: "u.t"})
	now := time.Now()
	cases := []struct {
		name      string
		partition string
		expiresOn time.Time
		want      time.Duration
	}{
		{"app token", app, now.Add(time.Hour), time.Hour + 2*time.Minute},
		{"obo token", obo, now.Add(30 * time.Minute), 32 * time.Minute},
		{"app, long-lived state only", app, time.Time{}, 48 * time.Hour},
		{"user tokens keep the refresh token", user, now.Add(time.Hour), 48 * time.Hour},
		{"user, long-lived state only", user, time.Time{}, 48 * time.Hour},
		{"a name not made by Partition is kept like user state", "msal.cache", now.Add(time.Hour), 48 * time.Hour},
		{"already expired", app, now.Add(-time.Hour), time.Second},
	}
	for _, c := range cases {
		if err := s.Write(ctx, c.partition, blob, c.expiresOn); err != nil {
			t.Fatal(err)
		}
		got, err := rdb.PTTL(ctx, s.dataKey(c.partition)).Result()
		if err != nil {
			t.Fatal(err)
		}
		// PTTL counts down from the moment of the write.
		if got > c.want || got < c.want-10*time.Second {
			t.Errorf("%s: TTL %v; want %v", c.name, got, c.want)
		}
	}
}

func TestPartition(t *testing.T) {
	s, err := New(nopClient(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		k    cache.PartitionKey
		want string
	}{
		{cache.PartitionKey{Environment: "Login.MicrosoftOnline.com", ClientID: "C1", TenantID: "T1"},
			"app:login.microsoftonline.com:c1:t1"},
		{cache.PartitionKey{Environment: "login.microsoftonline.com", ClientID: "c1", TenantID: "t1", Resource: "https://Vault.azure.net"},
			"app:login.microsoftonline.com:c1:t1:https%3A//vault.azure.net"},
		{cache.PartitionKey{Environment: "login.microsoftonline.com", ClientID: "c1", TenantID: "t1", CAE: true},
			"app:login.microsoftonline.com:c1:t1:cae"},
		// The assertion hash is case-sensitive (base64url): not folded.
		{cache.PartitionKey{Environment: "login.microsoftonline.com", ClientID: "c1", TenantID: "t1", Resource: "api://x", UserAssertionHash: "AbC-_x"},
			"obo:login.microsoftonline.com:c1:AbC-_x"},
		{cache.PartitionKey{Environment: "login.microsoftonline.com", ClientID: "c1", TenantID: "t1", HomeAccountID: "UID.UTID", Resource: "api://x"},
			"user:login.microsoftonline.com:c1:uid.utid"},
		// Separators, hash-tag braces, '%' and spaces cannot be injected.
		{cache.PartitionKey{Environment: "h", ClientID: "a:b", TenantID: "{t}%", Resource: "x y"},
			"app:h:a%3Ab:%7Bt%7D%25:x%20y"},
	}
	for _, c := range cases {
		if got := s.Partition(c.k); got != c.want {
			t.Errorf("Partition(%+v) = %q; want %q", c.k, got, c.want)
		}
	}
	// Distinct keys never share a partition because of escaping.
	a := s.Partition(cache.PartitionKey{Environment: "h", ClientID: "a:b", TenantID: "c"})
	b := s.Partition(cache.PartitionKey{Environment: "h", ClientID: "a", TenantID: "b:c"})
	if a == b {
		t.Fatalf("two keys share partition %q", a)
	}
}

func TestOptionsValidation(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	bad := []struct {
		name string
		o    Options
		want string
	}{
		{"short key", Options{EncryptionKeys: []EncryptionKey{{ID: "a", Key: []byte("short")}}}, "16, 24 or 32"},
		{"duplicate ID", Options{EncryptionKeys: []EncryptionKey{{ID: "a", Key: key}, {ID: "a", Key: key}}}, "listed twice"},
		{"same key twice, derived IDs", Options{EncryptionKeys: []EncryptionKey{{Key: key}, {Key: key}}}, "listed twice"},
		{"long ID", Options{EncryptionKeys: []EncryptionKey{{ID: strings.Repeat("x", 256), Key: key}}}, "255"},
		{"negative", Options{OperationTimeout: -1}, "OperationTimeout is negative"},
		{"tiny lock TTL", Options{LockTTL: time.Millisecond}, "LockTTL"},
	}
	for _, c := range bad {
		_, err := New(nopClient(), &c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: New error %v; want one mentioning %q", c.name, err, c.want)
		}
	}
	if _, err := New(nil, nil); err == nil {
		t.Error("New(nil client) succeeded")
	}
	s, err := New(nopClient(), &Options{EncryptionKeys: []EncryptionKey{{Key: key}}})
	if err != nil || !s.Encrypted() {
		t.Fatalf("New with a key: %v, encrypted %v", err, s != nil && s.Encrypted())
	}
}

// TestConcurrentUse runs readers and writers on shared and distinct
// partitions at once (for the race detector) and checks every read sees a
// whole value.
func TestConcurrentUse(t *testing.T) {
	r := startRedis(t)
	s := newStorage(t, r, &Options{EncryptionKeys: []EncryptionKey{{ID: "k", Key: bytes.Repeat([]byte{7}, 32)}}})
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Go(func() {
			for i := range 50 {
				p := fmt.Sprintf("app:h:c:t%d", i%4)
				v := []byte(fmt.Sprintf(`{"writer":%d,"i":%d}`, g, i))
				if err := s.Write(ctx, p, v, time.Now().Add(time.Hour)); err != nil {
					errs <- err
					return
				}
				got, err := s.Read(ctx, p)
				if err != nil || !bytes.HasPrefix(got, []byte(`{"writer":`)) {
					errs <- fmt.Errorf("Read = %q, %v", got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Errors != 0 || st.Undecryptable != 0 || st.Hits != 800 {
		t.Fatalf("Stats = %+v; want 800 hits, no errors", st)
	}
}

var _ = errors.Is
