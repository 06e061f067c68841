package authority

import (
	"errors"
	"fmt"
	"strings"
)

// ADFSTenant is the pseudo-tenant of Active Directory Federation Services (Azure
// Stack Hub and on-premises). ADFS has no tenants, its token endpoint has another
// shape, and it is never checked by instance discovery.
const ADFSTenant = "adfs"

// findTenantHelp tells a user who got the tenant ID wrong where to find it.
const findTenantHelp = "You can locate your tenant ID by following the instructions at https://learn.microsoft.com/partner-center/find-ids-and-domain-names"

// ValidateTenantID checks that id can be placed in a URL path as one segment: it
// must be non-empty and made only of ASCII letters, digits, '.' and '-', which
// covers tenant GUIDs, domain names and "common"/"organizations"/"consumers".
// "." and ".." are refused too, since a path segment of dots would move the
// request to another path.
func ValidateTenantID(id string) error {
	if id == "" {
		return errors.New("authority: the tenant ID is empty. " + findTenantHelp)
	}
	for _, r := range id {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '-') {
			return fmt.Errorf("authority: invalid tenant ID %q: a tenant ID contains only ASCII letters, digits, '.' and '-'. %s", shorten(id), findTenantHelp)
		}
	}
	if strings.Trim(id, ".") == "" {
		return fmt.Errorf("authority: invalid tenant ID %q. %s", id, findTenantHelp)
	}
	return nil
}

// shorten keeps an invalid tenant ID quoted in an error to a readable length.
func shorten(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut-- // do not split a UTF-8 sequence
	}
	return s[:cut] + "…"
}
