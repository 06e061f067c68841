package interop

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	azcache "github.com/Azure/azure-sdk-for-go/sdk/azidentity/cache"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/entratest"
	"github.com/azid-go/azid/internal/persist"
)

// Mixed fleets at a cold start: azid and azidentity processes start
// together on one cache with no key yet, each storing tokens of its own.
//
// azidentity writes the whole file from the copy it read before its token
// request, outside the lock, so each of its writes drops what azid stored
// in the meantime; azid cannot prevent that. What azid controls: every
// file it writes is sealed with the key that is in the keyring when the
// write ends (azidentity may replace the key at a cold start), and a
// process re-saves its own tokens at its next miss after a write dropped
// them. The test counts azid's tokens in the file when the azidentity
// processes have finished (lost to their writes) and after each azid
// process's next miss (lost for good): the latter must be 0.
func TestCacheInteropMixedColdStart(t *testing.T) {
	t.Run("azid only", func(t *testing.T) { coldStart(t, 4, 0) })
	t.Run("mixed", func(t *testing.T) { coldStart(t, 2, 2) })
}

func coldStart(t *testing.T, azidProcs, azidentityProcs int) {
	const each = 50
	srv, name := setup(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	type proc struct {
		role  string
		cmd   *exec.Cmd
		in    io.WriteCloser
		lines chan string
	}
	var procs []*proc
	for i := range azidProcs + azidentityProcs {
		role := "azid"
		if i >= azidProcs {
			role = "azidentity"
		}
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestColdStartHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "AZID_COLDSTART_ROLE="+role, "AZID_COLDSTART_NAME="+name,
			"AZID_COLDSTART_URL="+srv.AuthorityHost(), "AZID_COLDSTART_CA="+ca,
			"AZID_COLDSTART_PREFIX="+fmt.Sprintf("%s-%d", role, i), "AZID_COLDSTART_N="+strconv.Itoa(each))
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &proc{role: role, cmd: cmd, in: in, lines: make(chan string, 16)}
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				p.lines <- sc.Text()
			}
			close(p.lines)
		}()
		procs = append(procs, p)
	}
	expect := func(p *proc, want string) {
		t.Helper()
		for {
			select {
			case line, ok := <-p.lines:
				if !ok {
					t.Fatalf("%s helper ended before %q", p.role, want)
				}
				if line == want {
					return
				}
				if strings.HasPrefix(line, "helper error") {
					t.Fatalf("%s helper: %s", p.role, line)
				}
			case <-ctx.Done():
				t.Fatalf("%s helper: no %q before the deadline", p.role, want)
			}
		}
	}
	for _, p := range procs {
		expect(p, "READY")
	}
	// All start their acquisitions at once.
	for _, p := range procs {
		fmt.Fprintln(p.in, "go")
	}
	for _, p := range procs {
		expect(p, "DONE")
	}
	for _, p := range procs[azidProcs:] {
		p.in.Close()
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("azidentity helper: %v", err)
		}
	}
	count := func() (azidToks, others int) {
		t.Helper()
		c, err := cache.New(&cache.Options{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		l, err := persist.List(ctx, c)
		if errors.Is(err, persist.ErrUnreadable) {
			// Last written by an azidentity process with a key it
			// created and the keyring no longer holds: nothing in it
			// can be read by anyone.
			t.Logf("the cache file is unreadable: %v", err)
			return 0, 0
		}
		if err != nil {
			t.Fatalf("reading the cache: %v", err)
		}
		for _, tok := range l.AccessTokens {
			if strings.HasPrefix(strings.Join(tok.Scopes, " "), "api://azid-") {
				azidToks++
			} else {
				others++
			}
		}
		return azidToks, others
	}
	missingScopes := func() []string {
		c, _ := cache.New(&cache.Options{Name: name})
		l, _ := persist.List(ctx, c)
		have := map[string]bool{}
		for _, tok := range l.AccessTokens {
			have[strings.Join(tok.Scopes, " ")] = true
		}
		var out []string
		for i := range azidProcs {
			for j := range each + 1 {
				if s := fmt.Sprintf("api://azid-%d-%d/.default", i, j); !have[s] {
					out = append(out, s)
				}
			}
		}
		return out
	}
	afterAzidentity, _ := count()
	if azidentityProcs == 0 && afterAzidentity != azidProcs*each {
		t.Fatalf("azid-only cold start: %d of %d tokens in the file", afterAzidentity, azidProcs*each)
	}
	// Each azid process has one more miss, as a running service does.
	var wg sync.WaitGroup
	for _, p := range procs[:azidProcs] {
		fmt.Fprintln(p.in, "again")
		expect(p, "DONE")
		p.in.Close()
		wg.Go(func() {
			if err := p.cmd.Wait(); err != nil {
				t.Errorf("azid helper: %v", err)
			}
		})
	}
	wg.Wait()
	final, others := count()
	want := azidProcs * (each + 1)
	t.Logf("azid tokens in the file: %d of %d when the azidentity processes finished (%d lost to their writes), %d of %d after each azid process's next miss; %d azidentity tokens",
		afterAzidentity, azidProcs*each, azidProcs*each-afterAzidentity, final, want, others)
	if final != want {
		t.Fatalf("%d of %d azid tokens lost for good: %v", want-final, want, missingScopes())
	}
}

// TestColdStartHelperProcess is one process of the mixed cold start; it
// does nothing in a normal run. It says READY, waits for "go", gets N
// tokens for scopes of its own, says DONE; an azid process then gets one
// more on "again" and says DONE again.
func TestColdStartHelperProcess(t *testing.T) {
	role := os.Getenv("AZID_COLDSTART_ROLE")
	if role == "" {
		return
	}
	if err := coldStartHelper(role); err != nil {
		// The error, never a token.
		fmt.Println("helper error:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func coldStartHelper(role string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pem, err := os.ReadFile(os.Getenv("AZID_COLDSTART_CA"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	co := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: os.Getenv("AZID_COLDSTART_URL")},
		Transport: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	}
	name := os.Getenv("AZID_COLDSTART_NAME")
	var cred azcore.TokenCredential
	switch role {
	case "azid":
		// Problems with the cache go to stderr, into the test's output.
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		c, err := cache.New(&cache.Options{Name: name, Logger: log})
		if err != nil {
			return err
		}
		cred, err = azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
			&azid.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, Cache: c, Logger: log})
		if err != nil {
			return err
		}
	default:
		c, err := azcache.New(&azcache.Options{Name: name})
		if err != nil {
			return err
		}
		cred, err = azidentity.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, Cache: c})
		if err != nil {
			return err
		}
	}
	n, _ := strconv.Atoi(os.Getenv("AZID_COLDSTART_N"))
	prefix := os.Getenv("AZID_COLDSTART_PREFIX")
	get := func(i int) error {
		opts := policy.TokenRequestOptions{Scopes: []string{fmt.Sprintf("api://%s-%d/.default", prefix, i)}}
		_, err := cred.GetToken(ctx, opts)
		// azidentity writes the file in place (os.WriteFile truncates, then
		// writes), so another azidentity process can read it half written
		// and fail to parse it; a retry reads the finished file. azid
		// replaces the file by a rename, so its writes never tear.
		for try := 0; err != nil && role != "azid" && strings.Contains(err.Error(), "incorrectly formatted JWE") && try < 5; try++ {
			time.Sleep(20 * time.Millisecond)
			_, err = cred.GetToken(ctx, opts)
		}
		return err
	}
	in := bufio.NewScanner(os.Stdin)
	fmt.Println("READY")
	if !in.Scan() {
		return fmt.Errorf("no start signal")
	}
	for i := range n {
		if err := get(i); err != nil {
			return err
		}
	}
	fmt.Println("DONE")
	if role == "azid" && in.Scan() && in.Text() == "again" {
		if err := get(n); err != nil {
			return err
		}
		fmt.Println("DONE")
	}
	return nil
}
