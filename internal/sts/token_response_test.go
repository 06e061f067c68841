package sts

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseTokenResponse(t *testing.T) {
	const ok = `"access_token":"at","token_type":"Bearer"`
	tests := []struct {
		name    string
		body    string
		want    *TokenResponse
		wantErr string // substring of Message; "" means success
	}{
		{
			name: "full",
			body: `{"access_token":"at","token_type":"Bearer","expires_in":3599,"ext_expires_in":7199,"refresh_in":1800,"refresh_token":"rt","id_token":"idt","client_info":"ci","scope":"a b"}`,
			want: &TokenResponse{AccessToken: "at", TokenType: "Bearer", ExpiresIn: 3599 * time.Second, ExtExpiresIn: 7199 * time.Second,
				RefreshIn: 1800 * time.Second, RefreshToken: "rt", IDToken: "idt", ClientInfo: "ci", Scope: "a b"},
		},
		{name: "minimal", body: `{` + ok + `,"expires_in":60}`, want: &TokenResponse{AccessToken: "at", TokenType: "Bearer", ExpiresIn: time.Minute}},
		{name: "expires_in string (ADFS, v1)", body: `{` + ok + `,"expires_in":"3599"}`, want: &TokenResponse{AccessToken: "at", TokenType: "Bearer", ExpiresIn: 3599 * time.Second}},
		{name: "expires_in string with spaces", body: `{` + ok + `,"expires_in":" 3599 "}`, want: &TokenResponse{AccessToken: "at", TokenType: "Bearer", ExpiresIn: 3599 * time.Second}},
		{name: "expires_in whole float", body: `{` + ok + `,"expires_in":3599.0}`, want: &TokenResponse{AccessToken: "at", TokenType: "Bearer", ExpiresIn: 3599 * time.Second}},
		{name: "expires_in exponent", body: `{` + ok + `,"expires_in":3.6e3}`, want: &TokenResponse{AccessToken: "at", TokenType: "Bearer", ExpiresIn: 3600 * time.Second}},
		{name: "expires_in 30 days", body: `{` + ok + `,"expires_in":2592000}`, want: &TokenResponse{AccessToken: "at", TokenType: "Bearer", ExpiresIn: 30 * 24 * time.Hour}},
		{name: "ext and refresh as strings", body: `{` + ok + `,"expires_in":"3600","ext_expires_in":"7200","refresh_in":"1800"}`,
			want: &TokenResponse{AccessToken: "at", TokenType: "Bearer", ExpiresIn: time.Hour, ExtExpiresIn: 2 * time.Hour, RefreshIn: 30 * time.Minute}},
		{name: "refresh_in equal to expires_in ignored", body: `{` + ok + `,"expires_in":3600,"refresh_in":3600}`, want: &TokenResponse{AccessToken: "at", TokenType: "Bearer", ExpiresIn: time.Hour}},
		{name: "refresh_in after expiry ignored", body: `{` + ok + `,"expires_in":3600,"refresh_in":9000}`, want: &TokenResponse{AccessToken: "at", TokenType: "Bearer", ExpiresIn: time.Hour}},
		{name: "zero optional reads as absent", body: `{` + ok + `,"expires_in":3600,"ext_expires_in":0,"refresh_in":0}`, want: &TokenResponse{AccessToken: "at", TokenType: "Bearer", ExpiresIn: time.Hour}},
		{name: "nulls read as absent", body: `{` + ok + `,"expires_in":3600,"ext_expires_in":null,"refresh_token":null,"scope":null}`, want: &TokenResponse{AccessToken: "at", TokenType: "Bearer", ExpiresIn: time.Hour}},
		{name: "unknown fields ignored", body: `{` + ok + `,"expires_in":3600,"foci":"1","expires_on":123,"x":{"y":[1]}}`, want: &TokenResponse{AccessToken: "at", TokenType: "Bearer", ExpiresIn: time.Hour}},
		{name: "BOM", body: "\xef\xbb\xbf{" + ok + `,"expires_in":3600}`, want: &TokenResponse{AccessToken: "at", TokenType: "Bearer", ExpiresIn: time.Hour}},

		{name: "not JSON", body: `<html>hi</html>`, wantErr: "token response is not a JSON object"},
		{name: "empty", body: ``, wantErr: "token response is not a JSON object"},
		{name: "JSON null", body: `null`, wantErr: "token response is not a JSON object"},
		{name: "JSON array", body: `[1]`, wantErr: "token response is not a JSON object"},
		{name: "JSON string", body: `"eyJ0eXAi"`, wantErr: "token response is not a JSON object"},
		{name: "trailing garbage", body: `{` + ok + `,"expires_in":3600} x`, wantErr: "token response is not a JSON object"},
		{name: "truncated", body: `{` + ok + `,"expires_in":36`, wantErr: "token response is not a JSON object"},
		{name: "missing access_token", body: `{"token_type":"Bearer","expires_in":3600}`, wantErr: `token response has no "access_token"`},
		{name: "null access_token", body: `{"access_token":null,"token_type":"Bearer","expires_in":3600}`, wantErr: `token response has no "access_token"`},
		{name: "empty access_token", body: `{"access_token":"","token_type":"Bearer","expires_in":3600}`, wantErr: `token response has an empty "access_token"`},
		{name: "numeric access_token", body: `{"access_token":12345,"token_type":"Bearer","expires_in":3600}`, wantErr: `token response "access_token" is not a string`},
		{name: "missing token_type", body: `{"access_token":"at","expires_in":3600}`, wantErr: `token response has no "token_type"`},
		{name: "empty token_type", body: `{"access_token":"at","token_type":"","expires_in":3600}`, wantErr: `token response has an empty "token_type"`},
		{name: "refresh_token not a string", body: `{` + ok + `,"expires_in":3600,"refresh_token":{}}`, wantErr: `token response "refresh_token" is not a string`},
		{name: "scope array", body: `{` + ok + `,"expires_in":3600,"scope":["a"]}`, wantErr: `token response "scope" is not a string`},
		{name: "expires_in missing", body: `{` + ok + `}`, wantErr: `token response has no "expires_in"`},
		{name: "expires_in null", body: `{` + ok + `,"expires_in":null}`, wantErr: `token response has no "expires_in"`},
		{name: "expires_in negative", body: `{` + ok + `,"expires_in":-5}`, wantErr: `"expires_in" is -5; it must be a positive number of seconds`},
		{name: "expires_in negative string", body: `{` + ok + `,"expires_in":"-5"}`, wantErr: `"expires_in" is -5; it must be a positive number of seconds`},
		{name: "expires_in zero", body: `{` + ok + `,"expires_in":0}`, wantErr: `"expires_in" is 0; it must be a positive number of seconds`},
		{name: "expires_in minus zero", body: `{` + ok + `,"expires_in":-0}`, wantErr: `"expires_in" is 0; it must be a positive number of seconds`},
		{name: "expires_in non-numeric string", body: `{` + ok + `,"expires_in":"soon"}`, wantErr: `"expires_in" is not a number of seconds`},
		{name: "expires_in empty string", body: `{` + ok + `,"expires_in":""}`, wantErr: `"expires_in" is not a number of seconds`},
		{name: "expires_in hex string", body: `{` + ok + `,"expires_in":"0x10"}`, wantErr: `"expires_in" is not a number of seconds`},
		{name: "expires_in Inf string", body: `{` + ok + `,"expires_in":"Inf"}`, wantErr: `"expires_in" is not a number of seconds`},
		{name: "expires_in bool", body: `{` + ok + `,"expires_in":true}`, wantErr: `"expires_in" is not a number`},
		{name: "expires_in object", body: `{` + ok + `,"expires_in":{}}`, wantErr: `"expires_in" is not a number`},
		{name: "expires_in fraction", body: `{` + ok + `,"expires_in":3599.5}`, wantErr: `"expires_in" is 3599.5; it must be a whole number of seconds`},
		{name: "expires_in 1e30", body: `{` + ok + `,"expires_in":1e30}`, wantErr: `"expires_in" is 1e30; it must be at most 30 days`},
		{name: "expires_in 1e400", body: `{` + ok + `,"expires_in":1e400}`, wantErr: `"expires_in" is 1e400; it must be at most 30 days`},
		{name: "expires_in -1e400", body: `{` + ok + `,"expires_in":-1e400}`, wantErr: `it must be a positive number of seconds`},
		{name: "expires_in huge int", body: `{` + ok + `,"expires_in":99999999999999999999999999}`, wantErr: `"expires_in" is 99999999999999999999…; it must be at most 30 days`},
		{name: "expires_in huge negative int", body: `{` + ok + `,"expires_in":-99999999999999999999999999}`, wantErr: `it must be a positive number of seconds`},
		{name: "expires_in max int64", body: `{` + ok + `,"expires_in":9223372036854775807}`, wantErr: `it must be at most 30 days`},
		{name: "expires_in just over 30 days", body: `{` + ok + `,"expires_in":2592001}`, wantErr: `"expires_in" is 2592001; it must be at most 30 days (2592000 seconds)`},
		{name: "ext_expires_in negative", body: `{` + ok + `,"expires_in":3600,"ext_expires_in":-1}`, wantErr: `"ext_expires_in" is -1; it must not be negative`},
		{name: "ext_expires_in junk", body: `{` + ok + `,"expires_in":3600,"ext_expires_in":"later"}`, wantErr: `"ext_expires_in" is not a number of seconds`},
		{name: "refresh_in huge", body: `{` + ok + `,"expires_in":3600,"refresh_in":1e30}`, wantErr: `"refresh_in" is 1e30; it must be at most 30 days`},
		{name: "refresh_in fraction", body: `{` + ok + `,"expires_in":3600,"refresh_in":"1.5"}`, wantErr: `"refresh_in" is 1.5; it must be a whole number of seconds`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTokenResponse([]byte(tt.body))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if *got != *tt.want {
					t.Fatalf("got %#v\nwant %#v", *got, *tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("want error containing %q, got %v", tt.wantErr, got)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is %T, want *Error", err)
			}
			if !strings.Contains(e.Message, tt.wantErr) {
				t.Fatalf("Message = %q, want it to contain %q", e.Message, tt.wantErr)
			}
			if err.Error() != e.Message {
				t.Fatalf("Error() = %q, want just the Message", err.Error())
			}
			// The body holds the token; no message may quote it.
			for _, leak := range []string{`"at"`, "eyJ0eXAi", "soon", "later", "<html>"} {
				if strings.Contains(err.Error(), leak) {
					t.Fatalf("error %q quotes the body (%q)", err, leak)
				}
			}
		})
	}
}

func TestTokenResponseStringHidesTokens(t *testing.T) {
	r := &TokenResponse{AccessToken: "secret-at", RefreshToken: "secret-rt", IDToken: "secret-id", TokenType: "Bearer", ExpiresIn: time.Hour}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{r, *r} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, "secret-") {
				t.Errorf("%s of %T leaks a token: %s", verb, v, out)
			}
		}
	}
}
