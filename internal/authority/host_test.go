package authority

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestHost(t *testing.T) {
	custom := cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.contoso.com/"}
	tests := []struct {
		name    string
		cfg     cloud.Configuration
		env     map[string]string
		opts    HostOptions
		want    string
		wantErr string
	}{
		{name: "default", want: PublicCloudHost},
		{name: "env", env: map[string]string{EnvAuthorityHost: "https://login.microsoftonline.us"}, want: "https://login.microsoftonline.us/"},
		{name: "cloud config wins over env", cfg: custom, env: map[string]string{EnvAuthorityHost: "https://login.microsoftonline.us/"}, want: "https://login.contoso.com/"},
		{name: "azcore China cloud", cfg: cloud.AzureChina, want: "https://login.chinacloudapi.cn/"},
		{name: "services without host", cfg: cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{cloud.ResourceManager: {}}},
			env: map[string]string{EnvAuthorityHost: "https://login.microsoftonline.us/"}, wantErr: "has Services but no ActiveDirectoryAuthorityHost"},
		{name: "normalised", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: " HTTPS://Login.Contoso.COM:443 "}, want: "https://login.contoso.com/"},
		{name: "custom port kept", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://adfs.local:8443/"}, want: "https://adfs.local:8443/"},
		{name: "IPv6", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://[::1]:9443"}, want: "https://[::1]:9443/"},
		{name: "http refused", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "http://login.contoso.com/"}, wantErr: "must use https"},
		{name: "http loopback refused without opt-in", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "http://127.0.0.1:8080/"}, wantErr: "must use https"},
		{name: "http loopback with opt-in", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "http://127.0.0.1:8080"}, opts: HostOptions{AllowInsecureLoopback: true}, want: "http://127.0.0.1:8080/"},
		{name: "http localhost with opt-in", env: map[string]string{EnvAuthorityHost: "http://LOCALHOST:80/"}, opts: HostOptions{AllowInsecureLoopback: true}, want: "http://localhost/"},
		{name: "http IPv6 loopback with opt-in", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "http://[::1]:8080/"}, opts: HostOptions{AllowInsecureLoopback: true}, want: "http://[::1]:8080/"},
		{name: "http non-loopback even with opt-in", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "http://login.contoso.com/"}, opts: HostOptions{AllowInsecureLoopback: true}, wantErr: "must use https"},
		{name: "http name resolving to loopback", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "http://localhost.contoso.com/"}, opts: HostOptions{AllowInsecureLoopback: true}, wantErr: "must use https"},
		{name: "relative", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "login.contoso.com"}, wantErr: "absolute URL"},
		{name: "no host", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "https:///tenant"}, wantErr: "absolute URL"},
		{name: "scheme", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "ftp://login.contoso.com/"}, wantErr: `scheme "ftp"`},
		{name: "userinfo", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://me:pw@login.contoso.com/"}, wantErr: "user information"},
		{name: "query", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.contoso.com/?x=1"}, wantErr: "query"},
		{name: "empty query", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.contoso.com/?"}, wantErr: "query"},
		{name: "fragment", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.contoso.com/#x"}, wantErr: "fragment"},
		{name: "empty fragment", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.contoso.com/#"}, wantErr: "fragment"},
		{name: "path", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.microsoftonline.com/common"}, wantErr: "must not have a path"},
		{name: "bad port", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.contoso.com:99999/"}, wantErr: "port"},
		{name: "unicode host", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://lоgin.contoso.com/"}, wantErr: "ASCII"},
		{name: "escaped host", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://l%C3%A9gin.contoso.com/"}, wantErr: "ASCII"},
		{name: "IPv6 zone", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://[fe80::1%25eth0]/"}, wantErr: "IP address"},
		{name: "unparsable", cfg: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login contoso/"}, wantErr: "invalid authority host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := Host(tt.cfg, env(tt.env), tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want error containing %q", u, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.String() != tt.want {
				t.Fatalf("got %q, want %q", u, tt.want)
			}
		})
	}
}

func TestHostNilGetenvUsesEnvironment(t *testing.T) {
	t.Setenv(EnvAuthorityHost, "https://login.microsoftonline.us/")
	u, err := Host(cloud.Configuration{}, nil, HostOptions{})
	if err != nil || u.String() != "https://login.microsoftonline.us/" {
		t.Fatalf("got %v, %v", u, err)
	}
}
