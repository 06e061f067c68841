package azid

import (
	"strings"
	"testing"
)

// AZURE_TOKEN_CREDENTIALS is outside input: any value either selects a
// non-empty set of members or is refused with an error naming the variable.
func FuzzParseTokenCredentials(f *testing.F) {
	for _, s := range []string{"", "dev", "prod", "AzureCLICredential", "managedidentitycredential", " Dev ", "dev;prod", "\x00", "EnvironmentCredential,AzureCLICredential"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		set, err := parseTokenCredentials(v, true, false)
		if err != nil {
			if !strings.Contains(err.Error(), envTokenCredentials) {
				t.Fatalf("error does not name the variable: %v", err)
			}
			return
		}
		if set == 0 || set&^useAll != 0 {
			t.Fatalf("%q selected %b", v, set)
		}
	})
}
