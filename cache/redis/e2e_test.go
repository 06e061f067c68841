//go:build unix

// End-to-end tests of the Redis storage under real credentials: the
// persistent cache (cache.Options.Storage) behind a ClientSecretCredential,
// the engine's lock around an acquisition (tokencache.LockingStore) taking
// the Redis lock, against the emulator and a real redis-server.
package redis

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/azid-go/azid"
	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/entratest"
)

var e2eScope = policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}}

func newE2EEmulator(t testing.TB) *entratest.Server {
	t.Helper()
	srv, err := entratest.NewServer(nil)
	if err != nil {
		t.Fatalf("starting the emulator: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// instance is one service instance: its own Redis connection, storage,
// persistent cache and credential, as on its own machine.
type instance struct {
	storage *Storage
	cred    *azid.ClientSecretCredential
}

func newInstance(t testing.TB, srv *entratest.Server, redisAddr string, o *Options) *instance {
	t.Helper()
	client := newClient(redisAddr)
	t.Cleanup(func() { client.Close() })
	s, err := New(client, patient(o))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(&cache.Options{Storage: s})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID,
		entratest.DefaultClientSecret, &azid.ClientSecretCredentialOptions{
			ClientOptions: azcore.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()},
				Transport: srv.Client(),
			},
			DisableInstanceDiscovery: true,
			Cache:                    c,
		})
	if err != nil {
		t.Fatal(err)
	}
	return &instance{storage: s, cred: cred}
}

// TestE2EFleetColdStart: 8 credential instances with empty memories miss
// the same key at once: exactly one token request in total, one token.
func TestE2EFleetColdStart(t *testing.T) {
	srv := newE2EEmulator(t)
	// A slow token endpoint widens the window in which the others miss.
	srv.SetFault(entratest.EndpointToken, entratest.Fault{Latency: 200 * time.Millisecond})
	r := startRedis(t)
	const n = 8
	insts := make([]*instance, n)
	for i := range insts {
		insts[i] = newInstance(t, srv, r.Addr(), &Options{EncryptionKeys: []EncryptionKey{key1}})
	}
	tokens := make([]string, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, in := range insts {
		wg.Go(func() {
			<-start
			tok, err := in.cred.GetToken(ctxT(t), e2eScope)
			if err != nil {
				t.Error(err)
			}
			tokens[i] = tok.Token
		})
	}
	close(start)
	wg.Wait()
	if got := srv.Requests(entratest.EndpointToken); got != 1 {
		t.Fatalf("%d cold instances made %d token requests; want 1", n, got)
	}
	for i, tok := range tokens {
		if tok != tokens[0] {
			t.Fatalf("instance %d got another token", i)
		}
	}
	// The engine held the others off through the Redis lock
	// (tokencache.LockingStore → persist → Storage.Lock): instances that
	// missed took it, and those that came second waited for the owner.
	var locks, waits uint64
	for _, in := range insts {
		st := in.storage.Stats()
		locks += st.Locks
		waits += st.LockWaits
	}
	if locks == 0 || waits == 0 {
		t.Fatalf("%d Redis locks taken, %d waited for; the engine did not hold the fleet off through the Redis lock", locks, waits)
	}
}

// TestE2EUnknownFieldsSurvive: a partition written by "another version"
// (unknown sections, unknown entry fields, numbers for timestamps) is read
// through the persistent cache, and a rewrite by this version (a token for
// another scope of the same partition) keeps everything it did not
// understand.
func TestE2EUnknownFieldsSurvive(t *testing.T) {
	srv := newE2EEmulator(t)
	r := startRedis(t)
	o := &Options{EncryptionKeys: []EncryptionKey{key1}}
	first := newInstance(t, srv, r.Addr(), o)
	ctx := ctxT(t)
	if _, err := first.cred.GetToken(ctx, e2eScope); err != nil {
		t.Fatal(err)
	}
	keys, err := r.Client(t).Keys(ctx, "azid:tok:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("Redis keys %v, %v; want the one partition", keys, err)
	}
	partition := strings.TrimPrefix(keys[0], "azid:tok:")
	data, err := first.storage.Read(ctx, partition)
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite the stored entry as another version would: same identity
	// but another target (so this version misses and must write), with
	// fields and a section it does not know.
	var doc map[string]map[string]map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	foreign := map[string]map[string]map[string]any{"AccessToken": {}, "FutureSection": {"f": {"x": []any{1.0, "two"}}}}
	for _, e := range doc["AccessToken"] {
		e["target"] = "https://vault.azure.net/other.scope"
		e["x_future_field"] = map[string]any{"nested": true}
		if v, ok := e["expires_on"].(string); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			e["expires_on"] = n // a number, as some writers store it
		}
		foreign["AccessToken"]["foreign-entry"] = e
	}
	raw, _ := json.Marshal(foreign)
	if err := first.storage.Write(ctx, partition, raw, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	before := srv.Requests(entratest.EndpointToken)
	second := newInstance(t, srv, r.Addr(), o)
	if _, err := second.cred.GetToken(ctx, e2eScope); err != nil {
		t.Fatal(err)
	}
	if got := srv.Requests(entratest.EndpointToken) - before; got != 1 {
		t.Fatalf("%d token requests; want 1 (the stored entry is for another scope)", got)
	}
	data, err = second.storage.Read(ctx, partition)
	if err != nil {
		t.Fatal(err)
	}
	var after map[string]map[string]map[string]any
	if err := json.Unmarshal(data, &after); err != nil {
		t.Fatal(err)
	}
	if fs := after["FutureSection"]; fs == nil || fmt.Sprint(fs["f"]["x"]) != "[1 two]" {
		t.Fatalf("the unknown section was not kept: %s", redactSecrets(data))
	}
	var kept, ours bool
	for _, e := range after["AccessToken"] {
		switch e["target"] {
		case "https://vault.azure.net/other.scope":
			kept = fmt.Sprint(e["x_future_field"]) == "map[nested:true]"
		case "https://vault.azure.net/.default":
			ours = true
		}
	}
	if !kept || !ours {
		t.Fatalf("after the rewrite: foreign entry with its unknown field kept %v, new token stored %v: %s", kept, ours, redactSecrets(data))
	}
	// A third instance is served the rewritten value from Redis.
	before = srv.Requests(entratest.EndpointToken)
	if _, err := newInstance(t, srv, r.Addr(), o).cred.GetToken(ctx, e2eScope); err != nil {
		t.Fatal(err)
	}
	if got := srv.Requests(entratest.EndpointToken) - before; got != 0 {
		t.Fatalf("%d token requests for a token in Redis; want 0", got)
	}
}

// redactSecrets hides the "secret" values of an MSAL document for a test
// failure message.
func redactSecrets(data []byte) string {
	return regexp.MustCompile(`"secret":"[^"]*"`).ReplaceAllString(string(data), `"secret":"…"`)
}

// TestE2ERedisKilledMidRun: Redis dies while instances are getting tokens
// for many scopes: no GetToken fails. After a restart, L2 is used again: a
// fresh instance gets a token another instance stored with no request.
func TestE2ERedisKilledMidRun(t *testing.T) {
	srv := newE2EEmulator(t)
	r := startRedis(t)
	o := &Options{RetryInterval: 20 * time.Millisecond, OperationTimeout: 100 * time.Millisecond}
	insts := make([]*instance, 4)
	for i := range insts {
		insts[i] = newInstance(t, srv, r.Addr(), o)
	}
	var failed, calls atomic.Int64
	var wg sync.WaitGroup
	ctx := ctxT(t)
	killed := make(chan struct{})
	for i, in := range insts {
		wg.Go(func() {
			// Each call is a new scope for the instance (a miss that goes
			// to Redis), shared with the other instances (whose tokens
			// Redis serves until it dies). Instance 0 kills Redis after 20
			// calls, while the others are mid-run; none goes past call 30
			// before the kill, so every instance misses with Redis dead.
			for j := range 60 {
				if j == 30 {
					<-killed
				}
				scope := fmt.Sprintf("api://app-%d/.default", j)
				calls.Add(1)
				if _, err := in.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}}); err != nil {
					failed.Add(1)
					t.Log(err)
				}
				if i == 0 && j == 20 {
					r.Stop()
					close(killed)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d GetToken calls failed while Redis was killed", failed.Load(), calls.Load())
	}
	var errs uint64
	for _, in := range insts {
		st := in.storage.Stats()
		errs += st.Errors + st.Skipped
	}
	if errs == 0 {
		t.Fatal("no Redis failure was counted; Redis was not really killed mid-run")
	}

	r.Restart()
	// Wait for the storage to close its breaker (RetryInterval).
	for {
		if _, err := insts[0].storage.Read(ctx, "probe"); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("Redis never became usable again")
		}
		time.Sleep(10 * time.Millisecond)
	}
	fresh := policy.TokenRequestOptions{Scopes: []string{"api://after-restart/.default"}}
	if _, err := insts[0].cred.GetToken(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	before := srv.Requests(entratest.EndpointToken)
	late := newInstance(t, srv, r.Addr(), o)
	if _, err := late.cred.GetToken(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	if after := srv.Requests(entratest.EndpointToken); after != before {
		t.Fatalf("a fresh instance made %d token requests for a token in Redis; want 0", after-before)
	}
}

// TestE2EFleetOfProcesses: separate processes cold-start on one key:
// exactly one token request in total.
func TestE2EFleetOfProcesses(t *testing.T) {
	srv := newE2EEmulator(t)
	srv.SetFault(entratest.EndpointToken, entratest.Fault{Latency: 50 * time.Millisecond})
	r := startRedis(t)
	caFile := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(caFile, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	const n = 4
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	var gos []func()
	for range n {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=e2e", "AZID_REDIS_ADDR="+r.Addr(),
			"AZID_EMULATOR="+srv.AuthorityHost(), "AZID_EMULATOR_CA="+caFile)
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		cmds, outs = append(cmds, cmd), append(outs, out)
		gos = append(gos, func() { fmt.Fprintln(in, "go"); in.Close() })
	}
	for _, g := range gos {
		g()
	}
	var first string
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("process %d: %v: %s", i, err, outs[i])
		}
		tok := strings.TrimSpace(outs[i].String())
		if first == "" {
			first = tok
		} else if tok != first {
			t.Fatalf("processes got different tokens")
		}
	}
	if got := srv.Requests(entratest.EndpointToken); got != 1 {
		t.Fatalf("%d cold processes made %d token requests; want 1", n, got)
	}
}

// e2eHelper is one process of TestE2EFleetOfProcesses: it prints a hash of
// the token it got (never the token itself).
func e2eHelper() int {
	pem, err := os.ReadFile(os.Getenv("AZID_EMULATOR_CA"))
	if err != nil {
		fmt.Println(err)
		return 1
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	client := newClient(os.Getenv("AZID_REDIS_ADDR"))
	s, err := New(client, patient(nil))
	if err != nil {
		fmt.Println(err)
		return 1
	}
	c, err := cache.New(&cache.Options{Storage: s})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	cred, err := azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID,
		entratest.DefaultClientSecret, &azid.ClientSecretCredentialOptions{
			ClientOptions: azcore.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: os.Getenv("AZID_EMULATOR")},
				Transport: hc,
			},
			DisableInstanceDiscovery: true,
			Cache:                    c,
		})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	bufio.NewReader(os.Stdin).ReadString('\n')
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := cred.GetToken(ctx, e2eScope)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Printf("%x\n", tokenHash(tok.Token))
	return 0
}

func init() { extraHelpers["e2e"] = e2eHelper }

// memoryCred is a credential without a persistent cache: tokens in the
// engine's memory only, the baseline of the benchmarks.
func memoryCred(t testing.TB, srv *entratest.Server) *azid.ClientSecretCredential {
	t.Helper()
	cred, err := azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID,
		entratest.DefaultClientSecret, &azid.ClientSecretCredentialOptions{
			ClientOptions: azcore.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()},
				Transport: srv.Client(),
			},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// BenchmarkE2EL1Hit: a GetToken served from the credential's memory with a
// Redis-backed cache behind it (cache=redis) costs what a hit of a
// credential without a persistent cache (cache=none) costs: Redis is never
// touched on a hit.
func BenchmarkE2EL1Hit(b *testing.B) {
	srv := newE2EEmulator(b)
	r := startRedis(b)
	ctx := context.Background()
	b.Run("cache=none", func(b *testing.B) {
		cred := memoryCred(b, srv)
		if _, err := cred.GetToken(ctx, e2eScope); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cred.GetToken(ctx, e2eScope); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cache=redis", func(b *testing.B) {
		in := newInstance(b, srv, r.Addr(), nil)
		if _, err := in.cred.GetToken(ctx, e2eScope); err != nil {
			b.Fatal(err)
		}
		reads := in.storage.Stats().Reads
		b.ReportAllocs()
		for b.Loop() {
			if _, err := in.cred.GetToken(ctx, e2eScope); err != nil {
				b.Fatal(err)
			}
		}
		if got := in.storage.Stats().Reads; got != reads {
			b.Fatalf("L1 hits read Redis %d times", got-reads)
		}
	})
}

// BenchmarkE2EL2Hit: a fresh credential's first GetToken, served from
// Redis (another instance stored the token): one Redis read, no token
// request. Building the credential is not timed.
func BenchmarkE2EL2Hit(b *testing.B) {
	srv := newE2EEmulator(b)
	r := startRedis(b)
	for _, enc := range []bool{false, true} {
		b.Run(fmt.Sprintf("encrypted=%t", enc), func(b *testing.B) {
			o := &Options{KeyPrefix: fmt.Sprintf("bench%t:", enc)}
			if enc {
				o.EncryptionKeys = []EncryptionKey{key1}
			}
			ctx := context.Background()
			if _, err := newInstance(b, srv, r.Addr(), o).cred.GetToken(ctx, e2eScope); err != nil {
				b.Fatal(err)
			}
			// One Redis connection for every fresh credential, as in a
			// process that builds credentials per request.
			client := newClient(r.Addr())
			b.Cleanup(func() { client.Close() })
			s, err := New(client, patient(o))
			if err != nil {
				b.Fatal(err)
			}
			before := srv.Requests(entratest.EndpointToken)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				c, err := cache.New(&cache.Options{Storage: s})
				if err != nil {
					b.Fatal(err)
				}
				cred, err := azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID,
					entratest.DefaultClientSecret, &azid.ClientSecretCredentialOptions{
						ClientOptions: azcore.ClientOptions{
							Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()},
							Transport: srv.Client(),
						},
						DisableInstanceDiscovery: true,
						Cache:                    c,
					})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := cred.GetToken(ctx, e2eScope); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if got := srv.Requests(entratest.EndpointToken) - before; got != 0 {
				b.Fatalf("%d token requests; every GetToken should be served from Redis", got)
			}
		})
	}
}

// BenchmarkE2EFleetColdStart: 8 fresh instances miss one key at once. The
// metric that matters is token requests per key: 8 without a shared cache
// (cache=none), 1 with Redis (cache=redis). The time is the fleet's wait
// for its first token; the emulator answers in about a millisecond, so
// against Entra the difference in load matters more than the time.
func BenchmarkE2EFleetColdStart(b *testing.B) {
	srv := newE2EEmulator(b)
	r := startRedis(b)
	rdb := r.Client(b)
	const n = 8
	for _, shared := range []bool{false, true} {
		b.Run(map[bool]string{false: "cache=none", true: "cache=redis"}[shared], func(b *testing.B) {
			requests := 0
			for b.Loop() {
				b.StopTimer()
				rdb.FlushAll(context.Background())
				creds := make([]*azid.ClientSecretCredential, n)
				for i := range creds {
					if shared {
						creds[i] = newInstance(b, srv, r.Addr(), nil).cred
					} else {
						creds[i] = memoryCred(b, srv)
					}
				}
				before := srv.Requests(entratest.EndpointToken)
				b.StartTimer()
				var wg sync.WaitGroup
				for _, cred := range creds {
					wg.Go(func() {
						if _, err := cred.GetToken(context.Background(), e2eScope); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
				requests += srv.Requests(entratest.EndpointToken) - before
			}
			b.ReportMetric(float64(requests)/float64(b.N), "token-requests/key")
		})
	}
}
