package managedidentity

import (
	"strings"
	"testing"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestDetect(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want Source
	}{
		{map[string]string{"IDENTITY_ENDPOINT": "e", "IDENTITY_HEADER": "h"}, AppService},
		{map[string]string{"IDENTITY_ENDPOINT": "e", "IDENTITY_HEADER": "h", "IDENTITY_SERVER_THUMBPRINT": "t"}, ServiceFabric},
		{map[string]string{"IDENTITY_ENDPOINT": "e", "IDENTITY_HEADER": "h", "MSI_ENDPOINT": "m", "MSI_SECRET": "s", "IMDS_ENDPOINT": "i"}, AppService},
		{map[string]string{"MSI_ENDPOINT": "m", "MSI_SECRET": "s"}, AzureML},
		{map[string]string{"MSI_ENDPOINT": "m"}, CloudShell},
		{map[string]string{"MSI_ENDPOINT": "m", "IDENTITY_ENDPOINT": "e", "IMDS_ENDPOINT": "i"}, CloudShell},
		{map[string]string{"IDENTITY_ENDPOINT": "e", "IMDS_ENDPOINT": "i"}, AzureArc},
		{map[string]string{"IDENTITY_ENDPOINT": "e"}, IMDS},
		{map[string]string{"IMDS_ENDPOINT": "i"}, IMDS},
		{nil, IMDS},
	}
	for _, c := range cases {
		o := Options{Getenv: env(c.env), ArcAgentPath: "-"}
		if got := detect(&o); got != c.want {
			t.Errorf("%v: %s, want %s", c.env, got, c.want)
		}
	}
}

func TestDetectArcAgent(t *testing.T) {
	agent := t.TempDir() + "/himds"
	o := Options{Getenv: env(nil), ArcAgentPath: agent}
	if detect(&o) != IMDS {
		t.Fatal("no agent file, yet Arc")
	}
	writeFile(t, agent, "x")
	if detect(&o) != AzureArc {
		t.Fatal("the agent is installed, yet not Arc")
	}
	c, err := New(Options{Getenv: env(nil), ArcAgentPath: agent, ArcKeyDir: t.TempDir()})
	if err != nil || c.Endpoint() != arcDefaultEndpoint {
		t.Fatalf("endpoint %v, err %v; want the agent's default", c, err)
	}
	if _, err := New(Options{Getenv: env(nil), ArcAgentPath: agent, GOOS: "darwin"}); err == nil || !strings.Contains(err.Error(), "Linux and Windows") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseEndpoint(t *testing.T) {
	ok := []string{
		"http://127.0.0.1:41741/msi/token", "http://localhost:50342/oauth2/token", "http://[::1]:1/x",
		"http://169.254.169.254", "http://169.254.129.2:8081/msi/token", "http://10.0.0.4:2579",
		"http://192.168.1.1", "http://[fe80::1]/", "https://example.com/token", "https://10.0.0.1/x",
	}
	for _, u := range ok {
		if _, err := parseEndpoint("X", u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	bad := map[string]string{
		"http://example.com/x": "plain http", "http://8.8.8.8/": "plain http", "ftp://127.0.0.1/": "http or https",
		"127.0.0.1:80": "http or https", "": "http or https", "https:///path": "http or https",
		"http://u:p@127.0.0.1/": "user name", "http://localhost.example.com/": "plain http",
	}
	for u, want := range bad {
		if _, err := parseEndpoint("X", u); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", u, err, want)
		}
	}
}

func TestParseThumbprint(t *testing.T) {
	const hex40 = "0123456789ABCDEF0123456789abcdef01234567"
	for _, s := range []string{hex40, " " + hex40 + "\n", "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:23:45:67"} {
		if b, err := ParseThumbprint(s); err != nil || len(b) != 20 {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "abc", hex40 + "00", strings.Repeat("zz", 20), strings.Repeat("ab", 32)} {
		if _, err := ParseThumbprint(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestIMDSEndpointPrecedence(t *testing.T) {
	cases := []struct {
		opt, envHost, want string
	}{
		{"", "", "http://169.254.169.254/metadata/identity/oauth2/token"},
		{"", "http://10.1.2.3:2579", "http://10.1.2.3:2579/metadata/identity/oauth2/token"},
		{"http://127.0.0.1:9/", "http://10.1.2.3:2579", "http://127.0.0.1:9/metadata/identity/oauth2/token"},
		{"http://127.0.0.1:9/relay", "", "http://127.0.0.1:9/relay/metadata/identity/oauth2/token"},
		{"http://127.0.0.1:9/metadata/identity/oauth2/token", "", "http://127.0.0.1:9/metadata/identity/oauth2/token"},
	}
	for _, c := range cases {
		cl, err := New(Options{Getenv: env(map[string]string{"AZURE_POD_IDENTITY_AUTHORITY_HOST": c.envHost}), IMDSEndpoint: c.opt, ArcAgentPath: "-"})
		if err != nil || cl.Endpoint() != c.want {
			t.Errorf("option %q, variable %q: %v, %v; want %s", c.opt, c.envHost, cl, err, c.want)
		}
	}
}

func TestIDString(t *testing.T) {
	if s := (ID{}).String(); s != "the system-assigned identity" {
		t.Fatal(s)
	}
	if s := (ID{Kind: ResourceID, Value: "/r"}).String(); s != `resource ID "/r"` {
		t.Fatal(s)
	}
}
