package entratest

import (
	"testing"
	"time"
)

// An outage window follows the server's clock: a test walks through it
// without sleeping.
func TestOutageWindow(t *testing.T) {
	start := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := newTestClock(start.Add(-time.Minute))
	srv := newTestServer(t, &Options{Now: clock.Now})
	if err := srv.SetOutageWindow(start, start.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	tokenStatus := func() int { return postForm(t, srv, tokenPath(DefaultTenantID), ccForm()).status }
	if s := tokenStatus(); s != 200 {
		t.Errorf("before the window: %d", s)
	}
	clock.Advance(time.Minute) // at start: inclusive
	wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), ccForm()), 503, "temporarily_unavailable", 90033)
	wantEntraError(t, get(t, srv, "/common/discovery/keys"), 503, "temporarily_unavailable", 90033)
	clock.Advance(10 * time.Minute) // at end: exclusive
	if s := tokenStatus(); s != 200 {
		t.Errorf("after the window: %d", s)
	}
	if n := srv.Requests(EndpointToken); n != 3 {
		t.Errorf("Requests(token) = %d, want 3", n)
	}

	clock.Advance(-5 * time.Minute)
	if err := srv.SetOutageWindow(time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if s := tokenStatus(); s != 200 {
		t.Errorf("after clearing the window: %d", s)
	}
	if err := srv.SetOutageWindow(start, start.Add(-time.Second)); err == nil {
		t.Error("a window ending before it starts was accepted")
	}
}

func TestRequestLog(t *testing.T) {
	srv := newTestServer(t, nil)
	getToken(t, srv, ccForm())
	get(t, srv, "/common/discovery/keys?secret=not-logged")
	srv.SetFault(EndpointKeys, Fault{Status: 500, Times: 1})
	get(t, srv, "/common/discovery/keys")
	log := srv.RequestLog()
	if len(log) != 3 {
		t.Fatalf("log = %+v", log)
	}
	if log[0].Endpoint != EndpointToken || log[0].Method != "POST" || log[0].Status != 200 || log[0].Proxied {
		t.Errorf("log[0] = %+v", log[0])
	}
	if log[1].Endpoint != EndpointKeys || log[1].Path != "/common/discovery/keys" || log[1].Host != srv.URL()[len("https://"):] {
		t.Errorf("log[1] = %+v", log[1])
	}
	if log[2].Status != 500 {
		t.Errorf("faulted request logged with status %d", log[2].Status)
	}
	srv.ResetCounts()
	if n := len(srv.RequestLog()); n != 0 {
		t.Errorf("log after ResetCounts has %d entries", n)
	}
}
