package entratest

import "net/http"

// Refresh-token reuse detection, as servers that follow RFC 9700 §4.14.2
// and OAuth 2.1 do: every redemption rotates the refresh token, and a
// refresh token presented a second time means it leaked (or a client lost
// track of its newest one), so the server revokes everything issued from
// that sign-in. Entra does not do this today; clients that must work with
// servers that do turn it on to prove they never present a token twice.

// rtFamily is every refresh token issued from one sign-in: the first one
// and each that rotation issued from it.
type rtFamily struct {
	revoked bool
}

// RefreshTokenStats counts refresh-token redemptions, for tests that
// assert a client never reuses a refresh token. The counts are cumulative
// for the server's life ([Server.ResetCounts] leaves them), so a reuse
// anywhere in a test is seen at its end.
type RefreshTokenStats struct {
	// Redeemed is the number of refresh tokens redeemed successfully.
	Redeemed int
	// Reused is the number of redemptions of a refresh token that had
	// already been redeemed, whether or not reuse detection is on.
	Reused int
	// RevokedGrants is the number of sign-ins (token families) revoked
	// because one of their refresh tokens was reused. It stays 0 unless
	// reuse detection is on.
	RevokedGrants int
	// RefusedRevoked is the number of redemptions refused because their
	// family had been revoked by a reuse before.
	RefusedRevoked int
}

// RefreshTokenStats returns the refresh-token counters.
func (s *Server) RefreshTokenStats() RefreshTokenStats {
	s.users.mu.Lock()
	defer s.users.mu.Unlock()
	return s.users.rtStats
}

// SetRefreshTokenReuseDetection turns reuse detection on or off on a
// running server (see [Options].DetectRefreshTokenReuse).
func (s *Server) SetRefreshTokenReuseDetection(on bool) {
	s.users.mu.Lock()
	s.users.detectReuse = on
	s.users.mu.Unlock()
}

// redeemLocked marks g redeemed and reports the error to answer, if any.
// It runs under the user state's mutex at the moment of redemption, so of
// two concurrent redemptions of one token exactly one succeeds.
func (st *userState) redeemLocked(g *refreshGrant) *entraError {
	if g.family != nil && g.family.revoked {
		st.rtStats.RefusedRevoked++
		return errRefreshTokenFamilyRevoked()
	}
	if g.redeemed {
		st.rtStats.Reused++
		if st.detectReuse {
			if g.family != nil && !g.family.revoked {
				g.family.revoked = true
				st.rtStats.RevokedGrants++
			}
			return errRefreshTokenReused()
		}
		if st.singleUseRT {
			return errRefreshTokenRedeemed()
		}
	}
	g.redeemed = true
	st.rtStats.Redeemed++
	return nil
}

// errRefreshTokenReused is the answer to a refresh token presented a second
// time under reuse detection: Entra's invalid_grant shape, with the
// AADSTS70000 code Entra uses for grants it refuses as invalid.
func errRefreshTokenReused() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 70000,
		message: "The request was denied because one or more grants are invalid: the refresh token was already redeemed. Every token issued from this sign-in has been revoked; the user must sign in again."}
}

// errRefreshTokenFamilyRevoked answers any later use of a token of a
// family revoked for reuse.
func errRefreshTokenFamilyRevoked() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 70000,
		message: "The request was denied because one or more grants are invalid: this sign-in was revoked after one of its refresh tokens was reused. The user must sign in again."}
}
