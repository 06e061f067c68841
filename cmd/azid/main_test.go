package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func runAzid(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut, func(k string) string { return env[k] })
	return code, out.String(), errOut.String()
}

// The quick start: a token from the in-process emulator, one network
// acquisition, then cache hits, with timings on stderr.
func TestTokenFromEmulator(t *testing.T) {
	code, stdout, stderr := runAzid(t, nil, "token", "--emulator", "--scope", "api://demo/.default", "--calls", "4")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var tok struct {
		AccessToken string `json:"accessToken"`
		ExpiresOn   string `json:"expiresOn"`
		ExpiresOnTS int64  `json:"expires_on"`
		TokenType   string `json:"tokenType"`
	}
	if err := json.Unmarshal([]byte(stdout), &tok); err != nil {
		t.Fatalf("stdout is not the token JSON: %v\n%s", err, stdout)
	}
	if strings.Count(tok.AccessToken, ".") != 2 || tok.TokenType != "Bearer" || tok.ExpiresOn == "" {
		t.Fatalf("token = %+v", tok)
	}
	if d := time.Until(time.Unix(tok.ExpiresOnTS, 0)); d < 50*time.Minute || d > time.Hour {
		t.Fatalf("expires_on is %v away", d)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 6 {
		t.Fatalf("stderr has %d lines, want 6:\n%s", len(lines), stderr)
	}
	if !strings.Contains(lines[1], "call 1: network acquisition") {
		t.Errorf("first call: %q", lines[1])
	}
	for _, l := range lines[2:5] {
		if !strings.Contains(l, "cache hit in") {
			t.Errorf("later call: %q", l)
		}
	}
	if !strings.Contains(lines[5], "4 calls, 1 token request(s), 3 hit(s)") {
		t.Errorf("summary: %q", lines[5])
	}
	if strings.Contains(stderr, tok.AccessToken) {
		t.Error("the token was written to stderr")
	}
}

func TestTokenRaw(t *testing.T) {
	code, stdout, _ := runAzid(t, nil, "token", "--emulator", "--scope", "api://demo/.default", "--output", "raw")
	if code != exitOK || strings.Count(strings.TrimSpace(stdout), ".") != 2 || strings.Contains(stdout, "{") {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
}

func TestTokenUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"token"}, "--scope is required"},
		{[]string{"token", "--scope", "x", "--output", "yaml"}, "--output must be json or raw"},
		{[]string{"token", "--scope", "x"}, "AZURE_TENANT_ID"},
		{[]string{"token", "--scope", "x", "extra"}, "unexpected argument"},
		{[]string{"token", "--bogus"}, "flag provided but not defined"},
		{[]string{"frobnicate"}, "unknown command"},
		{nil, "Usage"},
	}
	for _, tc := range cases {
		code, stdout, stderr := runAzid(t, nil, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("azid %q: exit %d, stderr %q; want exit %d mentioning %q and nothing on stdout", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
}

// A failed token request exits 1 with Entra's reason and no secret.
func TestTokenFailure(t *testing.T) {
	// This takes some seconds: azcore retries the unreachable host, as it
	// would for a user.
	env := map[string]string{
		"AZURE_TENANT_ID":      "e7a7e570-0000-4000-8000-00000000e57a",
		"AZURE_CLIENT_ID":      "c11e2700-0000-4000-8000-00000000c11e",
		"AZURE_CLIENT_SECRET":  "not-the-secret-value",
		"AZURE_AUTHORITY_HOST": "https://127.0.0.1:1/", // nothing listens on port 1
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"token", "--scope", "api://demo/.default"}, &out, &errOut, func(k string) string { return env[k] })
	if code != exitFailure || out.Len() != 0 {
		t.Fatalf("exit %d, stdout %q", code, out.String())
	}
	if strings.Contains(errOut.String(), "not-the-secret-value") || !strings.Contains(errOut.String(), "127.0.0.1") {
		t.Fatalf("stderr = %s", errOut.String())
	}
}

func TestHelp(t *testing.T) {
	code, stdout, _ := runAzid(t, nil, "help")
	if code != exitOK || !strings.Contains(stdout, "azid token") {
		t.Fatalf("exit %d, %q", code, stdout)
	}
	code, _, stderr := runAzid(t, nil, "token", "--help")
	if code != exitOK || !strings.Contains(stderr, "Examples:") || !strings.Contains(stderr, "-scope") {
		t.Fatalf("exit %d, %q", code, stderr)
	}
}
