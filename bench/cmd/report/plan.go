package main

import (
	"fmt"
	"slices"
)

// metric is one row of a workload's table.
type metric struct {
	unit  string // as go test reports it: "ns/op", "p99-ms", ...
	label string
	// noRatio: the ratio azidentity/azid means nothing for this row (a
	// count that is not a cost, such as calls made or the index hit).
	noRatio bool
}

// verdict is a target checked against azid's figures.
type verdict struct {
	got  string // azid's figure, as the target states it
	pass bool
	ran  bool // false when the figures needed were not measured
}

// spec says how to run and present one benchkit workload.
type spec struct {
	workload string // benchkit name
	title    string
	about    string // what it does and what one op is (Markdown)
	// count is how many rounds to run (each a go test run of every
	// implementation) and benchtime go test's -benchtime. Workloads whose
	// iterations take seconds get fewer rounds so that a full report stays
	// under ten minutes.
	count     int
	benchtime string
	// slow marks workloads whose single iteration takes seconds; -quick
	// runs them once.
	slow bool
	// headline is the metric the summary table shows.
	headline string
	metrics  []metric
	// target is azid's target for the workload (empty when it sets none).
	target string
	check  func(r *results) verdict
}

// Implementation names, as in BenchmarkCompare/<workload>/impl=<name>.
const (
	implAzidentity = "azidentity"
	implAzid       = "azid"
	implDirect     = "direct" // the baseline: plain HTTPS requests, no library
)

// specs lists every workload in presentation order. Its names must match
// benchkit.Workloads(); a test checks that.
func specs() []spec {
	hit := []metric{
		{unit: "ns/op", label: "time per call"},
		// Allocations get no ratio: azid's are 0.
		{unit: "allocs/op", label: "allocations per call", noRatio: true},
		{unit: "B/op", label: "bytes allocated per call", noRatio: true},
	}
	return []spec{
		{
			workload: "WarmHit", title: "Warm hit",
			about: "`GetToken` for a cached, fresh token, one goroutine: what every Azure SDK request pays before it is sent.",
			count: 5, benchtime: "1s", headline: "ns/op", metrics: hit,
			target: "≤ 100 ns and 0 allocs/op",
			check:  hitUnder100ns("WarmHit"),
		},
		{
			workload: "WarmHitFreshStrings", title: "Warm hit, fresh strings",
			about: "The warm hit where every call passes its own copy of the scope string (4,096 copies cycled, half of them in another letter case, `API://Bench/.default`): the lookup any call site gets, with nothing to gain from remembering a string it saw before.",
			count: 5, benchtime: "1s", headline: "ns/op", metrics: hit,
			target: "≤ 100 ns and 0 allocs/op",
			check:  hitUnder100ns("WarmHitFreshStrings"),
		},
		{
			workload: "WarmHitParallel", title: "Warm hit, parallel",
			about: "The warm hit from `GOMAXPROCS` goroutines at once (`b.RunParallel`); time per call is wall time divided by all calls, so a hit path without shared writes gets faster with cores.",
			count: 5, benchtime: "1s", headline: "ns/op", metrics: hit,
			target: "≤ 0.6× the single-goroutine warm hit (2 cores)",
			check: func(r *results) verdict {
				par, ok1 := r.median("WarmHitParallel", implAzid, "ns/op")
				single, ok2 := r.median("WarmHit", implAzid, "ns/op")
				q := par / single
				return verdict{got: fmt.Sprintf("%s = %.2f× the single figure (%s)", fmtDur(par), q, fmtDur(single)), pass: q <= 0.6, ran: ok1 && ok2}
			},
		},
		hitEntries(1, hit, 5),
		hitEntries(100, hit, 5),
		hitEntries(10000, hit, 3),
		{
			workload: "ColdHerdOneKey", title: "Cold herd, one key",
			about: "100 goroutines call `GetToken` at the same moment on a new credential (empty cache), all for one scope; the token endpoint has 20 ms of added latency. One op is one herd.",
			count: 5, benchtime: "1s", headline: "token-requests/op",
			metrics: []metric{
				{unit: "token-requests/op", label: "token requests per herd"},
				{unit: "p50-ms", label: "caller latency p50"},
				{unit: "p99-ms", label: "caller latency p99"},
			},
			target: "exactly 1 token request",
			check:  everyRun("ColdHerdOneKey", "token-requests/op", "token request per herd", func(v float64) bool { return v == 1 }),
		},
		{
			workload: "ColdHerdDistinctKeys", title: "Cold herd, 100 distinct keys",
			about: "100 goroutines call `GetToken` at the same moment on a new credential, each for its own scope; 20 ms of added latency. One op is one herd. " +
				"The emulator signs each of the 100 tokens on the same two cores as the clients. In both herds it signs with a 1024-bit RSA key " +
				"(entratest's SigningKeyBits; about 0.3 ms of CPU per token): at Entra's 2048 bits (about 0.9 ms) the signatures alone bound every client's p99 " +
				"at about 85 ms, and the benchmark would measure the emulator rather than the cache. The column *direct* " +
				"(100 plain HTTPS token requests, no credential library, no cache) is the floor this machine sets for any client.",
			count: 5, benchtime: "1s", slow: true, headline: "p99-ms",
			metrics: []metric{
				{unit: "p50-ms", label: "caller latency p50"},
				{unit: "p99-ms", label: "caller latency p99"},
				{unit: "token-requests/op", label: "token requests per herd", noRatio: true},
			},
			target: "p99 ≤ 75 ms",
			check: func(r *results) verdict {
				p99, ok := r.median("ColdHerdDistinctKeys", implAzid, "p99-ms")
				return verdict{got: fmtDur(p99 * 1e6), pass: p99 <= 75, ran: ok}
			},
		},
		{
			workload: "HitDuringMiss", title: "Hit during another key's miss",
			about: "Scope B is cached; misses on other scopes run back to back (each held 20 ms by the emulator, 2 ms apart). " +
				"Only calls for B that start while a miss's request is held by the emulator are timed. " +
				"A credential that holds a lock across its network call makes B wait for the rest of the miss.",
			count: 5, benchtime: "1s", headline: "hit-p99-us",
			metrics: []metric{
				{unit: "hit-p50-us", label: "hit latency p50"},
				{unit: "hit-p99-us", label: "hit latency p99"},
				{unit: "ns/op", label: "mean time per timed hit"},
				{unit: "hits/miss", label: "timed hits per miss", noRatio: true},
			},
			target: "≤ 10 µs",
			check: func(r *results) verdict {
				p99, ok := r.median("HitDuringMiss", implAzid, "hit-p99-us")
				return verdict{got: fmtDur(p99*1e3) + " (p99)", pass: p99 <= 10, ran: ok}
			},
		},
		{
			workload: "RefreshBoundary", title: "Across a refresh boundary",
			about: "The emulator sends `refresh_in` = 1 s (one-hour tokens) and has 20 ms of latency. After one token is cached, 4 goroutines call `GetToken` " +
				"every 100 µs for 2.5 s, crossing the refresh time at about 1 s (and the next token's at about 2 s). A call slower than 1 ms is a caller that waited. One op is the 2.5 s window.",
			count: 5, benchtime: "1x", slow: true, headline: "slow-calls/op",
			metrics: []metric{
				{unit: "slow-calls/op", label: "calls slower than 1 ms"},
				{unit: "calls/op", label: "calls made", noRatio: true},
				{unit: "token-requests/op", label: "token requests (refreshes) in the window", noRatio: true},
			},
			target: "0 calls slower than 1 ms",
			check: func(r *results) verdict {
				slow := r.values("RefreshBoundary", implAzid, "slow-calls/op")
				reqs := r.values("RefreshBoundary", implAzid, "token-requests/op")
				pass := len(slow) > 0 && !slices.ContainsFunc(slow, func(v float64) bool { return v != 0 }) &&
					!slices.ContainsFunc(reqs, func(v float64) bool { return v < 1 })
				return verdict{
					got:  fmt.Sprintf("%s slow calls (max over %d runs), %s refreshes per window (median)", fmtNum(maxOf(slow)), len(slow), fmtNum(medianOf(reqs))),
					pass: pass, ran: len(slow) > 0,
				}
			},
		},
		{
			workload: "ShortLived", title: "Short-lived tokens (expires_in = 300 s)",
			about: "The emulator issues 5-minute tokens. One op is 1,000 calls in a row for one scope on a new credential. " +
				"MSAL treats a token within 5 minutes of expiry as expired, so azidentity never serves these from its cache.",
			count: 3, benchtime: "1x", slow: true, headline: "token-requests/op",
			metrics: []metric{
				{unit: "token-requests/op", label: "token requests per 1,000 calls"},
				{unit: "ns/op", label: "time for 1,000 calls"},
			},
			target: "at most one request per refresh period (1 per 1,000 calls here)",
			check:  everyRun("ShortLived", "token-requests/op", "token request per 1,000 calls", func(v float64) bool { return v <= 1 }),
		},
		{
			workload: "OutagePastRefresh", title: "Entra outage past the refresh time",
			about: "A token with `refresh_in` = 1 s is cached; 1.5 s later every emulator endpoint starts answering 503, and 5 calls are timed. " +
				"Both credentials keep azcore's default retry policy, as users have it. One op is the 5 calls (its ns/op, not shown, includes the 1.5 s wait).",
			// Three rounds: one op is five calls on a 2-core machine that
			// also runs the emulator, so a single round's slowest call is
			// as much the scheduler's figure as the credential's.
			count: 3, benchtime: "1x", slow: true, headline: "call-p50-ms",
			metrics: []metric{
				{unit: "call-p50-ms", label: "call latency p50"},
				{unit: "call-max-ms", label: "call latency max"},
				{unit: "errors/op", label: "calls that failed (of 5)"},
			},
			target: "the cached token is served, without error and without waiting (< 1 ms)",
			check: func(r *results) verdict {
				errs, ok1 := r.median("OutagePastRefresh", implAzid, "errors/op")
				longest, ok2 := r.median("OutagePastRefresh", implAzid, "call-max-ms")
				return verdict{got: fmt.Sprintf("%s errors, slowest call %s", fmtNum(errs), fmtDur(longest*1e6)), pass: errs == 0 && longest < 1, ran: ok1 && ok2}
			},
		},
	}
}

// hitEntries is the spec of HitWithEntries/n=<n>. Only the 10,000-entry
// run has a target, relative to the 1-entry run.
func hitEntries(n int, hit []metric, count int) spec {
	cached := plural(n, "distinct scope") + " are"
	if n == 1 {
		cached = "1 scope is"
	}
	s := spec{
		workload: fmt.Sprintf("HitWithEntries/n=%d", n),
		title:    fmt.Sprintf("Hit with %s cached", plural(n, "scope")),
		about: fmt.Sprintf("First %s cached (`api://app-<i>/.default`), then `api://app-%d/.default`, the middle one, is hit from one goroutine. "+
			"azidentity (MSAL) finds a token by scanning a Go map, whose order is random on every scan, so on average it reads half the entries whichever is asked for.",
			cached, n/2),
		count: count, benchtime: "1s", headline: "ns/op",
		metrics: append(slices.Clone(hit), metric{unit: "hit-index", label: "index of the scope hit", noRatio: true}),
	}
	if n == 10000 {
		s.slow = true
		s.about += " Caching 10,000 tokens takes the emulator tens of seconds (an RS256 signature each), so this runs fewer times."
		s.target = "≤ 100 ns and 0 allocs/op, within 1.5× of the 1-entry hit"
		s.check = func(r *results) verdict {
			big, ok1 := r.median("HitWithEntries/n=10000", implAzid, "ns/op")
			one, ok2 := r.median("HitWithEntries/n=1", implAzid, "ns/op")
			allocs, ok3 := r.median("HitWithEntries/n=10000", implAzid, "allocs/op")
			q := big / one
			return verdict{got: fmt.Sprintf("%s, %s allocs/op = %.2f× the 1-entry figure (%s)", fmtDur(big), fmtNum(allocs), q, fmtDur(one)),
				pass: big <= 100 && allocs == 0 && q <= 1.5, ran: ok1 && ok2 && ok3}
		}
	}
	return s
}

// everyRun checks that azid's value of unit meets ok in every run, not just
// the median: "exactly one request" must hold every time.
func everyRun(workload, unit, what string, ok func(float64) bool) func(r *results) verdict {
	return func(r *results) verdict {
		vs := r.values(workload, implAzid, unit)
		good := 0
		for _, v := range vs {
			if ok(v) {
				good++
			}
		}
		return verdict{
			got:  fmt.Sprintf("%s %s (median); target met in %d of %d runs", fmtNum(medianOf(vs)), what, good, len(vs)),
			pass: len(vs) > 0 && good == len(vs),
			ran:  len(vs) > 0,
		}
	}
}

// plural is "1 scope", "100 scopes".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmtNum(float64(n)) + " " + noun + "s"
}

func medianOf(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(vs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func maxOf(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	return slices.Max(vs)
}

// hitUnder100ns checks a hit workload against its target: a median of at
// most 100 ns and no allocation.
func hitUnder100ns(workload string) func(*results) verdict {
	return func(r *results) verdict {
		ns, ok1 := r.median(workload, implAzid, "ns/op")
		allocs, ok2 := r.median(workload, implAzid, "allocs/op")
		return verdict{got: fmt.Sprintf("%s, %s allocs/op", fmtDur(ns), fmtNum(allocs)), pass: ns <= 100 && allocs == 0, ran: ok1 && ok2}
	}
}
