package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// versionHelp is "azid version --help".
func versionHelp() string {
	return `Usage: azid version

Prints azid's version (the module version it was built from, and the
source revision when known), the Go version and the platform.

` + exitCodesLine(exitOK, exitUsage) + "\n\n"
}

func versionCmd(_ context.Context, args []string, e *env) int {
	fs := newFlags("azid version")
	if code, done := parseFlags(fs, args, versionHelp(), e); done {
		return code
	}
	fmt.Fprintln(e.stdout, versionString())
	return exitOK
}

// versionString is "azid VERSION [REVISION] GOVERSION OS/ARCH".
func versionString() string {
	v, rev := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("azid %s%s %s %s/%s", v, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
