package interop

import (
	"context"
	"errors"
	"fmt"
	"go/importer"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"
)

const (
	azidentityPath = "github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	azidPath       = "github.com/azid-go/azid"
)

// TestAPIParity type-checks azid's exported API against azidentity's,
// identifier by identifier: every exported object of azidentity (constants,
// variables, functions, types, their fields and methods) must exist in azid
// with the same kind and the same type, once azidentity's own types are read
// as azid's. azid may add identifiers, fields and methods; it may not miss or
// change one, since a program must compile after swapping the import.
//
// Both packages are read from the compiler's export data, so the test needs
// nothing beyond the go command and the module cache the interop module
// already uses.
func TestAPIParity(t *testing.T) {
	imp := exportDataImporter(t, azidentityPath, azidPath)
	theirs, err := imp.Import(azidentityPath)
	if err != nil {
		t.Fatalf("type-checking azidentity: %v", err)
	}
	ours, err := imp.Import(azidPath)
	if err != nil {
		t.Fatalf("type-checking azid: %v", err)
	}

	// azid's options spell the persistent cache's type cache.Cache (the
	// cache package's), azidentity's its own Cache; azid's Cache is an alias
	// of cache.Cache, which makes the two spellings one type. Check that,
	// then read both as azid.Cache.
	aliasChecked := false
	if c := ours.Scope().Lookup("Cache"); c != nil {
		for _, imp := range ours.Imports() {
			if imp.Path() == azidPath+"/cache" {
				cc := imp.Scope().Lookup("Cache")
				if cc == nil || !types.Identical(c.Type(), cc.Type()) {
					t.Fatalf("azid.Cache is not the same type as cache.Cache")
				}
				aliasChecked = true
			}
		}
	}
	if !aliasChecked {
		t.Log("azid.Cache not found or azid does not import its cache package; Cache fields are compared as spelled")
	}

	var missing, different []string
	checked := 0
	for _, name := range theirs.Scope().Names() {
		obj := theirs.Scope().Lookup(name)
		if !obj.Exported() {
			continue
		}
		checked++
		mine := ours.Scope().Lookup(name)
		if mine == nil {
			missing = append(missing, name)
			continue
		}
		for _, d := range compareObjects(name, obj, mine) {
			if strings.HasPrefix(d, "missing ") {
				missing = append(missing, strings.TrimPrefix(d, "missing "))
			} else {
				different = append(different, d)
			}
		}
	}
	sort.Strings(missing)
	sort.Strings(different)
	t.Logf("compared %d exported identifiers of azidentity (with their fields and methods): %d missing, %d different", checked, len(missing), len(different))
	for _, m := range missing {
		t.Errorf("missing in azid: %s", m)
	}
	for _, d := range different {
		t.Errorf("different in azid: %s", d)
	}
	if checked < 50 {
		t.Errorf("only %d exported identifiers found in azidentity; the importer did not load it as expected", checked)
	}
}

// exportDataImporter returns an importer that reads the compiler's export
// data of pkgs and their dependencies, as `go list -export` reports it (the
// go command builds what is missing, and the test binary has built these
// already): type-checking them from source would take minutes under -race.
func exportDataImporter(t *testing.T, pkgs ...string) types.Importer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}"}, pkgs...)
	out, err := exec.CommandContext(ctx, "go", args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list -export: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list -export: %v", err)
	}
	exports := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, file, ok := strings.Cut(line, "\t"); ok && file != "" {
			exports[path] = file
		}
	}
	return importer.ForCompiler(token.NewFileSet(), "gc", func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(file)
	})
}

// compareObjects returns the differences between azidentity's object and
// azid's of the same name: "missing X" for members azid lacks, a
// description for anything else.
func compareObjects(name string, theirs, mine types.Object) []string {
	if kind(theirs) != kind(mine) {
		return []string{name + ": azidentity has a " + kind(theirs) + ", azid a " + kind(mine)}
	}
	tn, ok := theirs.(*types.TypeName)
	if !ok {
		if !sameType(theirs.Type(), mine.Type()) {
			return []string{name + ": azidentity " + typeString(theirs.Type()) + ", azid " + typeString(mine.Type())}
		}
		return nil
	}
	var diffs []string
	mn := mine.(*types.TypeName)
	if tn.IsAlias() != mn.IsAlias() {
		diffs = append(diffs, name+": alias in one package, a defined type in the other")
	}
	if tn.IsAlias() {
		// An alias's target is its identity (azidentity's Cache is an alias
		// of an internal type, azid's of the cache package's type): what
		// must match is what a program can do with it, its method set.
		return append(diffs, compareMethodSets(name, types.Unalias(tn.Type()), types.Unalias(mn.Type()))...)
	}
	tu, mu := tn.Type().Underlying(), mn.Type().Underlying()
	if ts, ok := tu.(*types.Struct); ok {
		ms, ok := mu.(*types.Struct)
		if !ok {
			return append(diffs, name+": a struct in azidentity, "+typeString(mu)+" in azid")
		}
		diffs = append(diffs, compareFields(name, ts, ms)...)
	} else if a, b := typeString(tu), typeString(mu); a != b {
		diffs = append(diffs, name+": azidentity "+a+", azid "+b)
	}
	diffs = append(diffs, compareMethodSets(name, tn.Type(), mn.Type())...)
	return diffs
}

// compareFields checks every exported field of azidentity's struct,
// promoted ones included, by name and type.
func compareFields(name string, theirs, mine *types.Struct) []string {
	var diffs []string
	for i := range theirs.NumFields() {
		f := theirs.Field(i)
		if !f.Exported() {
			continue
		}
		var g *types.Var
		for j := range mine.NumFields() {
			if mine.Field(j).Name() == f.Name() {
				g = mine.Field(j)
			}
		}
		switch {
		case g == nil:
			diffs = append(diffs, "missing "+name+"."+f.Name())
		case f.Embedded() != g.Embedded():
			diffs = append(diffs, name+"."+f.Name()+": embedded in one package only")
		case !sameType(f.Type(), g.Type()):
			diffs = append(diffs, name+"."+f.Name()+": azidentity "+typeString(f.Type())+", azid "+typeString(g.Type()))
		}
	}
	return diffs
}

// compareMethodSets checks the exported methods of *T (a superset of T's),
// each by signature.
func compareMethodSets(name string, theirs, mine types.Type) []string {
	var diffs []string
	tms := methodSet(theirs)
	mms := methodSet(mine)
	for m, sig := range tms {
		other, ok := mms[m]
		switch {
		case !ok:
			diffs = append(diffs, "missing "+name+"."+m)
		case sig != other:
			diffs = append(diffs, name+"."+m+": azidentity "+sig+", azid "+other)
		}
	}
	return diffs
}

func methodSet(t types.Type) map[string]string {
	out := map[string]string{}
	if _, isIface := t.Underlying().(*types.Interface); !isIface {
		if _, isPtr := t.(*types.Pointer); !isPtr {
			t = types.NewPointer(t)
		}
	}
	ms := types.NewMethodSet(t)
	for i := range ms.Len() {
		f := ms.At(i).Obj()
		if f.Exported() {
			out[f.Name()] = typeString(f.Type())
		}
	}
	return out
}

func kind(o types.Object) string {
	switch o.(type) {
	case *types.Const:
		return "constant"
	case *types.Var:
		return "variable"
	case *types.Func:
		return "function"
	case *types.TypeName:
		return "type"
	}
	return "object"
}

// unnamedParams drops a signature's parameter and result names, which are
// not part of its type: renaming a parameter breaks no caller.
func unnamedParams(t types.Type) types.Type {
	sig, ok := t.(*types.Signature)
	if !ok {
		return t
	}
	strip := func(tu *types.Tuple) *types.Tuple {
		vars := make([]*types.Var, tu.Len())
		for i := range tu.Len() {
			vars[i] = types.NewParam(0, nil, "", tu.At(i).Type())
		}
		return types.NewTuple(vars...)
	}
	return types.NewSignatureType(nil, nil, nil, strip(sig.Params()), strip(sig.Results()), sig.Variadic())
}

// sameType compares types as written, or failing that as what aliases
// stand for: azidentity declares EventAuthentication with an internal
// package's Event type, which azcore/log.Event is an alias of.
func sameType(a, b types.Type) bool {
	return typeString(a) == typeString(b) || typeString(types.Unalias(a)) == typeString(types.Unalias(b))
}

// typeString writes t with package paths, reading azidentity's own types as
// azid's.
func typeString(t types.Type) string {
	s := types.TypeString(unnamedParams(t), func(p *types.Package) string {
		if p.Path() == azidentityPath {
			return azidPath
		}
		return p.Path()
	})
	// Checked in TestAPIParity to be one type.
	return strings.ReplaceAll(s, azidPath+"/cache.Cache", azidPath+".Cache")
}
