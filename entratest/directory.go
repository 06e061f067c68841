package entratest

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// directory is the emulator's view of Entra's directory: which tenants
// exist and which apps are provisioned in each. IDs are compared
// case-insensitively, as Entra does (and MSAL lower-cases the tenant in the
// URL anyway).
type directory struct {
	mu        sync.RWMutex
	byClient  map[string][]*App // lower-case client ID → registrations
	tenants   map[string]bool   // lower-case tenant IDs that exist
	anyTenant bool              // some app allows "*"
	info      map[string]Tenant // configured tenants (tenants.go), by lower-case ID
}

func newDirectory() *directory {
	return &directory{byClient: make(map[string][]*App), tenants: make(map[string]bool)}
}

// add registers a copy of a. Validation is strict because a typo in a test
// setup should fail loudly, not turn into a puzzling AADSTS700016 later.
func (d *directory) add(a App) error {
	if a.TenantID == "" || a.ClientID == "" {
		return errors.New("app needs a TenantID and a ClientID")
	}
	if !validTenantID(a.TenantID) || isSpecialTenant(a.TenantID) {
		return fmt.Errorf("app tenant ID %q is not a tenant ID", a.TenantID)
	}
	if !validTenantID(a.ClientID) {
		return fmt.Errorf("app client ID %q is malformed", a.ClientID)
	}
	for _, t := range a.AllowedTenants {
		if t != "*" && (!validTenantID(t) || isSpecialTenant(t)) {
			return fmt.Errorf("allowed tenant %q of app %s is not a tenant ID", t, a.ClientID)
		}
	}
	a.TenantID = strings.ToLower(a.TenantID)
	a.AllowedTenants = append([]string(nil), a.AllowedTenants...)
	// Copies, so a test changing its slices later does not race with
	// requests being served.
	a.Certificates = append([]*x509.Certificate(nil), a.Certificates...)
	a.FederatedCredentials = append([]FederatedCredential(nil), a.FederatedCredentials...)
	for i, t := range a.AllowedTenants {
		a.AllowedTenants[i] = strings.ToLower(t)
	}
	key := strings.ToLower(a.ClientID)

	d.mu.Lock()
	defer d.mu.Unlock()
	for _, old := range d.byClient[key] {
		if old.TenantID == a.TenantID {
			return fmt.Errorf("app %s is already registered in tenant %s", a.ClientID, a.TenantID)
		}
	}
	d.byClient[key] = append(d.byClient[key], &a)
	d.tenants[a.TenantID] = true
	for _, t := range a.AllowedTenants {
		if t == "*" {
			d.anyTenant = true
		} else {
			d.tenants[t] = true
		}
	}
	return nil
}

// tenantExists reports whether tenant (lower-case) exists.
func (d *directory) tenantExists(tenant string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.tenants[tenant] || (d.anyTenant && isGUID(tenant))
}

// lookup finds the registration of clientID usable in tenant (both
// lower-case): the app's home tenant, or a tenant it is provisioned in.
// A home registration wins over a multi-tenant one from elsewhere.
func (d *directory) lookup(tenant, clientID string) (App, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var guest *App
	for _, a := range d.byClient[strings.ToLower(clientID)] {
		if a.TenantID == tenant {
			return *a, true
		}
		for _, t := range a.AllowedTenants {
			if t == tenant || (t == "*" && isGUID(tenant)) {
				guest = a
			}
		}
	}
	if guest != nil {
		return *guest, true
	}
	return App{}, false
}

// secretMatches compares secrets in constant time, so the emulator does
// not teach bad habits to code copied from it.
func secretMatches(want, got string) bool {
	if want == "" {
		return false // an app without a secret accepts none
	}
	w, g := sha256.Sum256([]byte(want)), sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(w[:], g[:]) == 1
}

// isSpecialTenant reports whether tenant is one of Entra's multi-tenant
// aliases, which name an audience rather than a directory.
func isSpecialTenant(tenant string) bool {
	switch strings.ToLower(tenant) {
	case "common", "organizations", "consumers":
		return true
	}
	return false
}

// validTenantID reports whether s can be a tenant (or client) ID: the
// characters Entra allows in the path segment, which are also those
// azidentity accepts.
func validTenantID(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// ServicePrincipalID returns the object ID (the oid and sub claims) of the
// service principal of app clientID in tenant, as the emulator issues it.
// Entra gives an app a different service principal in every tenant it is
// provisioned in; the emulator derives the ID from both IDs, which
// reproduces that and keeps it stable across runs, so a test can compare a
// token's oid with it (say, to check role assignments keyed on oid).
func ServicePrincipalID(tenant, clientID string) string {
	sum := sha256.Sum256([]byte("entratest-sp\x00" + strings.ToLower(tenant) + "\x00" + strings.ToLower(clientID)))
	var b [16]byte
	copy(b[:], sum[:16])
	b[6] = b[6]&0x0f | 0x50 // version 5 style: name-based
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b)
}
