package authority

import (
	"slices"
	"strings"
	"testing"
)

func TestResolveTenant(t *testing.T) {
	const def, other = "default-tenant", "other-tenant"
	tests := []struct {
		name          string
		defaultTenant string
		requested     string
		allowed       []string
		want          string
		wantErr       []string
	}{
		{name: "no request gives default", defaultTenant: def, want: def},
		{name: "no request, no default", want: ""},
		{name: "request equals default", defaultTenant: def, requested: def, want: def},
		{name: "request equals default ignoring case", defaultTenant: def, requested: "DEFAULT-TENANT", want: def},
		{name: "other tenant not allowed", defaultTenant: def, requested: other,
			wantErr: []string{"TestCredential", `"other-tenant"`, "AdditionallyAllowedTenants", `"*"`}},
		{name: "other tenant allowed", defaultTenant: def, requested: other, allowed: []string{"x", other}, want: other},
		{name: "other tenant allowed ignoring case", defaultTenant: def, requested: other, allowed: []string{"OTHER-TENANT"}, want: other},
		{name: "wildcard", defaultTenant: def, requested: other, allowed: []string{"*"}, want: other},
		{name: "not in list", defaultTenant: def, requested: other, allowed: []string{"x"}, wantErr: []string{"isn't configured"}},
		{name: "no default, no list: anything", requested: other, want: other},
		{name: "organizations, no list: anything", defaultTenant: "organizations", requested: other, want: other},
		{name: "no default but a list restricts", requested: other, allowed: []string{"x"}, wantErr: []string{"isn't configured"}},
		{name: "organizations with a list restricts", defaultTenant: "organizations", requested: other, allowed: []string{"x"}, wantErr: []string{"isn't configured"}},
		{name: "common is not organizations", defaultTenant: "common", requested: other, wantErr: []string{"isn't configured"}},
		{name: "adfs rejects other tenants", defaultTenant: "adfs", requested: other, allowed: []string{"*"}, wantErr: []string{"ADFS"}},
		{name: "adfs accepts itself", defaultTenant: "adfs", requested: "adfs", want: "adfs"},
		{name: "invalid requested tenant", defaultTenant: def, requested: "../evil", allowed: []string{"*"}, wantErr: []string{"invalid tenant ID"}},
		{name: "invalid requested tenant with no default", requested: "t?x=1", wantErr: []string{"invalid tenant ID"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveTenant(tt.defaultTenant, tt.requested, "TestCredential", tt.allowed)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("got %q, want error", got)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestNormalizeAllowedTenants(t *testing.T) {
	if NormalizeAllowedTenants(nil) != nil || NormalizeAllowedTenants([]string{}) != nil {
		t.Error("empty must give nil")
	}
	if got := NormalizeAllowedTenants([]string{"a", "*", "b"}); !slices.Equal(got, []string{"*"}) {
		t.Errorf("got %v", got)
	}
	in := []string{"a", "b"}
	got := NormalizeAllowedTenants(in)
	in[0] = "changed"
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("not a copy: %v", got)
	}
}

func TestTenantsResolve(t *testing.T) {
	tn := NewTenants("TestCredential", "Contoso.com", nil)
	if tn.Default() != "contoso.com" {
		t.Fatalf("Default() = %q, want the tenant lower-cased", tn.Default())
	}
	for _, req := range []string{"", "contoso.com", "CONTOSO.COM"} {
		if got, err := tn.Resolve(req); err != nil || got != "contoso.com" {
			t.Errorf("Resolve(%q) = %q, %v; want the default", req, got, err)
		}
	}
	if _, err := tn.Resolve("fabrikam.com"); err == nil {
		t.Error("Resolve accepted a tenant that is not allowed")
	}
	in := []string{"fabrikam.com"}
	tn = NewTenants("TestCredential", "contoso.com", in)
	in[0] = "evil.com"
	if got, err := tn.Resolve("fabrikam.com"); err != nil || got != "fabrikam.com" {
		t.Errorf("Resolve(allowed tenant) = %q, %v", got, err)
	}
	if _, err := tn.Resolve("evil.com"); err == nil {
		t.Error("a change to the caller's slice altered the rules")
	}
}
