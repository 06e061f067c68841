package azid

import (
	"strings"
	"testing"
)

// The user clients take the engine bound through the same setup as the
// application clients: a negative one is refused with the same message.
func TestPublicClientMaxCacheEntries(t *testing.T) {
	_, err := newPublicClient(credNameDeviceCode, "", "", &deviceCodeFlow{}, publicOptions{DisableInstanceDiscovery: true, MaxCacheEntries: -1})
	if err == nil || !strings.HasPrefix(err.Error(), credNameDeviceCode+": MaxCacheEntries is -1") {
		t.Fatalf("err = %v; want the MaxCacheEntries error naming the credential", err)
	}
	c, err := newPublicClient(credNameDeviceCode, "", "", &deviceCodeFlow{}, publicOptions{DisableInstanceDiscovery: true, MaxCacheEntries: 3})
	if err != nil {
		t.Fatal(err)
	}
	if c.cache == nil || c.discovery != nil {
		t.Fatalf("cache %v, discovery %v; want a cache and no discovery", c.cache, c.discovery)
	}
}
