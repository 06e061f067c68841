package entratest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// RevokeSessions simulates a Continuous Access Evaluation critical event (a
// user's password reset, a disabled account, a changed policy) at the
// emulator's current time, and returns that time. From then on the
// emulator's resources (its ARM endpoints) refuse CAE-capable tokens (those
// whose xms_cc claim holds CP1) issued before the event with a 401 claims
// challenge:
//
//	WWW-Authenticate: Bearer ..., error="insufficient_claims", claims="<base64>"
//
// whose claims ask for a token issued at or after the event. A client that
// passes those claims back to the token endpoint gets such a token. Tokens
// without CP1 are not challenged, as in Entra: a resource can only
// challenge clients that said they handle challenges.
func (s *Server) RevokeSessions() time.Time {
	at := s.now().Truncate(time.Second)
	s.caeEvent.Store(at.Unix())
	return at
}

// caeChallenge answers a token issued before the last critical event with
// a claims challenge, and reports whether it did.
func (x *exchange) caeChallenge(claims map[string]any) bool {
	event := x.s.caeEvent.Load()
	if event == 0 {
		return false
	}
	iat, _ := claims["iat"].(float64)
	if int64(iat) >= event || !capableCP1(claims["xms_cc"]) {
		return false
	}
	challenge := fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, event)
	x.w.Header().Set("WWW-Authenticate", fmt.Sprintf(
		`Bearer authorization_uri="%s", error="insufficient_claims", claims="%s"`,
		x.loginEndpoint(), base64.StdEncoding.EncodeToString([]byte(challenge))))
	x.setNoCache()
	x.writeJSON(http.StatusUnauthorized, map[string]any{"error": map[string]string{
		"code":    "InvalidAuthenticationToken",
		"message": "The access token was issued before a critical event (CAE); get a new token with the claims in the WWW-Authenticate challenge.",
	}})
	return true
}

// capableCP1 reports whether an xms_cc claim value lists CP1.
func capableCP1(v any) bool {
	switch c := v.(type) {
	case []any:
		return slices.ContainsFunc(c, func(e any) bool { s, _ := e.(string); return strings.EqualFold(s, "cp1") })
	case string:
		return strings.EqualFold(c, "cp1")
	}
	return false
}
