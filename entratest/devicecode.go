package entratest

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// deviceCode is one device code flow in progress.
type deviceCode struct {
	userCode, deviceCode string
	client               userClient
	tenant               string // path tenant (may be an alias)
	scope, claims        string
	expires              time.Time
	user                 *user // set on approval
	authTime             time.Time
	denied, redeemed     bool
	slowDowns            int // polls still to answer slow_down
}

// deviceCodeResponse is the device authorization answer, as Entra sends it.
type deviceCodeResponse struct {
	UserCode        string `json:"user_code"`
	DeviceCode      string `json:"device_code"`
	VerificationURI string `json:"verification_uri"`
	ExpiresIn       int64  `json:"expires_in"`
	Interval        int64  `json:"interval"`
	Message         string `json:"message"`
}

// handleDeviceCode starts a device code flow. Nobody types the code into a
// page here: tests approve or deny it with [Server.ApproveDeviceCode] and
// [Server.DenyDeviceCode].
func (s *Server) handleDeviceCode(x *exchange) {
	x.r.Body = http.MaxBytesReader(x.w, x.r.Body, maxFormBytes)
	parseErr := x.r.ParseForm()
	form := x.r.PostForm
	if e := checkForm(form, parseErr); e != nil {
		x.writeError(e)
		return
	}
	tenant := strings.ToLower(x.r.PathValue("tenant"))
	if !isSpecialTenant(tenant) {
		if e := s.tenantError(tenant); e != nil {
			x.writeError(e)
			return
		}
	}
	clientID := form.Get("client_id")
	if clientID == "" {
		x.writeError(errMissingParameter("client_id"))
		return
	}
	var c userClient
	var ok bool
	if isSpecialTenant(tenant) {
		c, ok = s.anyClient(clientID)
	} else {
		c, ok = s.clientInTenant(clientID, tenant)
	}
	if !ok {
		x.writeError(errUnknownClient(clientID, tenant))
		return
	}
	scope := form.Get("scope")
	if _, e := parseUserScope(scope); e != nil {
		x.writeError(e)
		return
	}
	st := s.users
	st.mu.Lock()
	p := st.devicePolicy
	dc := &deviceCode{
		userCode:   newUserCode(),
		deviceCode: randomToken("entratest-dc."),
		client:     c,
		tenant:     tenant,
		scope:      scope,
		claims:     form.Get("claims"),
		expires:    s.now().Add(p.ExpiresIn),
	}
	st.deviceCodes[dc.deviceCode] = dc
	st.byUserCode[dc.userCode] = dc
	st.mu.Unlock()
	uri := "https://" + x.host() + "/devicelogin"
	x.setNoCache()
	x.writeJSON(http.StatusOK, deviceCodeResponse{
		UserCode:        dc.userCode,
		DeviceCode:      dc.deviceCode,
		VerificationURI: uri,
		ExpiresIn:       durationSeconds(p.ExpiresIn),
		Interval:        durationSeconds(p.Interval),
		Message:         fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.", uri, dc.userCode),
	})
}

// newUserCode returns a 9-character code of letters and digits without
// look-alikes, the shape of Entra's user codes.
func newUserCode() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	var b [9]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// deviceCodeGrant answers a client polling with its device code.
func (s *Server) deviceCodeGrant(x *exchange, tenant string) (grantResult, *entraError) {
	code := x.form.Get("device_code")
	if code == "" {
		return grantResult{}, errMissingParameter("device_code")
	}
	st := s.users
	st.mu.Lock()
	dc, ok := st.deviceCodes[code]
	var e *entraError
	switch {
	case !ok || dc.redeemed:
		e = errBadDeviceCode()
	case !strings.EqualFold(x.form.Get("client_id"), dc.client.ClientID):
		e = errGrantOtherClient()
	case dc.denied:
		e = errDeviceCodeDeclined()
	case !s.now().Before(dc.expires):
		e = errDeviceCodeExpired()
	case dc.slowDowns > 0:
		dc.slowDowns--
		e = errSlowDown()
	case dc.user == nil:
		e = errAuthorizationPending()
	default:
		dc.redeemed = true
	}
	st.mu.Unlock()
	if e != nil {
		return grantResult{}, e
	}
	tid, e := userTenant(dc.tenant, dc.user)
	if e != nil {
		return grantResult{}, e
	}
	c, e := s.authenticateUserClient(x, tid)
	if e != nil {
		return grantResult{}, e
	}
	return s.issueUserTokens(x, userIssue{user: dc.user, client: c, tenant: tid, scope: dc.scope, claims: dc.claims, authTime: dc.authTime})
}

// deviceCodeByUserCode finds a pending code for the exported switches.
func (st *userState) pendingLocked(userCode string) (*deviceCode, error) {
	dc, ok := st.byUserCode[strings.ToUpper(strings.TrimSpace(userCode))]
	if !ok {
		return nil, fmt.Errorf("entratest: no device code with user code %q", userCode)
	}
	if dc.redeemed {
		return nil, fmt.Errorf("entratest: device code %q was already redeemed", userCode)
	}
	return dc, nil
}

// ApproveDeviceCode signs username in for the device code flow with
// userCode, as the user would on the device login page; the client's next
// poll gets tokens. It clears the user's interaction-required switch: the
// user has just signed in interactively.
func (s *Server) ApproveDeviceCode(userCode, username string) error {
	st := s.users
	st.mu.Lock()
	defer st.mu.Unlock()
	dc, err := st.pendingLocked(userCode)
	if err != nil {
		return err
	}
	u, ok := st.lookupUserLocked(username)
	if !ok {
		return fmt.Errorf("entratest: no user %q", username)
	}
	u.interactionRequired = false
	dc.user, dc.authTime = u, s.now()
	return nil
}

// DenyDeviceCode makes the flow with userCode fail as when the user
// declines: the client's next poll gets authorization_declined.
func (s *Server) DenyDeviceCode(userCode string) error {
	st := s.users
	st.mu.Lock()
	defer st.mu.Unlock()
	dc, err := st.pendingLocked(userCode)
	if err != nil {
		return err
	}
	dc.denied = true
	return nil
}

// ExpireDeviceCode makes the code with userCode expire now: the client's
// next poll gets expired_token.
func (s *Server) ExpireDeviceCode(userCode string) error {
	st := s.users
	st.mu.Lock()
	defer st.mu.Unlock()
	dc, err := st.pendingLocked(userCode)
	if err != nil {
		return err
	}
	dc.expires = s.now()
	return nil
}

// SlowDownDeviceCode makes the next polls polls of the code with userCode
// answer slow_down, as a server does to a client polling too often.
func (s *Server) SlowDownDeviceCode(userCode string, polls int) error {
	st := s.users
	st.mu.Lock()
	defer st.mu.Unlock()
	dc, err := st.pendingLocked(userCode)
	if err != nil {
		return err
	}
	dc.slowDowns = polls
	return nil
}
