package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// The conventions every azid command follows, written once so a new
// command gets them by construction:
//
//   - help goes to standard output whenever it was asked for ("azid help
//     CMD", "azid CMD --help", "-h"), exit 0; a usage error prints one
//     short message and a pointer to --help on standard error, exit 2;
//   - a mistyped flag gets "did you mean --x?" rather than the whole usage;
//   - a flag given an empty value ("--scope ''") is a usage error, since
//     it is never what the user meant and would silently fall back to a
//     default;
//   - -o and --output are the same flag, and its values are checked
//     against the command's list (from text, json, env and raw).

// command is one row of the command table: "azid NAME ..." runs run.
type command struct {
	name string
	// synopsis and summary are the command's line in "azid help".
	synopsis, summary string
	run               func(ctx context.Context, args []string, e *env) int
}

// newFlags starts a command's flag set. Its errors and help are printed by
// parseFlags, not by the flag package (which would print the whole usage
// to stderr for a typo).
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args into fs. It returns done=true with the exit code
// when the command must stop: help was asked for (printed to stdout, with
// the flags, exit 0) or the command line is wrong (a short message on
// stderr, exit 2). help is the command's help text, ending in "Flags:\n"
// when it has flags.
func parseFlags(fs *flag.FlagSet, args []string, help string, e *env) (code int, done bool) {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(e.stdout, fs, help)
		return exitOK, true
	}
	if err != nil {
		return usageError(e, fs.Name(), "%s", flagErrorMessage(fs, err)), true
	}
	var empty string
	fs.Visit(func(f *flag.Flag) {
		if empty != "" {
			return
		}
		if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); !isBool && strings.TrimSpace(f.Value.String()) == "" {
			empty = f.Name
		}
	})
	if empty != "" {
		return usageError(e, fs.Name(), "--%s needs a value; it was given an empty one", empty), true
	}
	if fs.NArg() > 0 {
		return usageError(e, fs.Name(), "unexpected argument %q", fs.Arg(0)), true
	}
	return exitOK, false
}

// printHelp writes a command's help and its flags to w.
func printHelp(w io.Writer, fs *flag.FlagSet, help string) {
	fmt.Fprint(w, help)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// usageError reports a wrong command line for the command named cmd (e.g.
// "azid token") and returns the usage exit code.
func usageError(e *env, cmd, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "%s: %s\nRun \"%s --help\" for usage.\n", cmd, fmt.Sprintf(format, args...), cmd)
	return exitUsage
}

// flagErrorMessage rewrites the flag package's error for people: flags
// are spelled with two dashes, as the help shows them, and an unknown one
// gets the nearest known name.
func flagErrorMessage(fs *flag.FlagSet, err error) string {
	// The flag package quotes nothing: a flag or value holding a newline
	// or a control character would break the message over lines or into
	// the terminal, so they are shown escaped.
	msg := escapeControls(err.Error())
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		out := fmt.Sprintf("unknown flag --%s", name)
		if s := suggestFlag(fs, name); s != "" {
			out += fmt.Sprintf(" (did you mean --%s?)", s)
		}
		return out
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return fmt.Sprintf("--%s needs a value", strings.TrimLeft(name, "-"))
	}
	return strings.NewReplacer("flag -", "flag --", "for -", "for --").Replace(msg)
}

// escapeControls writes s's non-printable characters as Go escapes
// ("\n", "\x00").
func escapeControls(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsPrint(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

// suggestFlag is the defined flag nearest to name, or "".
func suggestFlag(fs *flag.FlagSet, name string) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return nearest(name, names)
}

// nearest is the candidate closest to s (two letters or more): one it is
// a prefix of, else the one within a small edit distance (a third of s's
// length, at least 1), else "".
func nearest(s string, candidates []string) string {
	if len(s) < 2 {
		// One letter is too little to guess from.
		return ""
	}
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	s = strings.ToLower(s)
	for _, c := range sorted {
		if len(c) > 1 && strings.HasPrefix(c, s) {
			return c
		}
	}
	best, bestD := "", max(1, len(s)/3)+1
	for _, c := range sorted {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the edit distance between a and b, counting a swap of
// two neighbouring letters (the commonest typo) as one edit.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// outputFlag defines -o and --output on fs, both setting *out, which
// starts as def.
func outputFlag(fs *flag.FlagSet, out *string, def string, allowed ...string) {
	*out = def
	usage := strings.Join(allowed, ", ") + " (-o for short)"
	fs.StringVar(out, "output", def, usage)
	fs.StringVar(out, "o", def, "shorthand for --output")
}

// checkOutput reports a usage error unless out is one of allowed.
func checkOutput(e *env, cmd, out string, allowed ...string) (code int, ok bool) {
	for _, a := range allowed {
		if out == a {
			return exitOK, true
		}
	}
	return usageError(e, cmd, "--output must be %s, not %q", orList(allowed), out), false
}

// orList is "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// positiveIntFlag is an int flag that must be at least 1.
type positiveIntFlag struct{ n *int }

func (p positiveIntFlag) String() string {
	if p.n == nil {
		return ""
	}
	return fmt.Sprint(*p.n)
}

func (p positiveIntFlag) Set(s string) error {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil || fmt.Sprint(n) != strings.TrimSpace(s) {
		return fmt.Errorf("%q is not a whole number", s)
	}
	if n < 1 {
		return fmt.Errorf("must be at least 1, not %d", n)
	}
	*p.n = n
	return nil
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// exitCodesLine is a command help's "Exit codes:" sentence for the codes
// the command can return, in the words "azid help" uses, so that every
// command describes them alike: exitCodesLine(exitOK, exitUsage) is
// "Exit codes: 0 success, 2 bad usage."
func exitCodesLine(codes ...int) string {
	short := map[int]string{
		exitOK:          "success",
		exitFailure:     "Entra ID refused or could not be reached",
		exitUsage:       "bad usage",
		exitInternal:    "a local failure",
		exitSignIn:      "a sign-in is needed (run \"azid login\")",
		exitUnavailable: "no credential available",
		exitInterrupted: "interrupted (Ctrl-C)",
	}
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d %s", c, short[c]))
	}
	return "Exit codes: " + strings.Join(parts, ", ") + "."
}
