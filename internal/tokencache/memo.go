package tokencache

import (
	"sync/atomic"
	"unsafe"
)

// memoBits sets the number of memo slots.
const memoBits = 6

// memo remembers which entry recent call sites asked for, keyed by the
// identity of the strings they passed rather than their content. Most
// callers pass the same strings on every call: a scope held by an Azure SDK
// client's bearer token policy, a string literal (the linker stores each
// literal once), the credential's own tenant, an on-behalf-of credential's
// assertion hash. When every string is the very same as last time (same
// address and length), the request is the same, and the entry is found
// without checking letter case, hashing or searching the index: a few loads
// and compares. That is what makes a request in the caller's letter case
// ("User.Read"), which the index can only find by folding case, as cheap as
// a canonical one.
//
// A slot keeps its strings alive, so their memory cannot be reused for other
// text while the slot holds them; equal addresses therefore mean equal
// contents. Slots are written only on the slow path (a miss or a request
// the index cannot serve as it is), so the hit path never allocates. Only
// requests with one scope string and no claims are memoised.
type memo struct {
	// tags[i] is the address mix (see memoTag) of slots[i]'s strings. A
	// lookup compares it first: it sits in a small, always-cached array,
	// so a request that is not memoised (a user among thousands, whose
	// slot another request took) is turned away without a cache miss on
	// the slot. Tag and slot are written separately; a reader that sees
	// them out of step either compares the slot in full or gives up, both
	// correct.
	tags  [1 << memoBits]atomic.Uintptr
	slots [1 << memoBits]atomic.Pointer[memoSlot]
}

// memoSlot is immutable once published.
type memoSlot struct {
	tenant, scope                    string
	account, assertionHash, identity string
	cae                              bool
	e                                *entry
}

func memoable(r *Request) bool {
	return len(r.Scopes) == 1 && r.Claims == ""
}

// memoTag mixes the addresses of the scope and, for on-behalf-of, the
// assertion hash; its top bits pick the slot, so that many users asking for
// one scope do not all compete for one slot.
func memoTag(r *Request) uintptr {
	p := uintptr(unsafe.Pointer(unsafe.StringData(r.Scopes[0])))
	if r.AssertionHash != "" {
		p ^= uintptr(unsafe.Pointer(unsafe.StringData(r.AssertionHash))) * 31
	}
	return (p >> 3) * 0x9E3779B97F4A7C15
}

func memoSlotOf(tag uintptr) uintptr { return tag >> (64 - memoBits) }

// same reports whether a and b are the same string in memory. Empty strings
// are all the same, wherever their (unused) pointer points.
func same(a, b string) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.StringData(a) == unsafe.StringData(b))
}

func (s *memoSlot) names(r *Request) bool {
	return same(s.scope, r.Scopes[0]) && same(s.tenant, r.TenantID) && s.cae == r.EnableCAE &&
		same(s.assertionHash, r.AssertionHash) && same(s.account, r.Account) && same(s.identity, r.Identity)
}

// find returns the entry remembered for r, or nil. r must be memoable.
func (m *memo) find(r *Request) *entry {
	tag := memoTag(r)
	i := memoSlotOf(tag)
	if m.tags[i].Load() != tag {
		return nil
	}
	s := m.slots[i].Load()
	if s == nil || !s.names(r) || s.e.dead.Load() {
		return nil
	}
	return s.e
}

// remember records that r names e, unless its slot already says so.
func (m *memo) remember(r *Request, e *entry) {
	if !memoable(r) {
		return
	}
	tag := memoTag(r)
	i := memoSlotOf(tag)
	if s := m.slots[i].Load(); s != nil && s.e == e && s.names(r) && m.tags[i].Load() == tag {
		return
	}
	m.slots[i].Store(&memoSlot{tenant: r.TenantID, scope: r.Scopes[0], cae: r.EnableCAE,
		account: r.Account, assertionHash: r.AssertionHash, identity: r.Identity, e: e})
	m.tags[i].Store(tag)
}
