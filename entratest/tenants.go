package entratest

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
)

// Tenant describes a tenant of the emulator beyond its ID. Tenants exist
// when an app is registered in them or when they are listed in
// [Options.Tenants] (or added with [Server.AddTenant]); a listed tenant
// needs no app, which is how a user's home tenant or an empty customer
// tenant is set up.
type Tenant struct {
	// ID is the tenant (directory) ID, GUID-shaped.
	ID string

	// DisplayName is the name ARM's /tenants lists. Default: "entratest
	// tenant" and the start of the ID.
	DisplayName string

	// Domains are the tenant's verified domains, e.g.
	// "contoso.onmicrosoft.com"; the first is the default domain. The user
	// realm endpoint calls users in these domains managed accounts.
	Domains []string

	// Subscriptions are the Azure subscriptions ARM lists in this
	// tenant. Nil gives the tenant one subscription (ID from
	// [DefaultSubscriptionID]), which is what the Azure CLI wants after
	// a login; a non-nil empty slice gives none, for testing
	// "az login --allow-no-subscriptions".
	Subscriptions []Subscription
}

// Subscription is an Azure subscription as ARM's /subscriptions lists it.
type Subscription struct {
	// ID is the subscription ID, GUID-shaped.
	ID string
	// DisplayName defaults to "entratest subscription".
	DisplayName string
}

// DefaultSubscriptionID returns the ID of the subscription a tenant gets
// when its subscriptions are not configured. It is derived from the tenant
// ID, so it is stable across runs and tests can expect it.
func DefaultSubscriptionID(tenant string) string {
	sum := sha256.Sum256([]byte("entratest-subscription\x00" + strings.ToLower(tenant)))
	var b [16]byte
	copy(b[:], sum[:16])
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b)
}

// withDefaults validates t and fills its defaults, lower-casing IDs and
// domains as Entra compares them.
func (t Tenant) withDefaults() (Tenant, error) {
	if !isGUID(t.ID) {
		return Tenant{}, fmt.Errorf("tenant ID %q is not a GUID", t.ID)
	}
	t.ID = strings.ToLower(t.ID)
	if t.DisplayName == "" {
		t.DisplayName = "entratest tenant " + t.ID[:8]
	}
	domains := make([]string, 0, len(t.Domains))
	for _, d := range t.Domains {
		d = strings.ToLower(d)
		if !validDomain(d) {
			return Tenant{}, fmt.Errorf("domain %q of tenant %s is not a DNS name", d, t.ID)
		}
		domains = append(domains, d)
	}
	t.Domains = domains
	if t.Subscriptions == nil {
		t.Subscriptions = []Subscription{{ID: DefaultSubscriptionID(t.ID)}}
	} else {
		t.Subscriptions = slices.Clone(t.Subscriptions)
	}
	for i, sub := range t.Subscriptions {
		if !isGUID(sub.ID) {
			return Tenant{}, fmt.Errorf("subscription ID %q in tenant %s is not a GUID", sub.ID, t.ID)
		}
		sub.ID = strings.ToLower(sub.ID)
		if sub.DisplayName == "" {
			sub.DisplayName = "entratest subscription"
		}
		t.Subscriptions[i] = sub
	}
	return t, nil
}

// validDomain accepts DNS names with at least two labels made of letters,
// digits and hyphens.
func validDomain(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// AddTenant creates a tenant (or describes one that exists through an app)
// while the server runs. It fails when the IDs are not GUIDs, a domain is
// not a DNS name, the tenant was already added, or a domain belongs to
// another tenant.
func (s *Server) AddTenant(t Tenant) error {
	if err := s.dir.addTenant(t); err != nil {
		return fmt.Errorf("entratest: %w", err)
	}
	return nil
}

func (d *directory) addTenant(t Tenant) error {
	t, err := t.withDefaults()
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.info[t.ID]; ok {
		return fmt.Errorf("tenant %s is already configured", t.ID)
	}
	for id, other := range d.info {
		for _, dom := range t.Domains {
			if slices.Contains(other.Domains, dom) {
				return fmt.Errorf("domain %s of tenant %s already belongs to tenant %s", dom, t.ID, id)
			}
		}
	}
	if d.info == nil {
		d.info = make(map[string]Tenant)
	}
	d.info[t.ID] = t
	d.tenants[t.ID] = true
	return nil
}

// tenant returns the description of an existing tenant (lower-case ID):
// the configured one, or defaults for a tenant that exists through an app.
func (d *directory) tenant(id string) (Tenant, bool) {
	d.mu.RLock()
	info, configured := d.info[id]
	d.mu.RUnlock()
	if configured {
		return info, true
	}
	if !d.tenantExists(id) {
		return Tenant{}, false
	}
	t, err := Tenant{ID: id}.withDefaults()
	return t, err == nil
}

// domainTenant returns the tenant that owns a verified domain.
func (d *directory) domainTenant(domain string) (string, bool) {
	domain = strings.ToLower(domain)
	d.mu.RLock()
	defer d.mu.RUnlock()
	for id, t := range d.info {
		if slices.Contains(t.Domains, domain) {
			return id, true
		}
	}
	return "", false
}
