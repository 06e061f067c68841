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
// literal once), the credential's own tenant. When the tenant and the scope
// are the very same strings as last time (same address and length), the
// request is the same, and the entry is found without checking letter case,
// hashing or searching the index: a few loads and compares.
//
// A slot keeps its strings alive, so their memory cannot be reused for other
// text while the slot holds them; equal addresses therefore mean equal
// contents. Slots are written only on the slow path (a miss or a
// non-canonical request), so the hit path never allocates. Only the common
// shape is memoised: one scope, no claims, no account, assertion or identity.
type memo struct {
	slots [1 << memoBits]atomic.Pointer[memoSlot]
}

// memoSlot is immutable once published.
type memoSlot struct {
	tenant, scope string
	cae           bool
	e             *entry
}

func memoable(r *Request) bool {
	return len(r.Scopes) == 1 && r.Claims == "" && r.Account == "" && r.AssertionHash == "" && r.Identity == ""
}

func memoSlotFor(scope string) uintptr {
	p := uintptr(unsafe.Pointer(unsafe.StringData(scope)))
	return ((p >> 3) * 0x9E3779B97F4A7C15) >> (64 - memoBits)
}

// same reports whether a and b are the same string in memory.
func same(a, b string) bool {
	return len(a) == len(b) && unsafe.StringData(a) == unsafe.StringData(b)
}

// find returns the entry remembered for r, or nil. r must be memoable.
func (m *memo) find(r *Request) *entry {
	s := m.slots[memoSlotFor(r.Scopes[0])].Load()
	if s == nil || !same(s.scope, r.Scopes[0]) || !same(s.tenant, r.TenantID) || s.cae != r.EnableCAE || s.e.dead.Load() {
		return nil
	}
	return s.e
}

// remember records that r names e, unless its slot already says so.
func (m *memo) remember(r *Request, e *entry) {
	if !memoable(r) {
		return
	}
	slot := &m.slots[memoSlotFor(r.Scopes[0])]
	if s := slot.Load(); s != nil && s.e == e && same(s.scope, r.Scopes[0]) && same(s.tenant, r.TenantID) && s.cae == r.EnableCAE {
		return
	}
	slot.Store(&memoSlot{tenant: r.TenantID, scope: r.Scopes[0], cae: r.EnableCAE, e: e})
}
