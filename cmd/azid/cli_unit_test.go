package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestNearest(t *testing.T) {
	names := []string{"scope", "tenant", "credential", "client-id", "output", "o", "emulator", "calls"}
	for _, tc := range []struct{ in, want string }{
		{"scpoe", "scope"},  // swapped letters
		{"scop", "scope"},   // a prefix
		{"Scope", "scope"},  // case
		{"tenat", "tenant"}, // a letter missing
		{"cred", "credential"},
		{"clientid", "client-id"},
		{"x", ""},
		{"bogus", ""},
		{"verbose", ""},
	} {
		if got := nearest(tc.in, names); got != tc.want {
			t.Errorf("nearest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := nearest("tokne", commandNames()); got != "token" {
		t.Errorf("nearest(tokne) = %q", got)
	}
}

// parseFlags' outcomes, on a flag set like the commands'.
func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		code       int
		done       bool
		out, err   string
		errLinesLE int
	}{
		{args: []string{"--name", "x"}, code: exitOK},
		{args: []string{"--help"}, code: exitOK, done: true, out: "Usage: azid test"},
		{args: []string{"-h"}, code: exitOK, done: true, out: "-name string"},
		{args: []string{"--nmae", "x"}, code: exitUsage, done: true, err: "unknown flag --nmae (did you mean --name?)", errLinesLE: 2},
		{args: []string{"--name"}, code: exitUsage, done: true, err: "--name needs a value"},
		{args: []string{"--name", ""}, code: exitUsage, done: true, err: "--name needs a value; it was given an empty one"},
		{args: []string{"--name=  "}, code: exitUsage, done: true, err: "--name needs a value"},
		{args: []string{"--n", "0"}, code: exitUsage, done: true, err: "invalid value \"0\" for flag --n: must be at least 1"},
		{args: []string{"--verbose=maybe"}, code: exitUsage, done: true, err: "--verbose"},
		{args: []string{"--verbose"}, code: exitOK},
		{args: []string{"extra"}, code: exitUsage, done: true, err: `unexpected argument "extra"`},
	} {
		fs := newFlags("azid test")
		fs.String("name", "default", "a name")
		fs.Bool("verbose", false, "more")
		n := 1
		fs.Var(positiveIntFlag{&n}, "n", "a count")
		var out, errOut bytes.Buffer
		code, done := parseFlags(fs, tc.args, "Usage: azid test\n\nFlags:\n", &env{stdout: &out, stderr: &errOut})
		if code != tc.code || done != tc.done || !strings.Contains(out.String(), tc.out) || !strings.Contains(errOut.String(), tc.err) ||
			(tc.errLinesLE > 0 && strings.Count(errOut.String(), "\n") > tc.errLinesLE) {
			t.Errorf("%q: exit %d done %v\nstdout %q\nstderr %q", tc.args, code, done, out.String(), errOut.String())
		}
		if tc.err == "" && errOut.Len() > 0 {
			t.Errorf("%q: stderr %q", tc.args, errOut.String())
		}
	}
}

// Command lines are outside input: parsing any of them never panics, and
// a usage error is always short.
func FuzzParseFlags(f *testing.F) {
	f.Add("--scope\x00x")
	f.Add("--scpoe\x00x\x00--calls\x000")
	f.Add("-o\x00\x00--help")
	f.Add("--calls=99999999999999999999")
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		fs := newFlags("azid token")
		var f tokenFlags
		fs.Var(&f.scopes, "scope", "")
		fs.StringVar(&f.tenant, "tenant", "", "")
		outputFlag(fs, &f.output, "json", tokenOutputs()...)
		fs.Var(positiveIntFlag{&f.calls}, "calls", "")
		var out, errOut bytes.Buffer
		code, _ := parseFlags(fs, args, tokenHelp, &env{stdout: &out, stderr: &errOut})
		if code == exitUsage && strings.Count(errOut.String(), "\n") > 2 {
			t.Fatalf("a long usage error for %q:\n%s", args, errOut.String())
		}
		if f.calls < 0 {
			t.Fatalf("--calls %d accepted", f.calls)
		}
	})
}

func TestExitCodesLine(t *testing.T) {
	if got, want := exitCodesLine(exitOK, exitUsage, exitInterrupted), "Exit codes: 0 success, 2 bad usage, 130 interrupted (Ctrl-C)."; got != want {
		t.Errorf("exitCodesLine = %q, want %q", got, want)
	}
}
