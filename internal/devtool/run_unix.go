//go:build unix

package devtool

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"syscall"
)

// shellCommand runs name through /bin/sh, which looks it up on PATH the way
// a user's terminal would (azidentity does the same). The arguments follow
// as the script's positional parameters, so the shell never parses them:
// no quoting, no expansion, whatever they contain.
func shellCommand(ctx context.Context, name string, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/bin/sh", append([]string{"-c", name + ` "$@"`, name}, args...)...)
	// Not the caller's working directory: a PATH entry like "." must not
	// find a program planted in whatever directory the app runs from.
	cmd.Dir = "/"
	// Its own process group, so that a timeout kills the tool and anything
	// it started (az is a shell script that starts Python), not just sh.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	return cmd
}

// notFound reports whether the shell said it could not find the command:
// POSIX shells exit with status 127.
func notFound(code int, _ string) bool { return code == 127 }

// checkArgs accepts any argument exec can pass: the shell never parses them.
func checkArgs(args []string) error {
	for _, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return errors.New("devtool: an argument contains a NUL byte")
		}
	}
	return nil
}
