package entratest

import (
	"net/url"
	"sync"
	"testing"
)

func refreshForm(rt string) url.Values {
	return url.Values{
		"grant_type": {"refresh_token"}, "client_id": {AzureCLIClientID}, "refresh_token": {rt},
		"scope": {"https://vault.azure.net/.default openid offline_access profile"}, "client_info": {"1"},
	}
}

func TestRefreshTokenReuseRevokesTheSignIn(t *testing.T) {
	srv := newTestServer(t, &Options{DetectRefreshTokenReuse: true})
	rt1 := postForm(t, srv, tokenPath("organizations"), passwordForm()).str("refresh_token")
	other := postForm(t, srv, tokenPath("organizations"), passwordForm()).str("refresh_token") // another sign-in
	r := postForm(t, srv, tokenPath("organizations"), refreshForm(rt1))
	rt2 := r.str("refresh_token")
	if r.status != 200 || rt2 == "" || rt2 == rt1 {
		t.Fatalf("first redemption: %d %s", r.status, r.raw)
	}
	rt3 := postForm(t, srv, tokenPath("organizations"), refreshForm(rt2)).str("refresh_token")
	if rt3 == "" {
		t.Fatal("the rotated token was refused")
	}
	if st := srv.RefreshTokenStats(); st != (RefreshTokenStats{Redeemed: 2}) {
		t.Fatalf("stats = %+v", st)
	}
	// rt1 again: reuse. The family (rt1, rt2, rt3) is revoked.
	wantEntraError(t, postForm(t, srv, tokenPath("organizations"), refreshForm(rt1)), 400, "invalid_grant", 70000)
	wantEntraError(t, postForm(t, srv, tokenPath("organizations"), refreshForm(rt3)), 400, "invalid_grant", 70000)
	wantEntraError(t, postForm(t, srv, tokenPath("organizations"), refreshForm(rt1)), 400, "invalid_grant", 70000)
	if st := srv.RefreshTokenStats(); st != (RefreshTokenStats{Redeemed: 2, Reused: 1, RevokedGrants: 1, RefusedRevoked: 2}) {
		t.Fatalf("stats = %+v", st)
	}
	// Another sign-in of the same user is untouched, and ResetCounts keeps
	// the counters.
	srv.ResetCounts()
	if r := postForm(t, srv, tokenPath("organizations"), refreshForm(other)); r.status != 200 {
		t.Fatalf("another sign-in's token: %d %s", r.status, r.raw)
	}
	if st := srv.RefreshTokenStats(); st.Redeemed != 3 || st.RevokedGrants != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestConcurrentRedemptionsOfOneRefreshTokenRevokeIt(t *testing.T) {
	srv := newTestServer(t, &Options{DetectRefreshTokenReuse: true})
	rt := postForm(t, srv, tokenPath("organizations"), passwordForm()).str("refresh_token")
	const n = 8
	status := make([]int, n)
	next := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := postForm(t, srv, tokenPath("organizations"), refreshForm(rt))
			status[i], next[i] = r.status, r.str("refresh_token")
		}()
	}
	wg.Wait()
	ok := 0
	for i, s := range status {
		if s == 200 {
			ok++
			// The one that succeeded got a token of the revoked family.
			wantEntraError(t, postForm(t, srv, tokenPath("organizations"), refreshForm(next[i])), 400, "invalid_grant", 70000)
		}
	}
	// n-1 refused redemptions and the check above: the first reuse
	// revokes, the others find the family revoked.
	if st := srv.RefreshTokenStats(); ok != 1 || st.Redeemed != 1 || st.Reused < 1 || st.Reused+st.RefusedRevoked != n || st.RevokedGrants != 1 {
		t.Fatalf("%d of %d succeeded; stats = %+v", ok, n, st)
	}
}

func TestReuseIsCountedWithoutDetection(t *testing.T) {
	srv := newTestServer(t, nil)
	rt := postForm(t, srv, tokenPath("organizations"), passwordForm()).str("refresh_token")
	for range 2 {
		if r := postForm(t, srv, tokenPath("organizations"), refreshForm(rt)); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	}
	if st := srv.RefreshTokenStats(); st != (RefreshTokenStats{Redeemed: 2, Reused: 1}) {
		t.Fatalf("stats = %+v", st)
	}
	srv.SetRefreshTokenReuseDetection(true)
	wantEntraError(t, postForm(t, srv, tokenPath("organizations"), refreshForm(rt)), 400, "invalid_grant", 70000)
}

func TestConfigDetectRefreshTokenReuse(t *testing.T) {
	c, err := ParseConfig([]byte(`{"detectRefreshTokenReuse": true}`))
	if err != nil || !c.Options.DetectRefreshTokenReuse {
		t.Fatalf("config = %+v, %v", c, err)
	}
	if _, err := ParseConfig([]byte(`{"detectRefreshTokenReuse": "yes"}`)); err == nil {
		t.Fatal("a string was accepted as a bool")
	}
}

func TestARefusedRefreshLeavesTheTokenUnredeemed(t *testing.T) {
	srv := newTestServer(t, &Options{DetectRefreshTokenReuse: true})
	rt := postForm(t, srv, tokenPath("organizations"), passwordForm()).str("refresh_token")
	// Two resources in one request, then malformed claims: refused before
	// the token is spent.
	bad := with(refreshForm(rt), "scope", "https://vault.azure.net/.default https://storage.azure.com/.default")
	if r := postForm(t, srv, tokenPath("organizations"), bad); r.status != 400 {
		t.Fatalf("two resources: %d %s", r.status, r.raw)
	}
	if r := postForm(t, srv, tokenPath("organizations"), with(refreshForm(rt), "claims", "{not json")); r.status != 400 {
		t.Fatalf("bad claims: %d %s", r.status, r.raw)
	}
	if r := postForm(t, srv, tokenPath("organizations"), refreshForm(rt)); r.status != 200 {
		t.Fatalf("the token after refused requests: %d %s", r.status, r.raw)
	}
	if st := srv.RefreshTokenStats(); st != (RefreshTokenStats{Redeemed: 1}) {
		t.Fatalf("stats = %+v", st)
	}
}
