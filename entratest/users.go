package entratest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The default user registered when [Options.Users] is nil. Like the
// default app's secret, the password looks like a test value on purpose.
const (
	DefaultUsername    = "ada@entratest.example"
	DefaultPassword    = "entratest-not-a-real-password"
	DefaultDisplayName = "Ada Lovelace"
)

// AzureCLIClientID is the Azure CLI's public client ID, which azidentity
// (and azid) also use by default for user credentials. The emulator knows
// it (and Azure PowerShell's) as a first-party public client in every
// tenant, with the redirect URI http://localhost, as Entra does, so user
// flows work without registering an app.
const AzureCLIClientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

// azurePowerShellClientID is the other first-party public client users meet.
const azurePowerShellClientID = "1950a258-227b-4e31-a9cf-717495945fc2"

// User is a person who can sign in to the emulator.
type User struct {
	// Username is the sign-in name (UPN), e.g. "ada@contoso.example"; it
	// is the preferred_username claim. Compared case-insensitively.
	Username string
	// Password is what the sign-in page and the password grant accept.
	Password string
	// ObjectID is the user's object ID (oid claim and the uid of the home
	// account ID). Default: derived from the tenant and username, stable
	// across runs.
	ObjectID string
	// TenantID is the user's home tenant (utid). Default: DefaultTenantID
	// if an app is registered there, else the first app's tenant. The
	// tenant comes into existence with the user.
	TenantID string
	// DisplayName is the name claim. Default: the username.
	DisplayName string
	// GuestTenants are other tenants the user is a guest in: tokens can be
	// requested there too, with that tenant's ID in tid.
	GuestTenants []string
}

// DeviceCodePolicy sets what the device code endpoint answers. Zero fields
// take defaults.
type DeviceCodePolicy struct {
	// Interval is the polling interval sent to clients, in whole seconds.
	// Default: 5 seconds, as Entra.
	Interval time.Duration
	// ExpiresIn is how long a device code can be approved. Default: 15
	// minutes, as Entra.
	ExpiresIn time.Duration
}

// user is a registered user and its switches.
type user struct {
	User
	interactionRequired bool // refresh and password grants answer AADSTS50076
}

// homeAccountID is "<oid>.<home tenant>", the key MSAL caches a user under.
func (u *user) homeAccountID() string { return u.ObjectID + "." + u.TenantID }

// inTenant reports whether the user can get tokens in tenant (lower-case).
func (u *user) inTenant(tenant string) bool {
	if tenant == u.TenantID {
		return true
	}
	for _, t := range u.GuestTenants {
		if t == tenant {
			return true
		}
	}
	return false
}

// userState holds everything user flows remember: users, codes and
// refresh tokens. One mutex: these are touched once per request, never on
// a hot path.
type userState struct {
	s *Server

	mu           sync.Mutex
	users        map[string]*user // lower-case username
	codes        map[string]*authCode
	deviceCodes  map[string]*deviceCode // by device_code
	byUserCode   map[string]*deviceCode
	refresh      map[string]*refreshGrant
	autoApprove  string // username signed in without a form; "" = show the form
	devicePolicy DeviceCodePolicy
	singleUseRT  bool
	detectReuse  bool
	rtStats      RefreshTokenStats
}

func newUserState(s *Server, users []User, apps []App) (*userState, error) {
	st := &userState{
		s:           s,
		users:       make(map[string]*user),
		codes:       make(map[string]*authCode),
		deviceCodes: make(map[string]*deviceCode),
		byUserCode:  make(map[string]*deviceCode),
		refresh:     make(map[string]*refreshGrant),
	}
	st.devicePolicy = DeviceCodePolicy{}.withDefaults()
	if users == nil {
		users = []User{{Username: DefaultUsername, Password: DefaultPassword, DisplayName: DefaultDisplayName}}
	}
	defTenant := DefaultTenantID
	if len(apps) > 0 {
		defTenant = strings.ToLower(apps[0].TenantID)
		for _, a := range apps {
			if strings.EqualFold(a.TenantID, DefaultTenantID) {
				defTenant = DefaultTenantID
			}
		}
	}
	for _, u := range users {
		if err := st.add(u, defTenant); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// add registers u; defTenant is the home tenant when u has none.
func (st *userState) add(u User, defTenant string) error {
	if u.Username == "" || u.Password == "" {
		return errors.New("a user needs a Username and a Password")
	}
	if u.TenantID == "" {
		u.TenantID = defTenant
	}
	if !validTenantID(u.TenantID) || isSpecialTenant(u.TenantID) {
		return fmt.Errorf("user %s: tenant ID %q is not a tenant ID", u.Username, u.TenantID)
	}
	u.TenantID = strings.ToLower(u.TenantID)
	u.GuestTenants = append([]string(nil), u.GuestTenants...)
	for i, t := range u.GuestTenants {
		if !validTenantID(t) || isSpecialTenant(t) {
			return fmt.Errorf("user %s: guest tenant %q is not a tenant ID", u.Username, t)
		}
		u.GuestTenants[i] = strings.ToLower(t)
	}
	if u.ObjectID == "" {
		u.ObjectID = derivedID("entratest-user", u.TenantID, strings.ToLower(u.Username))
	} else if !isGUID(u.ObjectID) {
		return fmt.Errorf("user %s: object ID %q is not a GUID", u.Username, u.ObjectID)
	}
	u.ObjectID = strings.ToLower(u.ObjectID)
	if u.DisplayName == "" {
		u.DisplayName = u.Username
	}
	key := strings.ToLower(u.Username)

	st.mu.Lock()
	defer st.mu.Unlock()
	if _, dup := st.users[key]; dup {
		return fmt.Errorf("user %s is already registered", u.Username)
	}
	st.users[key] = &user{User: u}
	// The user's tenants exist from now on, as a tenant with only users
	// (no app registrations) does in Entra.
	d := st.s.dir
	d.mu.Lock()
	d.tenants[u.TenantID] = true
	for _, t := range u.GuestTenants {
		d.tenants[t] = true
	}
	d.mu.Unlock()
	return nil
}

// lookupUser returns the user named username, if any. st.mu must be held.
func (st *userState) lookupUserLocked(username string) (*user, bool) {
	u, ok := st.users[strings.ToLower(username)]
	return u, ok
}

// hasDomain reports whether some user's name ends in @domain (lower-case).
func (st *userState) hasDomain(domain string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	for name := range st.users {
		if strings.HasSuffix(name, "@"+domain) {
			return true
		}
	}
	return false
}

// AddUser registers another user while the server runs.
func (s *Server) AddUser(u User) error {
	if err := s.users.add(u, DefaultTenantID); err != nil {
		return fmt.Errorf("entratest: %w", err)
	}
	return nil
}

// UserObjectID returns the object ID of a registered user: the oid claim of
// its tokens.
func (s *Server) UserObjectID(username string) (string, error) {
	u, err := s.users.get(username)
	if err != nil {
		return "", err
	}
	return u.ObjectID, nil
}

// HomeAccountID returns a registered user's home account ID,
// "<object ID>.<home tenant ID>", the key clients cache the user under and
// what an AuthenticationRecord's homeAccountId holds.
func (s *Server) HomeAccountID(username string) (string, error) {
	u, err := s.users.get(username)
	if err != nil {
		return "", err
	}
	return u.homeAccountID(), nil
}

func (st *userState) get(username string) (*user, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	u, ok := st.lookupUserLocked(username)
	if !ok {
		return nil, fmt.Errorf("entratest: no user %q", username)
	}
	return u, nil
}

// SetInteractionRequired makes the refresh token and password grants for
// username answer as Entra does when Conditional Access demands
// multi-factor authentication (invalid_grant, AADSTS50076), until the user
// signs in interactively again (the sign-in page or a device code
// approval), which clears it. It is how a test makes a silent call need
// interaction.
func (s *Server) SetInteractionRequired(username string, required bool) error {
	st := s.users
	st.mu.Lock()
	defer st.mu.Unlock()
	u, ok := st.lookupUserLocked(username)
	if !ok {
		return fmt.Errorf("entratest: no user %q", username)
	}
	u.interactionRequired = required
	return nil
}

// RevokeRefreshTokens revokes every refresh token issued to username, as
// an administrator's "revoke sessions" does: redeeming one then fails with
// invalid_grant (AADSTS50173). Tokens issued later are valid.
func (s *Server) RevokeRefreshTokens(username string) error {
	st := s.users
	st.mu.Lock()
	defer st.mu.Unlock()
	u, ok := st.lookupUserLocked(username)
	if !ok {
		return fmt.Errorf("entratest: no user %q", username)
	}
	for _, g := range st.refresh {
		if g.user == u {
			g.revoked = true
		}
	}
	return nil
}

// SetSingleUseRefreshTokens makes a redeemed refresh token invalid, so a
// client that does not keep the rotated one it received fails its next
// refresh. Entra keeps redeemed tokens valid (the default here too); this
// switch lets a test prove that rotation is stored.
func (s *Server) SetSingleUseRefreshTokens(on bool) {
	s.users.mu.Lock()
	s.users.singleUseRT = on
	s.users.mu.Unlock()
}

// SetAutoApprove makes the authorize endpoint sign username in at once and
// redirect with a code, without showing the sign-in form; "" restores the
// form. For tests of code that drives the browser flow without a browser.
func (s *Server) SetAutoApprove(username string) error {
	st := s.users
	st.mu.Lock()
	defer st.mu.Unlock()
	if username != "" {
		if _, ok := st.lookupUserLocked(username); !ok {
			return fmt.Errorf("entratest: no user %q", username)
		}
	}
	st.autoApprove = username
	return nil
}

// SetDeviceCodePolicy changes the device code endpoint's interval and code
// lifetime for codes issued from now on.
func (s *Server) SetDeviceCodePolicy(p DeviceCodePolicy) {
	s.users.mu.Lock()
	s.users.devicePolicy = p.withDefaults()
	s.users.mu.Unlock()
}

func (p DeviceCodePolicy) withDefaults() DeviceCodePolicy {
	if p.Interval <= 0 {
		p.Interval = 5 * time.Second
	}
	if p.ExpiresIn <= 0 {
		p.ExpiresIn = 15 * time.Minute
	}
	return p
}

// derivedID is a stable GUID derived from its parts, like
// ServicePrincipalID.
func derivedID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	var b [16]byte
	copy(b[:], sum[:16])
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b)
}

// randomToken returns an unguessable opaque value (codes, refresh tokens).
func randomToken(prefix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// userClient is the app a user flow runs for: a registered app, or a
// first-party public client.
type userClient struct {
	App
	firstParty bool
}

func isFirstParty(clientID string) bool {
	return strings.EqualFold(clientID, AzureCLIClientID) || strings.EqualFold(clientID, azurePowerShellClientID)
}

// clientInTenant finds clientID for a user flow in tenant (lower-case, not
// an alias).
func (s *Server) clientInTenant(clientID, tenant string) (userClient, bool) {
	if isFirstParty(clientID) {
		return userClient{App: App{TenantID: tenant, ClientID: strings.ToLower(clientID), PublicClient: true,
			RedirectURIs: []string{"http://localhost"}}, firstParty: true}, true
	}
	a, ok := s.dir.lookup(tenant, clientID)
	return userClient{App: a}, ok
}

// anyClient finds clientID anywhere, for the authorize page of an alias
// tenant, before the user (and so the tenant) is known.
func (s *Server) anyClient(clientID string) (userClient, bool) {
	if isFirstParty(clientID) {
		return s.clientInTenant(clientID, "")
	}
	s.dir.mu.RLock()
	defer s.dir.mu.RUnlock()
	regs := s.dir.byClient[strings.ToLower(clientID)]
	if len(regs) == 0 {
		return userClient{}, false
	}
	return userClient{App: *regs[0]}, true
}

// redirectAllowed reports whether uri is registered for c. Loopback http
// URIs match whatever their port, as in Entra.
func redirectAllowed(c userClient, uri string) bool {
	got, err := url.Parse(uri)
	if err != nil || got.Scheme == "" || got.Fragment != "" {
		return false
	}
	for _, reg := range c.RedirectURIs {
		want, err := url.Parse(reg)
		if err != nil {
			continue
		}
		if !strings.EqualFold(want.Scheme, got.Scheme) || !strings.EqualFold(want.Hostname(), got.Hostname()) {
			continue
		}
		if strings.TrimSuffix(want.Path, "/") != strings.TrimSuffix(got.Path, "/") {
			continue
		}
		if want.Scheme == "http" && isLoopbackHost(want.Hostname()) {
			return true
		}
		if want.Port() == got.Port() {
			return true
		}
	}
	return false
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
