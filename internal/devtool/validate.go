package devtool

import "strings"

// ValidScope reports whether scope may be handed to a tool: ASCII letters,
// digits and . - _ / : only, as azidentity allows. Every real Entra scope
// and resource fits; shell metacharacters, spaces and quotes do not.
func ValidScope(scope string) bool {
	if scope == "" || strings.HasPrefix(scope, "-") {
		return false // an argument starting with '-' would read as an option
	}
	for _, r := range scope {
		if !(alnum(r) || r == '.' || r == '-' || r == '_' || r == '/' || r == ':') {
			return false
		}
	}
	return true
}

// ValidSubscription reports whether a subscription name or ID may be handed
// to a tool: letters, digits, '-', '_', '.' and spaces, as azidentity
// allows (names may contain spaces; IDs are GUIDs).
func ValidSubscription(s string) bool {
	if strings.TrimSpace(s) == "" || strings.HasPrefix(s, "-") {
		return false
	}
	for _, r := range s {
		if !(alnum(r) || r == '-' || r == '_' || r == '.' || r == ' ') {
			return false
		}
	}
	return true
}

func alnum(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
}
