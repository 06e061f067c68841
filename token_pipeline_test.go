package azid

import (
	"reflect"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// A token pipeline's logging options drop bodies and every secret header,
// whatever their case, and leave the caller's options as they were.
func TestTokenLogOptions(t *testing.T) {
	allowed := []string{"authorization", "X-IDENTITY-HEADER", " Secret", "Cookie", "Set-Cookie", "Proxy-Authorization", "Client-Request-Id", "x-ms-request-id"}
	caller := policy.LogOptions{IncludeBody: true, AllowedHeaders: allowed, AllowedQueryParams: []string{"api-version"}}
	before := append([]string(nil), allowed...)
	got := tokenLogOptions(caller)
	if got.IncludeBody {
		t.Error("bodies are still logged")
	}
	if want := []string{"Client-Request-Id", "x-ms-request-id"}; !reflect.DeepEqual(got.AllowedHeaders, want) {
		t.Errorf("AllowedHeaders = %q, want %q", got.AllowedHeaders, want)
	}
	if !reflect.DeepEqual(got.AllowedQueryParams, caller.AllowedQueryParams) {
		t.Errorf("AllowedQueryParams = %q", got.AllowedQueryParams)
	}
	if !caller.IncludeBody || !reflect.DeepEqual(caller.AllowedHeaders, before) {
		t.Errorf("the caller's options changed: %+v", caller)
	}
}
