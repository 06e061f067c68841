package authority

import (
	"net/url"
	"strings"
	"testing"
)

func TestValidateTenantID(t *testing.T) {
	for _, id := range []string{"common", "organizations", "consumers", "adfs", "contoso.onmicrosoft.com",
		"72f988bf-86f1-41af-91ab-2d7cd011db47", "A-b.C", "x.."} {
		if err := ValidateTenantID(id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", "...", "../x", "..%2fx", "t?x=1", "t#x", "t/oauth2", `t\x`, "t x", "t\n",
		"tenant\x00", "tеnant" /* Cyrillic е */, "ténant", "t_x", "t@x", "t:x", "%2e%2e", strings.Repeat("é", 200)} {
		err := ValidateTenantID(id)
		if err == nil {
			t.Errorf("%q: want error", id)
			continue
		}
		if !strings.Contains(err.Error(), "https://learn.microsoft.com/partner-center/find-ids-and-domain-names") {
			t.Errorf("%q: error doesn't say how to find the tenant ID: %v", id, err)
		}
		if len(err.Error()) > 400 {
			t.Errorf("%q: error too long (%d bytes)", id, len(err.Error()))
		}
	}
}

func TestValidTenantStaysOnePathSegment(t *testing.T) {
	host, _ := url.Parse("https://login.microsoftonline.com/")
	for _, id := range []string{"common", "contoso.onmicrosoft.com", "x.."} {
		if ValidateTenantID(id) != nil {
			continue
		}
		u, err := url.Parse(TokenEndpoint(host, id))
		if err != nil || u.Host != host.Host || u.Path != "/"+id+"/oauth2/v2.0/token" || u.RawQuery != "" || u.Fragment != "" {
			t.Errorf("%q: endpoint %v, %v", id, u, err)
		}
	}
}

func TestTokenEndpoint(t *testing.T) {
	host, _ := url.Parse("https://login.microsoftonline.com/")
	if got := TokenEndpoint(host, "contoso"); got != "https://login.microsoftonline.com/contoso/oauth2/v2.0/token" {
		t.Errorf("got %q", got)
	}
	adfs, _ := url.Parse("https://adfs.contoso.com/")
	for _, tenant := range []string{"adfs", "ADFS"} {
		if got := TokenEndpoint(adfs, tenant); got != "https://adfs.contoso.com/adfs/oauth2/token" {
			t.Errorf("%q: got %q", tenant, got)
		}
	}
	local, _ := url.Parse("http://127.0.0.1:8080/")
	if got := TokenEndpoint(local, "t"); got != "http://127.0.0.1:8080/t/oauth2/v2.0/token" {
		t.Errorf("got %q", got)
	}
	// Defence in depth: an unvalidated tenant still cannot leave its segment.
	if got := TokenEndpoint(host, "a/b?c#d"); got != "https://login.microsoftonline.com/a%2Fb%3Fc%23d/oauth2/v2.0/token" {
		t.Errorf("got %q", got)
	}
}

func TestTrustedHost(t *testing.T) {
	for _, h := range []string{"login.microsoftonline.com", "LOGIN.MicrosoftOnline.com", "login.microsoft.com", "login.windows.net", "sts.windows.net",
		"login.chinacloudapi.cn", "login.partner.microsoftonline.cn", "login.microsoftonline.us", "login-us.microsoftonline.com",
		"login.usgovcloudapi.net", "login.microsoftonline.de", "login.sovcloud-identity.fr", "login.sovcloud-identity.de", "login.sovcloud-identity.sg"} {
		if !TrustedHost(h) {
			t.Errorf("%q should be trusted", h)
		}
	}
	for _, h := range []string{"", "login.microsoftonline.com.evil.com", "evil.login.microsoftonline.com", "login.microsoftonline.com:443",
		"localhost", "127.0.0.1", "login.contoso.com"} {
		if TrustedHost(h) {
			t.Errorf("%q should not be trusted", h)
		}
	}
}
