package managedidentity

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var arrival = time.Date(2026, 11, 28, 19, 15, 0, 0, time.UTC)

func TestParseResponseLifetimes(t *testing.T) {
	inAnHour := arrival.Add(time.Hour)
	unix := inAnHour.Unix()
	cases := []struct {
		name, body string
		want       time.Duration
	}{
		{"expires_in number", `{"access_token":"t","expires_in":3600}`, time.Hour},
		{"expires_in string", `{"access_token":"t","expires_in":"3600"}`, time.Hour},
		{"expires_in wins over expires_on", fmt.Sprintf(`{"access_token":"t","expires_in":"600","expires_on":"%d"}`, unix), 10 * time.Minute},
		{"expires_on number", fmt.Sprintf(`{"access_token":"t","expires_on":%d}`, unix), time.Hour},
		{"expires_on numeric string", fmt.Sprintf(`{"access_token":"t","expires_on":"%d"}`, unix), time.Hour},
		{"App Service 2017", `{"access_token":"t","expires_on":"11/28/2026 8:15:00 PM +00:00"}`, time.Hour},
		{"App Service 2017, zero-padded", `{"access_token":"t","expires_on":"11/28/2026 08:15:00 PM +00:00"}`, time.Hour},
		{"App Service 2017, other zone", `{"access_token":"t","expires_on":"11/28/2026 9:15:00 PM +01:00"}`, time.Hour},
		{"24-hour date", `{"access_token":"t","expires_on":"11/28/2026 20:15:00 +00:00"}`, time.Hour},
		{"date without zone is UTC", `{"access_token":"t","expires_on":"11/28/2026 20:15:00"}`, time.Hour},
		{"ISO-like date", `{"access_token":"t","expires_on":"2026-11-28 20:15:00"}`, time.Hour},
		{"RFC 3339", `{"access_token":"t","expires_on":"2026-11-28T20:15:00Z"}`, time.Hour},
		{"RFC 3339 with offset", `{"access_token":"t","expires_on":"2026-11-28T21:15:00+01:00"}`, time.Hour},
		{"BOM and spaces", "\xef\xbb\xbf  {\"access_token\":\"t\",\"expires_in\":\"3600\"}\n", time.Hour},
		{"null expires_in falls back", fmt.Sprintf(`{"access_token":"t","expires_in":null,"expires_on":%d}`, unix), time.Hour},
	}
	for _, c := range cases {
		tok, err := ParseResponse([]byte(c.body), arrival)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if tok.ExpiresIn != c.want || tok.AccessToken != "t" {
			t.Errorf("%s: ExpiresIn = %v, want %v", c.name, tok.ExpiresIn, c.want)
		}
	}
}

func TestParseResponseRefreshInAndEchoes(t *testing.T) {
	tok, err := ParseResponse([]byte(`{"access_token":"t","expires_in":"86400","refresh_in":43200,"client_id":"c","object_id":"o","msi_res_id":"/r"}`), arrival)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshIn != 12*time.Hour || tok.ClientID != "c" || tok.ObjectID != "o" || tok.ResourceID != "/r" {
		t.Fatalf("%+v", tok)
	}
	tok, err = ParseResponse([]byte(`{"access_token":"t","expires_in":"3600","refresh_in":"7200","mi_res_id":"/x"}`), arrival)
	if err != nil || tok.RefreshIn != 0 || tok.ResourceID != "/x" {
		t.Fatalf("a refresh_in past expiry must be ignored: %+v, %v", tok, err)
	}
}

func TestParseResponseErrors(t *testing.T) {
	const secret = "eyJsecret-token-text"
	cases := []struct{ body, want string }{
		{``, "empty"},
		{`<html><title>x</title>` + secret, "HTML"},
		{secret, "not a JSON object"},
		{`{"access_token":"` + secret, "not valid JSON"},
		{`[]`, "not a JSON object"},
		{`{}`, `no "access_token"`},
		{`{"access_token":null,"expires_in":1}`, `no "access_token"`},
		{`{"access_token":5,"expires_in":1}`, `"access_token" is not a string`},
		{`{"access_token":"","expires_in":1}`, `"access_token" is empty`},
		{`{"access_token":"` + secret + `"}`, `neither "expires_in" nor "expires_on"`},
		{`{"access_token":"` + secret + `","expires_in":"soon"}`, `"expires_in" is not a number`},
		{`{"access_token":"` + secret + `","expires_in":"0x10"}`, `"expires_in" is not a number`},
		{`{"access_token":"` + secret + `","expires_in":"Inf"}`, `"expires_in" is not a number`},
		{`{"access_token":"` + secret + `","expires_in":1.5}`, "whole number"},
		{`{"access_token":"` + secret + `","expires_in":0}`, "positive"},
		{`{"access_token":"` + secret + `","expires_in":-1}`, "out of range"},
		{`{"access_token":"` + secret + `","expires_in":99999999}`, "out of range"},
		{`{"access_token":"` + secret + `","expires_on":"` + secret + `"}`, "neither Unix seconds nor a date"},
		{`{"access_token":"` + secret + `","expires_on":true}`, "neither whole Unix seconds nor a date string"},
		{`{"access_token":"` + secret + `","expires_on":"1000"}`, "check the clock"},
		{`{"access_token":"` + secret + `","expires_on":1e300}`, "neither whole Unix seconds"},
		{`{"access_token":"` + secret + `","expires_on":99999999999}`, "not a plausible Unix time"},
		{`{"access_token":"` + secret + `","expires_on":"12/31/2099 00:00:00 +00:00"}`, "at most 30 days"},
		{`{"access_token":"` + secret + `","expires_in":60,"refresh_in":"x"}`, `"refresh_in"`},
	}
	for _, c := range cases {
		_, err := ParseResponse([]byte(c.body), arrival)
		var me *MalformedResponseError
		if !errors.As(err, &me) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want a MalformedResponseError saying %q", c.body, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%q: the error quotes the body: %v", c.body, err)
		}
	}
}

func TestTokenStringHidesToken(t *testing.T) {
	tok := Token{AccessToken: "eyJsecret", ExpiresIn: time.Hour}
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%+v", tok), fmt.Sprintf("%#v", tok)} {
		if strings.Contains(s, "eyJsecret") {
			t.Fatalf("%s", s)
		}
	}
}
