package managedidentity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// Azure Arc: IDENTITY_ENDPOINT and IMDS_ENDPOINT, or the Connected Machine
// agent installed. The agent answers a first request with 401 and a
// WWW-Authenticate header naming a key file it just wrote; whoever can read
// that file (root, or the himds group) proves it by sending the file's
// content back. The file name comes from the network, so it is checked
// before anything is read: it must be in the agent's directory, end in
// .key, stay there once symlinks are resolved, and hold at most 4096 bytes.
const (
	arcDefaultEndpoint = "http://127.0.0.1:40342/metadata/identity/oauth2/token"
	arcAPIVersion      = "2020-06-01"
	arcKeyExt          = ".key"
	// ArcMaxKeySize is the largest key file read.
	ArcMaxKeySize = 4096
)

func (c *Client) setupArc(o *Options) error {
	raw := o.getenv(envIdentityEndpoint)
	if raw == "" {
		raw = arcDefaultEndpoint
	}
	u, err := parseEndpoint(envIdentityEndpoint, raw)
	if err != nil {
		return err
	}
	if c.arcKeyDir, err = arcKeyDir(o); err != nil {
		return err
	}
	c.endpoint = u
	return nil
}

func (c *Client) arcToken(ctx context.Context, pl runtime.Pipeline, resource string) (Token, error) {
	x := exchange{method: http.MethodGet, query: map[string][]string{
		"api-version": {arcAPIVersion},
		"resource":    {resource},
	}, header: http.Header{"Metadata": {"true"}}}
	c.selector(x.query, "msi_res_id")
	resp, body, err := c.send(ctx, pl, x)
	if err != nil {
		return Token{}, err
	}
	if resp.StatusCode != http.StatusUnauthorized {
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return Token{}, fmt.Errorf("%s managed identity endpoint %s answered %d instead of the 401 challenge the Arc agent sends; is IDENTITY_ENDPOINT the agent's?", AzureArc, c.Endpoint(), resp.StatusCode)
		}
		return Token{}, c.responseError(resp, body, nil, "")
	}
	path, err := ParseArcChallenge(resp.Header.Get("Www-Authenticate"))
	if err != nil {
		return Token{}, fmt.Errorf("%s managed identity: %w", AzureArc, err)
	}
	key, err := ReadArcKey(c.arcKeyDir, path, c.goos)
	if err != nil {
		return Token{}, fmt.Errorf("%s managed identity: %w", AzureArc, err)
	}
	x.header.Set("Authorization", "Basic "+key)
	x.secrets = []string{key}
	resp, body, err = c.send(ctx, pl, x)
	if err != nil {
		return Token{}, err
	}
	t, err := c.result(resp, body, x.secrets)
	if err != nil {
		return Token{}, err
	}
	if err := c.confirmArcIdentity(t); err != nil {
		return Token{}, err
	}
	return t, nil
}

// confirmArcIdentity fails when a user-assigned identity was asked for and
// the agent did not say it used it. Older agents ignore the selector and
// answer with the machine's own identity; handing that token out as the
// requested identity's would be wrong in a way nobody would notice.
func (c *Client) confirmArcIdentity(t Token) error {
	var got string
	switch c.id.Kind {
	case SystemAssigned:
		return nil
	case ClientID:
		got = t.ClientID
	case ObjectID:
		got = t.ObjectID
	case ResourceID:
		got = t.ResourceID
	}
	if !strings.EqualFold(got, c.id.Value) {
		return fmt.Errorf("%s managed identity: the agent did not confirm it used %s (it may not support user-assigned identities, and then returns the machine's own); update the Connected Machine agent or leave ID unset", AzureArc, c.id)
	}
	return nil
}

// ParseArcChallenge extracts the key file path from the agent's
// WWW-Authenticate header, `Basic realm=<path>` (quotes tolerated).
func ParseArcChallenge(header string) (string, error) {
	const prefix = "basic realm="
	h := strings.TrimSpace(header)
	if h == "" {
		return "", errors.New("the agent's 401 has no WWW-Authenticate header naming a key file")
	}
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", errors.New(`the agent's WWW-Authenticate header is not of the form "Basic realm=<key file>"`)
	}
	p := strings.TrimSpace(h[len(prefix):])
	if len(p) >= 2 && p[0] == '"' && p[len(p)-1] == '"' {
		p = p[1 : len(p)-1]
	}
	if p == "" || strings.ContainsAny(p, "\x00\r\n") {
		return "", errors.New("the agent's WWW-Authenticate header names no usable key file")
	}
	return p, nil
}

// ReadArcKey reads the key file the agent named, after checking that it
// is where the agent writes keys: directly in dir, named *.key, still there
// once symlinks are resolved, a regular file of at most ArcMaxKeySize
// bytes. Nothing is read from a file that fails a check. goos decides
// whether paths compare case-insensitively (Windows).
func ReadArcKey(dir, path, goos string) (string, error) {
	same := func(a, b string) bool {
		if goos == "windows" {
			return strings.EqualFold(a, b)
		}
		return a == b
	}
	hasExt := func(p string) bool {
		ext := filepath.Ext(p)
		return same(ext, arcKeyExt) && len(filepath.Base(p)) > len(arcKeyExt)
	}
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("the agent named key file %q, which is not an absolute path", path)
	}
	clean := filepath.Clean(path)
	if !hasExt(clean) {
		return "", fmt.Errorf("the agent named key file %q, which does not end in %s", path, arcKeyExt)
	}
	if !same(filepath.Dir(clean), filepath.Clean(dir)) {
		return "", fmt.Errorf("the agent named key file %q, which is not in the agent's key directory %s", path, dir)
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("the agent's key directory: %w", err)
	}
	real, err := filepath.EvalSymlinks(clean)
	if err != nil {
		return "", fmt.Errorf("the agent's key file: %w", err)
	}
	if !same(filepath.Dir(real), realDir) || !hasExt(real) {
		return "", fmt.Errorf("the agent's key file %q is a link to %q, outside the key directory %s", path, real, dir)
	}
	// Checked before opening too: opening a FIFO would block until a
	// writer came along.
	if fi, err := os.Lstat(real); err != nil {
		return "", fmt.Errorf("the agent's key file: %w", err)
	} else if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("the agent's key file %q is not a regular file", path)
	}
	f, err := os.Open(real)
	if err != nil {
		return "", fmt.Errorf("opening the agent's key file: %w (reading it needs root or membership of the himds group)", err)
	}
	defer f.Close()
	// Checked on the open file, so a file swapped after the path checks is
	// still caught if it is not a small regular file.
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("the agent's key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("the agent's key file %q is not a regular file", path)
	}
	if fi.Size() > ArcMaxKeySize {
		return "", fmt.Errorf("the agent's key file %q has %d bytes; a key file has at most %d", path, fi.Size(), ArcMaxKeySize)
	}
	b, err := io.ReadAll(io.LimitReader(f, ArcMaxKeySize+1))
	if err != nil {
		return "", fmt.Errorf("reading the agent's key file: %w", err)
	}
	if len(b) > ArcMaxKeySize {
		return "", fmt.Errorf("the agent's key file %q grew past %d bytes while being read", path, ArcMaxKeySize)
	}
	key := strings.TrimSpace(string(b))
	if key == "" || strings.ContainsAny(key, "\x00\r\n") {
		return "", fmt.Errorf("the agent's key file %q holds no usable key", path)
	}
	return key, nil
}
