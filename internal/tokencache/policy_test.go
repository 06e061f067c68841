package tokencache

import (
	"testing"
	"time"
)

func TestPlan(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	cases := []struct {
		name                 string
		lifetime, refreshIn  time.Duration
		u                    float64
		refresh, usable, exp time.Duration
	}{
		{"refresh_in honoured", time.Hour, 10 * time.Minute, 0, 10 * time.Minute, 59 * time.Minute, time.Hour},
		{"refresh_in shorter than half-life is still the server's call", time.Hour, time.Second, 0, time.Second, 59 * time.Minute, time.Hour},
		{"refresh_in not below lifetime is ignored", time.Hour, 2 * time.Hour, 0, 55 * time.Minute, 59 * time.Minute, time.Hour},
		{"1h token: 5 min before expiry", time.Hour, 0, 0, 55 * time.Minute, 59 * time.Minute, time.Hour},
		{"2h token: half-life", 2 * time.Hour, 0, 0, time.Hour, 119 * time.Minute, 2 * time.Hour},
		{"24h token: half-life", 24 * time.Hour, 0, 0, 12 * time.Hour, 24*time.Hour - time.Minute, 24 * time.Hour},
		{"5 min token: never before half-life", 5 * time.Minute, 0, 0, 150 * time.Second, 4 * time.Minute, 5 * time.Minute},
		{"8 min token: never before half-life", 8 * time.Minute, 0, 0, 4 * time.Minute, 7 * time.Minute, 8 * time.Minute},
		{"2 min token: a quarter of the lifetime as margin", 2 * time.Minute, 0, 0, time.Minute, 90 * time.Second, 2 * time.Minute},
		{"4 s token", 4 * time.Second, 0, 0, 2 * time.Second, 3 * time.Second, 4 * time.Second},
		// Jitter: a tenth of the wait, at most 5 min, at most half the usable window left.
		{"1h token, full jitter: half the window to usable", time.Hour, 0, 0.999999999, 55*time.Minute + 2*time.Minute, 59 * time.Minute, time.Hour},
		{"24h token, full jitter: capped at 5 min", 24 * time.Hour, 0, 0.999999999, 12*time.Hour + 5*time.Minute, 24*time.Hour - time.Minute, 24 * time.Hour},
		{"refresh_in 1 s, full jitter: a tenth of the wait", time.Hour, time.Second, 0.999999999, time.Second + 100*time.Millisecond, 59 * time.Minute, time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := plan(t0, tc.lifetime, tc.refreshIn, tc.u)
			// Jitter uses floating point; allow a microsecond.
			if d := s.refreshAt - at(tc.refresh); d < -1000 || d > 1000 {
				t.Errorf("refresh at %v, want %v", time.Duration(s.refreshAt-t0.UnixNano()), tc.refresh)
			}
			if s.usableUntil != at(tc.usable) {
				t.Errorf("usable until %v, want %v", time.Duration(s.usableUntil-t0.UnixNano()), tc.usable)
			}
			if s.expiresAt != at(tc.exp) {
				t.Errorf("expires %v, want %v", time.Duration(s.expiresAt-t0.UnixNano()), tc.exp)
			}
			if s.refreshAt > s.usableUntil || s.usableUntil > s.expiresAt {
				t.Errorf("schedule out of order: %+v", s)
			}
		})
	}
}

// Whatever the inputs, the schedule is ordered and the refresh never comes
// before half-life unless the server asked for it.
func FuzzPlan(f *testing.F) {
	f.Add(int64(time.Hour), int64(0), 0.5)
	f.Add(int64(300*time.Second), int64(0), 0.99)
	f.Add(int64(time.Second), int64(time.Millisecond), 0.1)
	f.Fuzz(func(t *testing.T, lifetime, refreshIn int64, u float64) {
		if u < 0 || u >= 1 || u != u {
			return
		}
		if lifetime > int64(365*24*time.Hour) || lifetime < 0 || refreshIn < 0 {
			return
		}
		t0 := time.Unix(1700000000, 0)
		s := plan(t0, time.Duration(lifetime), time.Duration(refreshIn), u)
		start := t0.UnixNano()
		if !(start <= s.refreshAt && s.refreshAt <= s.usableUntil && s.usableUntil <= s.expiresAt) {
			t.Fatalf("schedule out of order for lifetime %d refreshIn %d: %+v", lifetime, refreshIn, s)
		}
		serverAsked := refreshIn > 0 && refreshIn < lifetime
		if !serverAsked && lifetime > 0 && s.refreshAt < start+lifetime/2 {
			t.Fatalf("refresh before half-life for lifetime %d: %+v", lifetime, s)
		}
	})
}

func TestBackoff(t *testing.T) {
	const mid = 0.5 // u = 0.5 means no jitter: factor 0.8 + 0.4*0.5 = 1
	cases := []struct {
		name     string
		failures int
		left, ra time.Duration
		u        float64
		want     time.Duration
	}{
		{"first failure waits 30 s", 1, time.Hour, 0, mid, 30 * time.Second},
		{"second doubles", 2, time.Hour, 0, mid, time.Minute},
		{"fourth", 4, time.Hour, 0, mid, 4 * time.Minute},
		{"capped by half the time left", 6, 10 * time.Minute, 0, mid, 5 * time.Minute},
		{"many failures do not overflow", 500, time.Hour, 0, mid, 30 * time.Minute},
		{"never under a second", 1, time.Second, 0, mid, time.Second},
		{"jitter low end", 1, time.Hour, 0, 0, 24 * time.Second},
		{"jitter high end", 1, time.Hour, 0, 0.999999, 36 * time.Second},
		{"Retry-After longer than the backoff wins", 1, time.Hour, 10 * time.Minute, mid, 10 * time.Minute},
		{"Retry-After shorter than the backoff does not shorten it", 3, time.Hour, 5 * time.Second, mid, 2 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := backoff(tc.failures, tc.left, tc.ra, tc.u)
			if d := got - tc.want; d < -time.Millisecond || d > time.Millisecond {
				t.Fatalf("backoff = %v, want %v", got, tc.want)
			}
		})
	}
}
