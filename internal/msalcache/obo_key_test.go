package msalcache

import "testing"

// On-behalf-of tokens of two users differ only in user_assertion_hash:
// both must survive a Put and a write/read round trip (MSAL Go keys them
// alike, so one overwrote the other).
func TestOnBehalfOfEntriesOfTwoUsersStayApart(t *testing.T) {
	d := New()
	for _, u := range []string{"hash-alice", "hash-bob"} {
		d.Put(AccessToken, &Entry{Environment: "login.example", CredentialType: "AccessToken", ClientID: "app", Realm: "tenant",
			Target: "https://graph.microsoft.com/User.Read", Secret: "token-" + u, CachedAt: 1, ExpiresOn: 2, UserAssertionHash: u})
	}
	data, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, problems, err := Parse(data)
	if err != nil || len(problems) != 0 {
		t.Fatalf("Parse: %v %v", problems, err)
	}
	ix := NewIndex(back)
	for _, u := range []string{"hash-alice", "hash-bob"} {
		e := ix.Find(TokenQuery{Environment: "login.example", ClientID: "app", Realm: "tenant",
			Scopes: []string{"https://graph.microsoft.com/User.Read"}, UserAssertionHash: u})
		if e == nil || e.Secret != "token-"+u {
			t.Fatalf("%s's token: %+v", u, e)
		}
	}
	if n := back.Len(AccessToken); n != 2 {
		t.Fatalf("%d access tokens after a round trip, want 2", n)
	}
}
