// Package persist is the persistent cache behind package cache: the MSAL
// schema kept in a [Storage], merged under a lock, and exposed to the
// engine as a tokencache.Store and a account.UserStore. Credentials reach
// it through the functions here, which take the public cache.Cache value.
//
// The engine serves hits from memory and calls the store only on a miss
// (before a network acquisition) and after an acquisition, so this package
// is off the hit path. A load checks the storage's version (a stat for a
// file) and re-reads and re-parses only when another writer changed it. A
// save takes the storage's lock, re-reads, applies its one change to what
// it read, writes, and releases: writers never lose each other's entries.
package persist

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/azid-go/azid/internal/account"
	"github.com/azid-go/azid/internal/msalcache"
	"github.com/azid-go/azid/internal/persist/file"
	"github.com/azid-go/azid/internal/tokencache"
)

// Storage is cache.Storage, whose documentation is the reference. Package
// cache imports this one, so the storage interfaces are declared in both;
// package cache makes the compiler check that they stay the same.
type Storage interface {
	Read(ctx context.Context, partition string) ([]byte, error)
	Write(ctx context.Context, partition string, data []byte, expiresOn time.Time) error
	Delete(ctx context.Context, partition string) error
}

// Locker is cache.Locker.
type Locker interface {
	Lock(ctx context.Context, partition string) (unlock func(), err error)
}

// Versioner is cache.Versioner.
type Versioner interface {
	Version(ctx context.Context, partition string) (string, error)
}

// Partitioner is cache.Partitioner.
type Partitioner interface {
	Partition(k PartitionKey) string
}

// locator is implemented by storages that can say where a partition lives
// (a file path), for log messages.
type locator interface {
	Location(partition string) string
}

// PartitionKey is cache.PartitionKey.
type PartitionKey struct {
	// Environment is the authority host.
	Environment string
	ClientID    string
	TenantID    string
	// Resource is the audience of the scopes (the part before the last
	// "/"), empty for refresh tokens and accounts.
	Resource string
	// UserAssertionHash is set for on-behalf-of entries.
	UserAssertionHash string
	// HomeAccountID is set for user flows.
	HomeAccountID string
	// CAE tells CAE tokens apart; they live in a sibling store.
	CAE bool
}

// ErrUnreadable is wrapped by storage errors about data that exists but
// cannot be used (it does not decrypt, it is not a cache). The persistent
// cache then carries on without it and replaces it on its next write.
var ErrUnreadable = errors.New("the stored token cache cannot be read")

// Cache is the value behind cache.Cache, which is defined on it (so that
// it is a documented type of package cache, not an alias of this one). The
// zero value means "no persistent cache": credentials keep tokens in
// memory only.
type Cache struct {
	impl *impl
}

// CacheValue is satisfied by Cache and by cache.Cache, so that this
// package's functions take either without a conversion at every call.
type CacheValue interface {
	~struct{ impl *impl }
}

// Options configure [New].
type Options struct {
	// Name is the partition of non-CAE entries for storages without a
	// Partitioner; CAE entries go to Name + ".cae", as azidentity does.
	Name string
	// Logger receives problems with the stored data (never tokens); nil
	// discards them.
	Logger *slog.Logger
	// Now is the clock for pruning expired tokens; nil is time.Now.
	Now func() time.Time
	// MaxPartitions bounds how many partitions' decoded documents are
	// kept in memory (see cache.Options.MaxPartitions); 0 means
	// DefaultMaxPartitions.
	MaxPartitions int
}

// DefaultMaxPartitions is the default of Options.MaxPartitions.
const DefaultMaxPartitions = 1000

// impl is the persistent cache's state, shared by every credential given
// the same Cache.
type impl struct {
	st   Storage
	lk   Locker      // nil: the storage cannot lock across processes
	ver  Versioner   // nil: every load re-reads
	part Partitioner // nil: one partition (and its .cae sibling)
	name string
	log  *slog.Logger
	now  func() time.Time

	// parts holds the partitions in use, least recently used at the back
	// of lru; past max, the least recently used one that nobody has
	// locked is dropped with its snapshots (it is read again if needed).
	// A partitioned storage (Redis) has one partition per user or OBO
	// assertion, which would otherwise pile up for the life of the process.
	mu    sync.Mutex
	parts map[string]*list.Element // of *partition
	lru   list.List
	max   int
}

// partition is one blob of the storage and this process's view of it.
type partition struct {
	name string
	// sem serialises this process's writers of the partition, so that they
	// queue here instead of all polling the cross-process lock.
	sem  chan struct{}
	snap atomic.Pointer[snapshot]
	// good is the latest snapshot that was read or written successfully,
	// the base of a write that replaces unreadable data.
	good atomic.Pointer[snapshot]
	// blocked is set once a directory in the partition's place has been
	// reported, so that it is reported once, not on every miss.
	blocked atomic.Bool

	// own are the app tokens this process saved here and has not seen
	// replaced, by ownKey: re-saved when another program's write dropped
	// them (see restore).
	ownMu sync.Mutex
	own   map[string]ownToken
}

// ownToken is a token this process saved.
type ownToken struct {
	key tokencache.Key
	tok tokencache.Stored
}

// snapshot is an immutable decoded copy of a partition's data.
type snapshot struct {
	doc     *msalcache.Document
	version string
	sum     [32]byte
	// absent: the storage held nothing (no file, or an empty one, which
	// is also what a reader sees in the middle of azidentity's in-place
	// write).
	absent bool

	// The index is built on the first lookup: a writer under contention
	// re-reads documents it never searches.
	ixOnce sync.Once
	ix     *msalcache.Index
}

func newSnapshot(doc *msalcache.Document, version string, sum [32]byte) *snapshot {
	return &snapshot{doc: doc, version: version, sum: sum}
}

func (s *snapshot) index() *msalcache.Index {
	s.ixOnce.Do(func() { s.ix = msalcache.NewIndex(s.doc) })
	return s.ix
}

// New returns a persistent cache over s. s may also implement [Locker],
// [Versioner] and [Partitioner].
func New(s Storage, o Options) Cache {
	if o.Name == "" {
		o.Name = "msal.cache"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxPartitions <= 0 {
		o.MaxPartitions = DefaultMaxPartitions
	}
	i := &impl{st: s, name: o.Name, log: o.Logger, now: o.Now, parts: map[string]*list.Element{}, max: o.MaxPartitions}
	i.lk, _ = s.(Locker)
	i.ver, _ = s.(Versioner)
	i.part, _ = s.(Partitioner)
	return Cache{impl: i}
}

// Enabled reports whether c is a persistent cache (not the zero value).
func (c Cache) Enabled() bool { return c.impl != nil }

// TokenStore returns the access-token store of c, for the engine's
// Options.Store, or nil when c is the zero value. CAE tokens (Key.CAE) are
// kept in a sibling store, as azidentity does.
func TokenStore[C CacheValue](cv C) tokencache.Store {
	c := Cache(cv)
	if c.impl == nil {
		return nil
	}
	return tokenStore{c.impl}
}

// UserStore returns the refresh-token and account store of c, or nil when
// c is the zero value (user credentials then use a MemoryUserStore).
func UserStore[C CacheValue](cv C) account.UserStore {
	c := Cache(cv)
	if c.impl == nil {
		return nil
	}
	return userStore{c.impl}
}

func (i *impl) partition(name string) *partition {
	i.mu.Lock()
	defer i.mu.Unlock()
	if el := i.parts[name]; el != nil {
		i.lru.MoveToFront(el)
		return el.Value.(*partition)
	}
	p := &partition{name: name, sem: make(chan struct{}, 1)}
	i.parts[name] = i.lru.PushFront(p)
	if i.lru.Len() > i.max {
		i.evict()
	}
	return p
}

// evict drops the least recently used partition that is not locked. A
// locked one stays: its holder's writes must find the same semaphore. A
// caller that still holds an evicted partition only loses the snapshot
// cache (the next call reads again); held compares names, so a lock
// taken through it is still recognised. Called with mu held.
func (i *impl) evict() {
	n := 0
	for el := i.lru.Back(); el != nil && n < 16; el, n = el.Prev(), n+1 {
		p := el.Value.(*partition)
		if len(p.sem) > 0 {
			continue
		}
		i.lru.Remove(el)
		delete(i.parts, p.name)
		return
	}
}

// readopt puts a locked partition that was evicted while its caller was
// on the way to its lock back in the map, so that later callers queue on
// its semaphore. (Should another caller have made the partition anew in
// that window, the two do not exclude each other in this process; the
// storage's Locker, which every built-in storage has, still does.)
func (i *impl) readopt(p *partition) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if _, ok := i.parts[p.name]; !ok {
		i.parts[p.name] = i.lru.PushFront(p)
		if i.lru.Len() > i.max {
			i.evict()
		}
	}
}

// heldPartitions is how many partitions are kept in memory (for tests).
func (i *impl) heldPartitions() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.lru.Len()
}

func (i *impl) where(p *partition) string {
	if l, ok := i.st.(locator); ok {
		return l.Location(p.name)
	}
	return p.name
}

// load is read for the engine's stores: a directory in the partition's
// place is reported once (the first call returns its error) and then read
// as an empty partition until it is gone, instead of failing every miss.
func (i *impl) load(ctx context.Context, p *partition) (*snapshot, error) {
	return i.loadVersioned(ctx, p, true, false)
}

// loadVersioned is load; with trustVersion false it reads the storage even
// when the version is unchanged (a file's version can repeat when a rewrite
// of the same size reuses the inode within the clock's granularity). held
// says the caller holds p's lock.
func (i *impl) loadVersioned(ctx context.Context, p *partition, trustVersion, held bool) (*snapshot, error) {
	prev := p.snap.Load()
	s, err := i.read(ctx, p, trustVersion)
	if err != nil {
		if err = i.reportOnce(p, err); err == nil {
			return newSnapshot(msalcache.New(), "", [32]byte{}), nil
		}
		return nil, err
	}
	if prev != nil && s.doc != prev.doc {
		s = i.restore(ctx, p, s, held)
	}
	return s, nil
}

func ownKey(k tokencache.Key) string {
	return strings.Join([]string{k.Authority, k.ClientID, k.TenantID, k.ScopeString(), k.AssertionHash, k.Identity, strconv.FormatBool(k.CAE)}, "\x00")
}

// remember records a token this process saved. User tokens are not
// remembered: a sign-out in another process (which deletes them) must not
// be undone.
func (p *partition) remember(k tokencache.Key, tok tokencache.Stored) {
	if k.Account != "" {
		return
	}
	p.ownMu.Lock()
	defer p.ownMu.Unlock()
	if p.own == nil {
		p.own = map[string]ownToken{}
	}
	p.own[ownKey(k)] = ownToken{key: k, tok: tok}
}

func (p *partition) forget(k tokencache.Key) {
	p.ownMu.Lock()
	defer p.ownMu.Unlock()
	delete(p.own, ownKey(k))
}

// missingOwn returns this process's tokens that s (a document read back
// from storage) no longer holds. azidentity (MSAL's cache extension)
// writes the whole file from a copy it read before its token request,
// outside the lock, so its write drops what others stored meanwhile; the
// caller puts them back. A token replaced by another (a
// newer one for the same key) is forgotten instead, and so are expired
// ones. A document without any access token was cleared on purpose (azid
// cache clear): everything is forgotten. No document at all (an empty or
// deleted file) is not a clear: azidentity rewrites the file in place, so
// a reader may find it empty for a moment.
func (i *impl) missingOwn(p *partition, s *snapshot) []ownToken {
	doc, ix := s.doc, s.index()
	p.ownMu.Lock()
	defer p.ownMu.Unlock()
	if len(p.own) == 0 {
		return nil
	}
	if doc.Len(msalcache.AccessToken) == 0 && !s.absent {
		p.own = nil
		return nil
	}
	now := i.now()
	var missing []ownToken
	for ok, o := range p.own {
		e := ix.Find(query(o.key))
		switch {
		case !o.tok.ExpiresOn.After(now):
			delete(p.own, ok)
		case e == nil:
			missing = append(missing, o)
		case e.Secret != o.tok.AccessToken:
			delete(p.own, ok)
		}
	}
	return missing
}

// restore re-saves (see missingOwn) this process's tokens that s, just
// re-read, lacks, and returns the snapshot to use.
func (i *impl) restore(ctx context.Context, p *partition, s *snapshot, held bool) *snapshot {
	missing := i.missingOwn(p, s)
	if len(missing) == 0 {
		return s
	}
	update := i.update
	if held {
		update = i.updateHeld
	}
	err := update(ctx, p, func(d *msalcache.Document) {
		ix := msalcache.NewIndex(d)
		for _, o := range missing {
			if ix.Find(query(o.key)) == nil { // not stored again meanwhile
				d.Put(msalcache.AccessToken, entryOf(o.key, o.tok))
			}
		}
	})
	if err != nil {
		i.log.LogAttrs(ctx, slog.LevelWarn, "could not re-save tokens another program's write dropped from the persistent token cache",
			slog.String("path", i.where(p)), slog.Any("error", err))
		return s
	}
	i.log.LogAttrs(ctx, slog.LevelInfo, "re-saved tokens another program's write dropped from the persistent token cache",
		slog.String("path", i.where(p)), slog.Int("tokens", len(missing)))
	if ns := p.snap.Load(); ns != nil {
		return ns
	}
	return s
}

// reportOnce returns err, except for a [file.NotAFileError] that was
// already reported for p: then nil.
func (i *impl) reportOnce(p *partition, err error) error {
	var nf *file.NotAFileError
	if err == nil || !errors.As(err, &nf) {
		return err
	}
	if p.blocked.Swap(true) {
		return nil
	}
	return err
}

// read returns p's current snapshot, re-reading the storage only when its
// version changed (or it has none, or trustVersion is false).
func (i *impl) read(ctx context.Context, p *partition, trustVersion bool) (*snapshot, error) {
	cur := p.snap.Load()
	var version string
	if i.ver != nil {
		v, err := i.ver.Version(ctx, p.name)
		var nf *file.NotAFileError
		if errors.As(err, &nf) {
			return nil, err
		}
		if err == nil {
			p.blocked.Store(false)
			if trustVersion && cur != nil && v != "" && v == cur.version {
				return cur, nil
			}
			version = v
		}
	}
	data, err := i.st.Read(ctx, p.name)
	if err != nil {
		return nil, err
	}
	p.blocked.Store(false)
	sum := sha256.Sum256(data)
	if cur != nil && sum == cur.sum {
		// Touched but unchanged (another process rewrote the same data).
		next := newSnapshot(cur.doc, version, cur.sum)
		p.snap.CompareAndSwap(cur, next)
		return next, nil
	}
	doc, problems, err := msalcache.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreadable, i.where(p), err)
	}
	for _, pr := range problems {
		i.log.LogAttrs(ctx, slog.LevelWarn, "skipped a bad entry of the persistent token cache; it will be dropped on the next write",
			slog.String("path", i.where(p)), slog.String("section", pr.Section), slog.String("entry", pr.Key), slog.String("reason", pr.Reason))
	}
	s := newSnapshot(doc, version, sum)
	s.absent = len(data) == 0
	p.snap.Store(s)
	p.good.Store(s)
	return s, nil
}

// lock takes p's in-process and cross-process locks.
func (i *impl) lock(ctx context.Context, p *partition) (func(), error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the persistent cache's lock: %w", context.Cause(ctx))
	}
	i.readopt(p)
	if i.lk == nil {
		return func() { <-p.sem }, nil
	}
	unlock, err := i.lk.Lock(ctx, p.name)
	if err != nil {
		<-p.sem
		return nil, fmt.Errorf("locking the persistent cache %s: %w", i.where(p), err)
	}
	return func() { unlock(); <-p.sem }, nil
}

// update is apply for the engine's stores: a directory in the partition's
// place is reported once (see load), then the write is skipped quietly.
func (i *impl) update(ctx context.Context, p *partition, change func(*msalcache.Document)) error {
	return i.reportOnce(p, i.apply(ctx, p, change))
}

// updateHeld is update for a caller that holds p's lock.
func (i *impl) updateHeld(ctx context.Context, p *partition, change func(*msalcache.Document)) error {
	return i.reportOnce(p, i.applyHeld(ctx, p, change))
}

// apply applies change to p's stored document: under the lock, re-read,
// change, write. Unreadable data is replaced (starting from the last good
// view this process had).
func (i *impl) apply(ctx context.Context, p *partition, change func(*msalcache.Document)) error {
	unlock, err := i.lock(ctx, p)
	if err != nil {
		return err
	}
	defer unlock()
	return i.applyHeld(ctx, p, change)
}

// applyHeld is apply for a caller that holds p's lock.
func (i *impl) applyHeld(ctx context.Context, p *partition, change func(*msalcache.Document)) error {
	base := newSnapshot(msalcache.New(), "", [32]byte{})
	base.absent = true // not a clear: nothing readable to start from
	s, err := i.read(ctx, p, true)
	switch {
	case err == nil:
		base = s
	case errors.Is(err, ErrUnreadable):
		i.log.LogAttrs(ctx, slog.LevelWarn, "the persistent token cache is unreadable; replacing it", slog.String("path", i.where(p)), slog.Any("error", err))
		if g := p.good.Load(); g != nil {
			base = g
		}
	default:
		return err
	}
	// Whatever the base, this process's tokens go back in if it lacks them.
	missing := i.missingOwn(p, base)
	d := base.doc.Clone()
	for _, o := range missing {
		d.Put(msalcache.AccessToken, entryOf(o.key, o.tok))
	}
	change(d)
	now := i.now().Unix()
	d.PruneExpired(now)
	data, err := d.Marshal()
	if err != nil {
		return err
	}
	if err := i.st.Write(ctx, p.name, data, latestExpiry(d)); err != nil {
		return err
	}
	var version string
	if i.ver != nil {
		version, _ = i.ver.Version(ctx, p.name)
	}
	ns := newSnapshot(d, version, sha256.Sum256(data))
	p.snap.Store(ns)
	p.good.Store(ns)
	return nil
}

func latestExpiry(d *msalcache.Document) time.Time {
	var latest int64
	d.Entries(msalcache.AccessToken, func(e *msalcache.Entry) bool {
		latest = max(latest, e.ExpiresOn)
		return true
	})
	if latest == 0 {
		return time.Time{}
	}
	return time.Unix(latest, 0)
}

// tokenStore is the engine's view: access tokens.
type tokenStore struct{ i *impl }

func (t tokenStore) partitionOf(k tokencache.Key) *partition {
	if t.i.part != nil {
		return t.i.partition(t.i.part.Partition(PartitionKey{
			Environment: k.Authority, ClientID: k.ClientID, TenantID: k.TenantID,
			Resource: resourceOf(k.Scopes), UserAssertionHash: k.AssertionHash,
			HomeAccountID: k.Account, CAE: k.CAE,
		}))
	}
	if k.CAE {
		return t.i.partition(t.i.name + ".cae")
	}
	return t.i.partition(t.i.name)
}

// resourceOf is the audience of the first scope that names one
// ("https://vault.azure.net/.default" → "https://vault.azure.net").
func resourceOf(scopes []string) string {
	for _, s := range scopes {
		if j := strings.LastIndex(s, "/"); j > 0 && strings.Contains(s[:j], "://") {
			return s[:j]
		}
	}
	return ""
}

func query(k tokencache.Key) msalcache.TokenQuery {
	return msalcache.TokenQuery{
		HomeAccountID: k.Account, Environment: k.Authority, ClientID: k.ClientID, Realm: k.TenantID,
		Scopes: k.Scopes, UserAssertionHash: k.AssertionHash, Identity: k.Identity,
	}
}

// Load implements tokencache.Store.
func (t tokenStore) Load(ctx context.Context, k tokencache.Key) (tokencache.Stored, bool, error) {
	return t.load(ctx, k, t.partitionOf(k), false)
}

// load is Load from p; held says the caller holds p's lock.
func (t tokenStore) load(ctx context.Context, k tokencache.Key, p *partition, held bool) (tokencache.Stored, bool, error) {
	s, err := t.i.loadVersioned(ctx, p, true, held)
	if err != nil {
		return tokencache.Stored{}, false, err
	}
	e := s.index().Find(query(k))
	if e == nil || e.ExpiresOn == 0 {
		return tokencache.Stored{}, false, nil
	}
	st := tokencache.Stored{AccessToken: e.Secret, ExpiresOn: time.Unix(e.ExpiresOn, 0)}
	if e.CachedAt > 0 {
		st.CachedAt = time.Unix(e.CachedAt, 0)
	}
	if e.RefreshOn > 0 {
		st.RefreshOn = time.Unix(e.RefreshOn, 0)
	}
	return st, true, nil
}

// entryOf is the MSAL entry of k's token.
func entryOf(k tokencache.Key, tok tokencache.Stored) *msalcache.Entry {
	e := &msalcache.Entry{
		HomeAccountID: k.Account, Environment: k.Authority, Realm: k.TenantID, ClientID: k.ClientID,
		CredentialType: "AccessToken", Secret: tok.AccessToken, Target: k.ScopeString(),
		CachedAt: tok.CachedAt.Unix(), ExpiresOn: tok.ExpiresOn.Unix(), ExtendedExpiresOn: tok.ExpiresOn.Unix(),
		TokenType: "Bearer", UserAssertionHash: k.AssertionHash,
	}
	if !tok.RefreshOn.IsZero() {
		e.RefreshOn = tok.RefreshOn.Unix()
	}
	if k.Identity != "" {
		id, _ := json.Marshal(k.Identity)
		e.Extra = map[string]json.RawMessage{msalcache.IdentityField: id}
	}
	return e
}

// Save implements tokencache.Store.
func (t tokenStore) Save(ctx context.Context, k tokencache.Key, tok tokencache.Stored) error {
	return t.save(ctx, k, tok, t.partitionOf(k), false)
}

// save is Save to p; held says the caller holds p's lock.
func (t tokenStore) save(ctx context.Context, k tokencache.Key, tok tokencache.Stored, p *partition, held bool) error {
	e := entryOf(k, tok)
	q := query(k)
	update := t.i.update
	if held {
		update = t.i.updateHeld
	}
	err := update(ctx, p, func(d *msalcache.Document) {
		// Drop other entries with the same identity (written by another
		// program under another scope order or letter case) so that exactly
		// one remains.
		d.Delete(msalcache.AccessToken, q.Matches)
		d.Put(msalcache.AccessToken, e)
	})
	if err == nil {
		p.remember(k, tok)
	}
	return err
}

// Delete implements tokencache.DeletingStore: it drops k's stored token if
// it is still token (a resource rejected it), and keeps a newer one.
func (t tokenStore) Delete(ctx context.Context, k tokencache.Key, token string) error {
	p := t.partitionOf(k)
	p.forget(k)
	s, err := t.i.load(ctx, p)
	if err != nil {
		return err
	}
	if e := s.index().Find(query(k)); e == nil || e.Secret != token {
		return nil
	}
	q := query(k)
	return t.i.update(ctx, p, func(d *msalcache.Document) {
		d.Delete(msalcache.AccessToken, func(e *msalcache.Entry) bool { return q.Matches(e) && e.Secret == token })
	})
}

// Lock implements tokencache.LockingStore. For partitioned storages (a
// fleet's Redis), it holds k's partition lock so that of many instances
// missing the same key, one acquires it and the others read its result.
// For a single-blob storage (a file) it holds nothing: holding the one lock
// across a network call would serialise every miss of every process.
func (t tokenStore) Lock(ctx context.Context, k tokencache.Key) (tokencache.StoreLock, error) {
	l := &storeLock{t: t, k: k, unlock: func() {}}
	if t.i.part == nil {
		return l, nil
	}
	p := t.partitionOf(k)
	unlock, err := t.i.lock(ctx, p)
	if err != nil {
		return nil, err
	}
	l.p, l.unlock = p, unlock
	return l, nil
}

// storeLock is tokenStore's tokencache.StoreLock. p is the held partition,
// nil when nothing is held (a single-blob storage).
type storeLock struct {
	t      tokenStore
	k      tokencache.Key
	p      *partition
	once   sync.Once
	unlock func()
}

// holds reports whether l holds i's partition named name. It compares
// names: the partition may have been evicted and made anew meanwhile.
func (l *storeLock) holds(i *impl, name string) bool {
	return l.t.i == i && l.p != nil && l.p.name == name
}

// Load implements tokencache.StoreLock.
func (l *storeLock) Load(ctx context.Context) (tokencache.Stored, bool, error) {
	if l.p == nil {
		return l.t.Load(ctx, l.k)
	}
	return l.t.load(ctx, l.k, l.p, true)
}

// Save implements tokencache.StoreLock.
func (l *storeLock) Save(ctx context.Context, tok tokencache.Stored) error {
	if l.p == nil {
		return l.t.Save(ctx, l.k, tok)
	}
	return l.t.save(ctx, l.k, tok, l.p, true)
}

// Unlock implements tokencache.StoreLock.
func (l *storeLock) Unlock() { l.once.Do(l.unlock) }

var (
	_ tokencache.Store         = tokenStore{}
	_ tokencache.DeletingStore = tokenStore{}
	_ tokencache.LockingStore  = tokenStore{}
)
