// Package loopback is the redirect listener of the browser sign-in flow
// (RFC 8252): an HTTP server on 127.0.0.1 that waits for the one redirect
// carrying the authorization code, answers the browser with a page, and
// closes.
package loopback

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Result is the outcome of a valid redirect: a code, or the error the
// authorization server reported.
type Result struct {
	Code string
	// Error and Description are the OAuth error fields when the server
	// refused (e.g. "access_denied").
	Error, Description string
}

// ErrRejected is what ParseRedirect reports for a redirect that is not the
// one awaited: a wrong state, or neither code nor error. The listener
// answers it with a rejection page and keeps waiting.
var ErrRejected = errors.New("loopback: redirect rejected")

// ParseRedirect reads the query of a redirect. wantState is the state sent
// with the authorization request; a redirect must carry exactly that value.
// It returns the Result of a valid redirect (which may carry an OAuth
// error), or an error wrapping ErrRejected.
func ParseRedirect(rawQuery, wantState string) (Result, error) {
	if len(rawQuery) > maxQuery {
		return Result{}, fmt.Errorf("%w: the query is too long", ErrRejected)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Result{}, fmt.Errorf("%w: malformed query", ErrRejected)
	}
	if len(q["state"]) != 1 || wantState == "" || !constantTimeEqual(q.Get("state"), wantState) {
		return Result{}, fmt.Errorf("%w: the state does not match this sign-in", ErrRejected)
	}
	if e := q.Get("error"); e != "" {
		return Result{Error: printable(e, 100), Description: printable(q.Get("error_description"), 1000)}, nil
	}
	if len(q["code"]) != 1 || q.Get("code") == "" {
		return Result{}, fmt.Errorf("%w: no authorization code", ErrRejected)
	}
	return Result{Code: q.Get("code")}, nil
}

const maxQuery = 64 << 10

func constantTimeEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := 0; i < len(a); i++ {
		v |= a[i] ^ b[i]
	}
	return v == 0
}

// printable keeps what a server wrote in an error field readable and
// bounded before it reaches an error message or a page.
func printable(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= n {
			b.WriteString("…")
			break
		}
		if r < ' ' || r == 0x7f {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Listener waits for one redirect.
type Listener struct {
	ln    net.Listener
	srv   *http.Server
	uri   string
	state string
	path  string

	once   sync.Once
	result chan Result
}

// Listen starts a listener on 127.0.0.1. redirectURL, when set, gives the
// port and path (it must be an http URL on localhost or 127.0.0.1); when
// empty, a free port is picked and the redirect URI is
// http://localhost:PORT. state is the value redirects must carry.
func Listen(redirectURL, state string) (*Listener, error) {
	host, port, path := "localhost", "0", "/"
	if redirectURL != "" {
		u, err := url.Parse(redirectURL)
		if err != nil {
			return nil, fmt.Errorf("loopback: RedirectURL %q is not a URL: %w", redirectURL, err)
		}
		if u.Scheme != "http" || (u.Hostname() != "localhost" && u.Hostname() != "127.0.0.1") {
			return nil, fmt.Errorf("loopback: RedirectURL %q must be http://localhost or http://127.0.0.1 with an optional port and path", redirectURL)
		}
		host = u.Hostname()
		if p := u.Port(); p != "" {
			if _, err := strconv.ParseUint(p, 10, 16); err != nil {
				return nil, fmt.Errorf("loopback: RedirectURL %q has an invalid port", redirectURL)
			}
			port = p
		}
		if u.Path != "" {
			path = u.Path
		}
	}
	// Only loopback: nothing on the network may deliver the code.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return nil, fmt.Errorf("loopback: listening for the sign-in redirect on 127.0.0.1:%s: %w", port, err)
	}
	l := &Listener{
		ln:     ln,
		state:  state,
		path:   path,
		result: make(chan Result, 1),
	}
	l.uri = "http://" + net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)) + strings.TrimSuffix(path, "/")
	if path != "/" && strings.HasSuffix(path, "/") {
		l.uri += "/"
	}
	l.srv = &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = l.srv.Serve(ln) }()
	return l, nil
}

// RedirectURI is the redirect_uri to send in the authorization request.
func (l *Listener) RedirectURI() string { return l.uri }

// ServeHTTP answers one browser request.
func (l *Listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet || strings.TrimSuffix(r.URL.Path, "/") != strings.TrimSuffix(l.path, "/") {
		w.WriteHeader(http.StatusNotFound)
		_ = pages.ExecuteTemplate(w, "rejected", "This is not the sign-in redirect.")
		return
	}
	res, err := ParseRedirect(r.URL.RawQuery, l.state)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = pages.ExecuteTemplate(w, "rejected", strings.TrimPrefix(err.Error(), ErrRejected.Error()+": "))
		return
	}
	delivered := false
	l.once.Do(func() {
		l.result <- res
		delivered = true
	})
	if !delivered {
		w.WriteHeader(http.StatusConflict)
		_ = pages.ExecuteTemplate(w, "rejected", "This sign-in is already complete.")
		return
	}
	if res.Error != "" {
		w.WriteHeader(http.StatusOK)
		_ = pages.ExecuteTemplate(w, "failure", res)
		return
	}
	w.WriteHeader(http.StatusOK)
	_ = pages.ExecuteTemplate(w, "success", nil)
}

// Wait returns the first valid redirect's result, or ctx's error. It does
// not close the listener; Close does.
func (l *Listener) Wait(ctx context.Context) (Result, error) {
	select {
	case r := <-l.result:
		return r, nil
	case <-ctx.Done():
		return Result{}, context.Cause(ctx)
	}
}

// Close stops the listener. The page of a delivered redirect has been
// written by then: Wait returns only after ServeHTTP hands over, and
// Shutdown lets that response finish.
func (l *Listener) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := l.srv.Shutdown(ctx); err != nil {
		// A browser holding a connection open: stop waiting for it.
		return l.srv.Close()
	}
	return nil
}

var pages = template.Must(template.New("pages").Parse(`
{{define "success"}}<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Signed in</title></head>
<body><h1 id="result">Authentication complete</h1><p>You can close this window and return to the application.</p></body></html>{{end}}
{{define "failure"}}<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sign-in failed</title></head>
<body><h1 id="result">Authentication failed</h1><p>Error: <code id="error">{{.Error}}</code></p><p id="description">{{.Description}}</p>
<p>Return to the application for details.</p></body></html>{{end}}
{{define "rejected"}}<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Not accepted</title></head>
<body><h1 id="result">Request not accepted</h1><p>{{.}}</p></body></html>{{end}}
`))
