package azid

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strings"
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

// Every pipeline a credential sends secrets through is built by
// newTokenPipeline, so that forcing bodies and secret headers out of the
// logs cannot drift between credentials again: no other file of the
// package builds an azcore client or pipeline of its own.
func TestTokenPipelinesBuiltInOnePlace(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || name == "token_pipeline.go" {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pkg, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			if (pkg.Name == "azcore" && sel.Sel.Name == "NewClient") || (pkg.Name == "runtime" && sel.Sel.Name == "NewPipeline") {
				t.Errorf("%s: %s.%s: build the pipeline with newTokenPipeline, which keeps secrets out of azcore's logs", fset.Position(sel.Pos()), pkg.Name, sel.Sel.Name)
			}
			return true
		})
	}
}
