package challenge

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	caeClaims := "eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTcyNjA3NzU5NSJ9fX0="
	tests := []struct {
		name string
		in   []string
		want []Challenge
	}{
		{"empty", []string{""}, nil},
		{"scheme only", []string{"Bearer"}, []Challenge{{Scheme: "Bearer"}}},
		{
			"CAE challenge as Entra-protected resources send it",
			[]string{`Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="` + caeClaims + `"`},
			[]Challenge{{Scheme: "Bearer", Params: []Param{
				{"realm", ""},
				{"authorization_uri", "https://login.microsoftonline.com/common/oauth2/authorize"},
				{"client_id", "00000003-0000-0000-c000-000000000000"},
				{"error", "insufficient_claims"},
				{"claims", caeClaims},
			}}},
		},
		{
			"RFC 9110 example: two challenges, escapes, token values",
			[]string{`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`},
			[]Challenge{
				{Scheme: "Newauth", Params: []Param{{"realm", "apps"}, {"type", "1"}, {"title", `Login to "apps"`}}},
				{Scheme: "Basic", Params: []Param{{"realm", "simple"}}},
			},
		},
		{
			"token68 then a parameter challenge",
			[]string{`Negotiate abc+/=, Bearer Error = "x" `},
			[]Challenge{{Scheme: "Negotiate", Token68: "abc+/="}, {Scheme: "Bearer", Params: []Param{{"error", "x"}}}},
		},
		{
			"several header values, empty list elements",
			[]string{`, Basic ,`, `Bearer a="1",,b=2`},
			[]Challenge{{Scheme: "Basic"}, {Scheme: "Bearer", Params: []Param{{"a", "1"}, {"b", "2"}}}},
		},
		{
			"a malformed challenge is skipped, the next one is read",
			[]string{`"junk", Bearer error="insufficient_claims"`},
			[]Challenge{{Scheme: "Bearer", Params: []Param{{"error", "insufficient_claims"}}}},
		},
		{
			"an unterminated quote keeps the earlier parameters",
			[]string{`Bearer a="1", b="unterminated`},
			[]Challenge{{Scheme: "Bearer", Params: []Param{{"a", "1"}}}},
		},
		{
			"commas inside quotes do not split",
			[]string{`Bearer scope="a, b", x=y`},
			[]Challenge{{Scheme: "Bearer", Params: []Param{{"scope", "a, b"}, {"x", "y"}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q)\n got %#v\nwant %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParamLookup(t *testing.T) {
	cs := Parse([]string{`Bearer ERROR="insufficient_claims", error="second"`})
	if len(cs) != 1 {
		t.Fatalf("got %d challenges", len(cs))
	}
	if got := cs[0].Param("error"); got != "insufficient_claims" {
		t.Fatalf(`Param("error") = %q; names are case-insensitive and the first wins`, got)
	}
	if got := cs[0].Param("claims"); got != "" {
		t.Fatalf(`Param("claims") = %q, want ""`, got)
	}
}

func TestParseBounds(t *testing.T) {
	h := strings.Repeat(`Bearer a="1", `, 1000)
	if got := len(Parse([]string{h})); got != maxChallenges {
		t.Fatalf("kept %d challenges, want the bound %d", got, maxChallenges)
	}
	h = "Bearer " + strings.Repeat(`a="1", `, 1000)
	cs := Parse([]string{h})
	if len(cs) != 1 || len(cs[0].Params) != maxParams {
		t.Fatalf("kept %d challenges / params, want 1 with %d params", len(cs), maxParams)
	}
}

// FuzzParse checks that any header is parsed without panicking, within the
// bounds, and into well-formed challenges.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`Bearer realm="", error="insufficient_claims", claims="eyJ9"`,
		`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`,
		`Negotiate abc==, Bearer`,
		`"`, `,,,`, `Bearer a="\`, `a=b=c, =`, "Bearer\ta\t=\t\"x\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs := Parse([]string{s, s})
		if len(cs) > maxChallenges {
			t.Fatalf("%d challenges, over the bound", len(cs))
		}
		for _, c := range cs {
			if c.Scheme == "" || strings.IndexFunc(c.Scheme, func(r rune) bool { return r > 0x7e || !isTchar(byte(r)) }) >= 0 {
				t.Fatalf("scheme %q is not a token", c.Scheme)
			}
			if len(c.Params) > maxParams {
				t.Fatalf("%d params, over the bound", len(c.Params))
			}
			if c.Token68 != "" && len(c.Params) > 0 {
				t.Fatal("a challenge has both a token68 and parameters")
			}
			for _, p := range c.Params {
				if p.Name == "" || p.Name != strings.ToLower(p.Name) {
					t.Fatalf("param name %q is empty or not lower-case", p.Name)
				}
			}
		}
	})
}
