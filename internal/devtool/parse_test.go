package devtool

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const secretToken = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJzZWNyZXQifQ.c2lnbmF0dXJl"

func TestParseAzureCLI(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	for _, tc := range []struct {
		name, out string
		want      time.Time
	}{
		{"expires_on wins", `{"accessToken":"` + secretToken + `","expiresOn":"2030-01-02 03:04:05.000000","expires_on":1893553445,"tokenType":"Bearer"}`, time.Unix(1893553445, 0)},
		{"expires_on as string", `{"accessToken":"` + secretToken + `","expires_on":"1893553445"}`, time.Unix(1893553445, 0)},
		// Azure CLI 2.45 prints only expiresOn, in local time.
		{"expiresOn local", `{"accessToken":"` + secretToken + `","expiresOn":"2030-01-02 03:04:05.123456","tenant":"t","tokenType":"Bearer"}`, time.Date(2030, 1, 2, 3, 4, 5, 123456000, est)},
		{"expiresOn without fraction", "\ufeff {\"accessToken\":\"" + secretToken + "\",\"expiresOn\":\"2030-01-02 03:04:05\"}\r\n", time.Date(2030, 1, 2, 3, 4, 5, 0, est)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := ParseAzureCLI([]byte(tc.out), est)
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != secretToken || !tok.ExpiresOn.Equal(tc.want) {
				t.Fatalf("got %v, want %v", tok.ExpiresOn, tc.want)
			}
		})
	}
}

func TestParseAzd(t *testing.T) {
	tok, err := ParseAzureDeveloperCLI([]byte(`{"token":"` + secretToken + `","expiresOn":"2030-01-02T03:04:05Z"}`))
	if err != nil || tok.AccessToken != secretToken || !tok.ExpiresOn.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("%v %v", tok.ExpiresOn, err)
	}
}

func TestParsePowerShell(t *testing.T) {
	// ConvertTo-Json output as pwsh prints it.
	out := "{\r\n  \"Token\": \"" + secretToken + "\",\r\n  \"ExpiresOn\": 1893553445\r\n}\r\n"
	tok, err := ParseAzurePowerShell([]byte(out))
	if err != nil || tok.AccessToken != secretToken || tok.ExpiresOn.Unix() != 1893553445 {
		t.Fatalf("%v %v", tok, err)
	}
}

// Garbage never ends up in an error, and every failure is a *ParseError.
func TestParseGarbage(t *testing.T) {
	cases := []string{
		"",
		secretToken,
		"WARNING: something\n" + `{"accessToken":"` + secretToken + `"}`,
		`{"accessToken":"` + secretToken + `"`,
		`{"accessToken":"` + secretToken + `"}`,
		`{"accessToken":"` + secretToken + `","expiresOn":"` + secretToken + `"}`,
		`{"accessToken":"` + secretToken + `","expires_on":"` + secretToken + `"}`,
		`{"accessToken":"` + secretToken + `","expires_on":-5}`,
		`{"accessToken":"` + secretToken + `","expires_on":1e300}`,
		`{"accessToken":"has space ` + secretToken + `","expires_on":1893553445}`,
		`{"accessToken":12,"expires_on":1893553445}`,
		`{"accessToken":"","expires_on":1893553445}`,
		`[1,2]`,
		`{"accessToken":"` + secretToken + `","expiresOn":"tomorrow"}`,
		`{"token":"` + secretToken + `","expiresOn":"` + secretToken + `"}`,
		`{"Token":"` + secretToken + `"}`,
	}
	for _, out := range cases {
		for name, parse := range map[string]func([]byte) (Token, error){
			"az":   func(b []byte) (Token, error) { return ParseAzureCLI(b, time.UTC) },
			"azd":  ParseAzureDeveloperCLI,
			"pwsh": ParseAzurePowerShell,
		} {
			_, err := parse([]byte(out))
			if err == nil {
				continue // some cases are valid for one tool only
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("%s(%q): %T %v, want *ParseError", name, out, err, err)
			}
			if strings.Contains(err.Error(), "eyJ") || strings.Contains(err.Error(), "c2lnbmF0dXJl") {
				t.Errorf("%s(%q): error quotes the token: %v", name, out, err)
			}
		}
	}
}

func fuzzParser(f *testing.F, parse func([]byte) (Token, error)) {
	f.Add([]byte(`{"accessToken":"` + secretToken + `","expiresOn":"2030-01-02 03:04:05.000000","expires_on":1893553445}`))
	f.Add([]byte(`{"token":"` + secretToken + `","expiresOn":"2030-01-02T03:04:05Z"}`))
	f.Add([]byte(`{"Token":"` + secretToken + `","ExpiresOn":"1893553445.5"}`))
	f.Add([]byte(`{"accessToken":"x","expiresOn":"2030-01-02 03:04:05"}`))
	f.Add([]byte("\ufeff{}"))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := parse(b)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("%T: %v", err, err)
			}
			if strings.Contains(err.Error(), "eyJ") {
				t.Fatalf("error quotes a token: %v", err)
			}
			return
		}
		if tok.AccessToken == "" || tok.ExpiresOn.IsZero() {
			t.Fatalf("success without a token or expiry: %+v", tok)
		}
	})
}

func FuzzParseAzureCLI(f *testing.F) {
	fuzzParser(f, func(b []byte) (Token, error) { return ParseAzureCLI(b, time.UTC) })
}
func FuzzParseAzureDeveloperCLI(f *testing.F) { fuzzParser(f, ParseAzureDeveloperCLI) }
func FuzzParseAzurePowerShell(f *testing.F)   { fuzzParser(f, ParseAzurePowerShell) }

func FuzzCleanMessage(f *testing.F) {
	f.Add("ERROR: Please run 'az login' to setup account.\r\n")
	f.Add("token " + secretToken + " end")
	f.Add(strings.Repeat("é", 1500))
	f.Fuzz(func(t *testing.T, s string) {
		out := CleanMessage(s)
		if len(out) > maxMessage+len("…") {
			t.Fatalf("message of %d bytes", len(out))
		}
		if strings.Contains(s, secretToken) && strings.Contains(out, secretToken) {
			t.Fatal("token kept")
		}
	})
}
