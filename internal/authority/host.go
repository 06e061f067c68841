package authority

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
)

// PublicCloudHost is the authority host of the Azure public cloud, used when
// neither the cloud configuration nor the environment names another.
const PublicCloudHost = "https://login.microsoftonline.com/"

// EnvAuthorityHost is the environment variable that overrides the default
// authority host, as it does for azidentity and the Azure CLI.
const EnvAuthorityHost = "AZURE_AUTHORITY_HOST"

// HostOptions adjusts Host.
type HostOptions struct {
	// AllowInsecureLoopback accepts an http:// host when it is a loopback IP or
	// "localhost", so that tests can run a local Entra emulator without TLS.
	// Any other http host is refused: credentials would cross the network in
	// the clear.
	AllowInsecureLoopback bool
}

// Host resolves the authority host for a credential: cfg.ActiveDirectoryAuthorityHost,
// else getenv(AZURE_AUTHORITY_HOST), else PublicCloudHost. As in azidentity, a
// configuration that lists Services but no authority host is an error, since it
// describes some other cloud whose Entra we would otherwise miss. A nil getenv
// means os.Getenv.
//
// The host must be an absolute https URL with a host name and nothing else: no
// user information, query, fragment or path (the tenant is the credential's
// business, and a path here would silently become the tenant). The result is
// normalised: lower-case host, default port dropped, path "/".
func Host(cfg cloud.Configuration, getenv func(string) string, o HostOptions) (*url.URL, error) {
	raw := cfg.ActiveDirectoryAuthorityHost
	source := "cloud configuration ActiveDirectoryAuthorityHost"
	if raw == "" {
		if len(cfg.Services) > 0 {
			return nil, errors.New("authority: the cloud configuration has Services but no ActiveDirectoryAuthorityHost; set ActiveDirectoryAuthorityHost to the cloud's Entra ID host")
		}
		if getenv == nil {
			getenv = os.Getenv
		}
		raw, source = getenv(EnvAuthorityHost), EnvAuthorityHost
		if raw == "" {
			raw, source = PublicCloudHost, "default authority host"
		}
	}
	u, err := parseHost(raw, o)
	if err != nil {
		return nil, fmt.Errorf("authority: invalid authority host %q (from %s): %w", raw, source, err)
	}
	return u, nil
}

// parseHost checks and normalises one authority host URL.
func parseHost(raw string, o HostOptions) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// The url.Error would repeat raw, which the caller already quotes.
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, ue.Err
		}
		return nil, err
	}
	switch {
	case !u.IsAbs() || u.Host == "":
		return nil, errors.New(`it must be an absolute URL such as "https://login.microsoftonline.com/"`)
	case u.User != nil:
		return nil, errors.New("it must not contain user information")
	case u.RawQuery != "" || u.ForceQuery:
		return nil, errors.New("it must not have a query")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, errors.New("it must not have a fragment")
	case u.Path != "" && u.Path != "/":
		return nil, fmt.Errorf("it must not have a path (%q); give the tenant as the credential's tenant ID instead", u.Path)
	}
	hostname := strings.ToLower(u.Hostname())
	if err := checkHostname(hostname); err != nil {
		return nil, err
	}
	port := u.Port()
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port %q is not valid", port)
		}
	}
	switch u.Scheme {
	case "https":
		if port == "443" {
			port = ""
		}
	case "http":
		if !o.AllowInsecureLoopback || !isLoopback(hostname) {
			return nil, errors.New("it must use https: credentials would be sent in the clear")
		}
		if port == "80" {
			port = ""
		}
	default:
		return nil, fmt.Errorf("scheme %q is not supported; use https", u.Scheme)
	}
	host := hostname
	if strings.Contains(hostname, ":") {
		host = "[" + hostname + "]" // IPv6 literal
	}
	if port != "" {
		host = net.JoinHostPort(hostname, port)
	}
	return &url.URL{Scheme: u.Scheme, Host: host, Path: "/"}, nil
}

// checkHostname accepts DNS names and IP literals. Anything else (percent
// escapes, Unicode, IPv6 zones) is refused rather than guessed at: the host ends
// up in every token request URL.
func checkHostname(h string) error {
	if h == "" {
		return errors.New("it has no host name")
	}
	if ip := net.ParseIP(h); ip != nil {
		return nil
	}
	if strings.Contains(h, ":") {
		return fmt.Errorf("host %q is not a valid IP address", h)
	}
	for _, r := range h {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '.' || r == '_') {
			return fmt.Errorf("host %q may contain only ASCII letters, digits, '-', '_' and '.'", h)
		}
	}
	return nil
}
