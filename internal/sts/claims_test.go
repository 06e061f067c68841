package sts

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestMergeClaims(t *testing.T) {
	const cp1 = `{"access_token":{"xms_cc":{"values":["CP1"]}}}`
	challenge := `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`
	tests := []struct {
		name    string
		claims  string
		cae     bool
		want    string // compared as JSON
		wantErr bool
	}{
		{name: "nothing", want: ""},
		{name: "CAE only", cae: true, want: cp1},
		{name: "challenge without CAE goes verbatim", claims: challenge, want: challenge},
		{name: "challenge with CAE merged", claims: challenge, cae: true,
			want: `{"access_token":{"nbf":{"essential":true,"value":"1700000000"},"xms_cc":{"values":["CP1"]}}}`},
		{name: "id_token challenge with CAE", claims: `{"id_token":{"auth_time":{"essential":true}}}`, cae: true,
			want: `{"id_token":{"auth_time":{"essential":true}},"access_token":{"xms_cc":{"values":["CP1"]}}}`},
		{name: "existing capabilities kept", claims: `{"access_token":{"xms_cc":{"values":["CP2"]}}}`, cae: true,
			want: `{"access_token":{"xms_cc":{"values":["CP2","CP1"]}}}`},
		{name: "CP1 not duplicated", claims: cp1, cae: true, want: cp1},
		{name: "not JSON", claims: "eyJhY2Nlc3NfdG9rZW4iOnt9fQ==", wantErr: true},
		{name: "not an object", claims: `["x"]`, cae: true, wantErr: true},
		{name: "null", claims: `null`, wantErr: true},
		{name: "access_token conflict", claims: `{"access_token":"x"}`, cae: true, wantErr: true},
		{name: "xms_cc conflict", claims: `{"access_token":{"xms_cc":1}}`, cae: true, wantErr: true},
		{name: "values conflict", claims: `{"access_token":{"xms_cc":{"values":"CP1"}}}`, cae: true, wantErr: true},
		{name: "values null conflict", claims: `{"access_token":{"xms_cc":{"values":null}}}`, cae: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MergeClaims(tt.claims, tt.cae)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %q, want error", got)
				}
				if tt.claims != "" && strings.Contains(err.Error(), tt.claims) {
					t.Fatalf("error quotes the claims: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" || got == tt.claims {
				if got != tt.want {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
				return
			}
			var g, w any
			if json.Unmarshal([]byte(got), &g) != nil || json.Unmarshal([]byte(tt.want), &w) != nil || !reflect.DeepEqual(g, w) {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}
