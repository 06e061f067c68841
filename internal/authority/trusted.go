package authority

import "strings"

// TrustedHost reports whether host (a host name, without port) is one of the
// Entra authority hosts Microsoft publishes for its clouds. Those need no
// instance discovery; any other host is checked once before it is trusted with
// credentials. The list is the one MSAL keeps.
func TrustedHost(host string) bool {
	switch strings.ToLower(host) {
	case "login.microsoftonline.com", // Azure public cloud
		"login.microsoft.com",
		"login.windows.net",
		"sts.windows.net",
		"login.partner.microsoftonline.cn", // Azure operated by 21Vianet (China)
		"login.chinacloudapi.cn",           // China, legacy
		"login.microsoftonline.us",         // Azure US Government
		"login-us.microsoftonline.com",     // US Government, legacy
		"login.usgovcloudapi.net",
		"login.microsoftonline.de",   // Azure Germany (retired)
		"login.sovcloud-identity.fr", // Bleu (France)
		"login.sovcloud-identity.de", // Delos (Germany)
		"login.sovcloud-identity.sg": // GovSG (Singapore)
		return true
	}
	return false
}
