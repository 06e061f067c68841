package devtool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// DefaultTimeout bounds one tool process when nobody asked for another
// bound, as azidentity does.
const DefaultTimeout = 10 * time.Second

// Output limits: a token answer is a few kilobytes; anything much larger is
// not an answer, and must not be buffered without bound.
const (
	maxStdout = 1 << 20
	maxStderr = 64 << 10
	// maxMessage bounds the part of stderr quoted in an error.
	maxMessage = 2000
)

// Command is one tool invocation. Name is the executable, looked up on the
// PATH of Env by the shell, as azidentity does; Args are passed to it as
// separate arguments and never parsed by the shell.
type Command struct {
	Name string
	Args []string
	// Env is the process environment; nil inherits this process's.
	Env []string
	// Timeout bounds the process; 0 means DefaultTimeout. When it passes,
	// the process and everything it started are killed.
	Timeout time.Duration
}

// NotFoundError means the shell could not find the tool: it is not
// installed, or not on PATH.
type NotFoundError struct{ Name string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s was not found on PATH", e.Name)
}

// ExitError means the tool ran and failed. Stderr is what it printed, trimmed,
// shortened and with anything that looks like a token removed.
type ExitError struct {
	Name   string
	Code   int
	Stderr string
}

func (e *ExitError) Error() string {
	if e.Stderr == "" {
		return fmt.Sprintf("%s failed with exit status %d and printed no error message", e.Name, e.Code)
	}
	return fmt.Sprintf("%s failed with exit status %d: %s", e.Name, e.Code, e.Stderr)
}

// TimeoutError means the tool did not finish in time and was killed. It
// wraps context.DeadlineExceeded.
type TimeoutError struct {
	Name  string
	After time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s did not finish within %s and was stopped", e.Name, e.After)
}

func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

// OutputTooLargeError means the tool printed more than any token answer
// could be; the output was not kept.
type OutputTooLargeError struct{ Name string }

func (e *OutputTooLargeError) Error() string {
	return fmt.Sprintf("%s printed more than %d bytes, which is not a token answer", e.Name, maxStdout)
}

// Run runs c through the shell and returns what it printed on stdout. It
// returns a *NotFoundError, *ExitError, *TimeoutError or
// *OutputTooLargeError, or ctx's error when ctx ends first.
func Run(ctx context.Context, c Command) ([]byte, error) {
	if !validName(c.Name) {
		return nil, fmt.Errorf("devtool: invalid executable name %q", c.Name)
	}
	if err := checkArgs(c.Args); err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tctx, cancel := context.WithTimeoutCause(ctx, timeout, &TimeoutError{Name: c.Name, After: timeout})
	defer cancel()
	cmd := shellCommand(tctx, c.Name, c.Args)
	cmd.Env = c.Env
	stdout := &limitedBuffer{max: maxStdout}
	stderr := &limitedBuffer{max: maxStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A tool that leaves a child holding its output open must not hang us.
	cmd.WaitDelay = 500 * time.Millisecond

	err := cmd.Run()
	if stdout.over {
		return nil, &OutputTooLargeError{Name: c.Name}
	}
	if err != nil && tctx.Err() != nil {
		// Whichever ended first decides: the tool's own timeout, or ctx
		// (which may have ended too by the time the killed process is
		// collected).
		var te *TimeoutError
		if errors.As(context.Cause(tctx), &te) {
			return nil, te
		}
		return nil, fmt.Errorf("%s was stopped: %w", c.Name, context.Cause(ctx))
	}
	if errors.Is(err, exec.ErrWaitDelay) && stdout.Len() > 0 {
		// The tool exited but something it started kept stdout open. What
		// the tool printed may still be a token answer.
		return stdout.Bytes(), nil
	}
	if err != nil {
		var xe *exec.ExitError
		if errors.As(err, &xe) {
			msg := CleanMessage(stderr.String())
			if notFound(xe.ExitCode(), msg) {
				return nil, &NotFoundError{Name: c.Name}
			}
			return nil, &ExitError{Name: c.Name, Code: xe.ExitCode(), Stderr: msg}
		}
		return nil, fmt.Errorf("starting %s: %w", c.Name, err)
	}
	return stdout.Bytes(), nil
}

// validName accepts the executable names this package runs: letters,
// digits, '.', '-', '_' (the name is part of the shell script text).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(alnum(r) || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// jwtLike matches JSON Web Tokens and their fragments, so a tool's error
// message that quotes one never carries it further.
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_\-]{4,}(\.[A-Za-z0-9_\-]*){0,2}`)

// CleanMessage prepares a tool's stderr for an error string: tokens removed,
// surrounding blank lines and carriage returns dropped, length bounded.
func CleanMessage(s string) string {
	s = jwtLike.ReplaceAllString(s, "[REDACTED]")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.Trim(s, "\r\n\t ")
	if len(s) > maxMessage {
		cut := maxMessage
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// limitedBuffer keeps at most max bytes and remembers whether more came.
// It deliberately has no ReadFrom, which io.Copy would prefer to Write.
type limitedBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); len(p) > room {
		b.over = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		// Report success so the tool is not killed by a broken pipe
		// before it exits on its own.
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *limitedBuffer) Len() int       { return b.buf.Len() }
func (b *limitedBuffer) Bytes() []byte  { return b.buf.Bytes() }
func (b *limitedBuffer) String() string { return b.buf.String() }
