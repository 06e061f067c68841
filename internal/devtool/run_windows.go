//go:build windows

package devtool

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// shellCommand runs name through cmd.exe, which finds az.cmd and friends on
// PATH as a user's prompt would (azidentity does the same). cmd.exe has no
// positional parameters, so the command line is assembled here; the
// credentials only pass arguments from a charset without cmd.exe's special
// characters, and arguments with spaces are quoted.
func shellCommand(ctx context.Context, name string, args []string) *exec.Cmd {
	var b strings.Builder
	b.WriteString("/c ")
	b.WriteString(name)
	for _, a := range args {
		b.WriteByte(' ')
		if a == "" || strings.ContainsAny(a, " \t") {
			b.WriteString(`"` + a + `"`)
		} else {
			b.WriteString(a)
		}
	}
	cmd := exec.CommandContext(ctx, "cmd.exe")
	cmd.Dir = os.Getenv("SYSTEMROOT")
	cmd.SysProcAttr = &syscall.SysProcAttr{CmdLine: b.String()}
	return cmd
}

// notFound reports whether cmd.exe said it could not find the command.
func notFound(_ int, msg string) bool {
	return strings.Contains(msg, "' is not recognized")
}

// checkArgs refuses what cmd.exe would interpret: the command line is parsed
// by it, so only plain text may reach it.
func checkArgs(args []string) error {
	for _, a := range args {
		if strings.ContainsAny(a, "\"&|<>^%!()\r\n\x00") {
			return fmt.Errorf("devtool: argument %q contains a character cmd.exe would interpret", a)
		}
	}
	return nil
}
