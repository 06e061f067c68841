package entratest

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The configuration file of a standalone emulator (azid emulator --config),
// JSON:
//
//	{
//	  "tenants": [{"id": "…", "displayName": "Contoso", "domains": ["contoso.example"],
//	               "subscriptions": [{"id": "…", "displayName": "dev"}]}],
//	  "apps":    [{"tenantId": "…", "clientId": "…", "secret": "…", "allowedTenants": ["*"],
//	               "certificates": ["-----BEGIN CERTIFICATE-----\n…"]}],
//	  "users":   [{"username": "alice@contoso.example", "password": "…", "tenantId": "…"}],
//	  "token":   {"expiresIn": "1h", "refreshIn": "30m", "extExpiresIn": "2h"},
//	  "oneTimeClientAssertions": true,
//	  "detectRefreshTokenReuse": true,
//	  "faults":  {"token": {"status": 503, "retryAfter": "30s", "times": 3},
//	              "imds":  {"latency": "2s"}},
//	  "outage":  false
//	}
//
// Unknown fields are errors, so a typo does not silently drop a setting.
// Durations are Go durations ("90m") or whole seconds (5400).

// maxConfigBytes bounds a configuration file; real ones are a few KB.
const maxConfigBytes = 1 << 20

// configFile is the file format. It is separate from Options so the file
// keeps its documented field names whatever the Go types become.
type configFile struct {
	Schema  string         `json:"$schema,omitempty"` // for editors; ignored
	Tenants []configTenant `json:"tenants"`
	Apps    []configApp    `json:"apps"`
	Users   []ConfigUser   `json:"users"`
	Token   *configToken   `json:"token"`

	// OneTimeClientAssertions sets Options.OneTimeClientAssertions.
	OneTimeClientAssertions bool `json:"oneTimeClientAssertions"`

	// DetectRefreshTokenReuse sets Options.DetectRefreshTokenReuse.
	DetectRefreshTokenReuse bool `json:"detectRefreshTokenReuse"`

	// Faults are keyed by endpoint name ("token", "imds", …).
	Faults map[string]configFault `json:"faults"`

	// Outage sets the outage switch (Server.SetOutage).
	Outage bool `json:"outage"`
}

// configFault is a Fault as the file writes it.
type configFault struct {
	Latency     configDuration `json:"latency"`
	Status      int            `json:"status"`
	RetryAfter  configDuration `json:"retryAfter"`
	Hang        bool           `json:"hang"`
	Drop        bool           `json:"drop"`
	Body        *string        `json:"body"`
	ContentType string         `json:"contentType"`
	Echo        bool           `json:"echo"`
	Times       int            `json:"times"`
}

type configTenant struct {
	ID            string               `json:"id"`
	DisplayName   string               `json:"displayName"`
	Domains       []string             `json:"domains"`
	Subscriptions []configSubscription `json:"subscriptions"`
}

type configSubscription struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

type configApp struct {
	TenantID       string   `json:"tenantId"`
	ClientID       string   `json:"clientId"`
	Secret         string   `json:"secret"`
	AllowedTenants []string `json:"allowedTenants"`
	// Certificates are PEM certificates (public parts only) the app
	// authenticates with, as App.Certificates.
	Certificates []string `json:"certificates"`
}

type configToken struct {
	ExpiresIn    configDuration `json:"expiresIn"`
	RefreshIn    configDuration `json:"refreshIn"`
	ExtExpiresIn configDuration `json:"extExpiresIn"`
}

// ConfigUser is a test user as a configuration file (or azid emulator
// --user) declares it.
type ConfigUser struct {
	// Username is the user principal name, user@domain.
	Username string `json:"username"`
	// Password is what the password grant and the sign-in page accept.
	Password string `json:"password"`
	// TenantID is the user's home tenant; default: the first tenant of
	// the configuration (or DefaultTenantID).
	TenantID string `json:"tenantId"`
	// ObjectID is the user's oid; default: derived from tenant and name.
	ObjectID string `json:"objectId"`
	// DisplayName is the name claim; default: the part before the @.
	DisplayName string `json:"displayName"`
}

// configDuration reads "90m" or 5400 (seconds).
type configDuration time.Duration

func (d *configDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration like \"1h\" or \"90m\"", s)
		}
		*d = configDuration(v)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n > int64(365*24*time.Hour/time.Second) {
		return fmt.Errorf("%s is not a duration: use a string like \"1h\" or whole seconds", truncate(string(b), 40))
	}
	*d = configDuration(time.Duration(n) * time.Second)
	return nil
}

// ConfigError is a configuration that cannot be used. Where says which
// setting is wrong (e.g. "apps[1].clientId"); it never contains a secret.
type ConfigError struct {
	Where string
	Err   error
}

func (e *ConfigError) Error() string {
	if e.Where == "" {
		return "entratest: config: " + e.Err.Error()
	}
	return "entratest: config: " + e.Where + ": " + e.Err.Error()
}

func (e *ConfigError) Unwrap() error { return e.Err }

// Config is a parsed configuration file: the [Options] it sets and the
// test users it declares.
type Config struct {
	// Options has the tenants, apps and token policy of the file; add the
	// address and proxy before passing it to [NewServer].
	Options Options
	// Users are the declared test users, validated.
	Users []ConfigUser
	// Faults are the faults to set on a server, by endpoint, and Outage
	// its outage switch; [Config.ApplyFaults] sets both. They are apart
	// from Options because a running server can take new ones (azid
	// emulator re-reads them on SIGHUP).
	Faults map[Endpoint]Fault
	Outage bool
}

// ApplyFaults makes s's faults and outage switch those of c: faults c does
// not name are cleared, so applying a reloaded file heals what it no
// longer lists. The faults are replaced in one step; a counted fault
// (Times) starts its count again.
func (c *Config) ApplyFaults(s *Server) {
	s.faults.replace(c.Faults)
	s.SetOutage(c.Outage)
}

// LoadConfig reads and parses a configuration file (see [ParseConfig]).
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &ConfigError{Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, &ConfigError{Err: fmt.Errorf("reading %s: %w", path, err)}
	}
	return ParseConfig(data)
}

// ParseConfig parses a configuration file's JSON and validates it as
// [NewServer] would, so a mistake is reported with the setting it is in
// before anything starts. Errors are *[ConfigError].
func ParseConfig(data []byte) (*Config, error) {
	if len(data) > maxConfigBytes {
		return nil, &ConfigError{Err: fmt.Errorf("the file is larger than %d bytes", maxConfigBytes)}
	}
	var f configFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, &ConfigError{Err: jsonError(data, err)}
	}
	if dec.More() {
		return nil, &ConfigError{Err: errors.New("trailing data after the JSON object")}
	}

	c := &Config{}
	c.Options.DetectRefreshTokenReuse = f.DetectRefreshTokenReuse
	dir := newDirectory() // validates exactly as NewServer will
	for i, ct := range f.Tenants {
		t := Tenant{ID: ct.ID, DisplayName: ct.DisplayName, Domains: ct.Domains}
		if ct.Subscriptions != nil {
			t.Subscriptions = []Subscription{}
			for _, cs := range ct.Subscriptions {
				t.Subscriptions = append(t.Subscriptions, Subscription{ID: cs.ID, DisplayName: cs.DisplayName})
			}
		}
		if err := dir.addTenant(t); err != nil {
			return nil, &ConfigError{Where: fmt.Sprintf("tenants[%d]", i), Err: err}
		}
		c.Options.Tenants = append(c.Options.Tenants, t)
	}
	for i, ca := range f.Apps {
		a := App{TenantID: ca.TenantID, ClientID: ca.ClientID, Secret: ca.Secret, AllowedTenants: ca.AllowedTenants}
		for j, p := range ca.Certificates {
			c, err := parseConfigCertificate(p)
			if err != nil {
				return nil, &ConfigError{Where: fmt.Sprintf("apps[%d].certificates[%d]", i, j), Err: err}
			}
			a.Certificates = append(a.Certificates, c)
		}
		if err := dir.add(a); err != nil {
			return nil, &ConfigError{Where: fmt.Sprintf("apps[%d]", i), Err: err}
		}
		c.Options.Apps = append(c.Options.Apps, a)
	}
	if len(f.Apps) == 0 {
		// NewServer registers its default app when none is configured,
		// and with it the default tenant.
		_ = dir.add(App{TenantID: DefaultTenantID, ClientID: DefaultClientID, Secret: DefaultClientSecret})
	}
	defaultTenant := DefaultTenantID
	switch {
	case len(f.Tenants) > 0:
		defaultTenant = strings.ToLower(f.Tenants[0].ID)
	case len(f.Apps) > 0:
		defaultTenant = strings.ToLower(f.Apps[0].TenantID)
	}
	seen := map[string]bool{}
	for i, u := range f.Users {
		u, err := u.validate(defaultTenant)
		if err != nil {
			return nil, &ConfigError{Where: fmt.Sprintf("users[%d]", i), Err: err}
		}
		if seen[u.Username] {
			return nil, &ConfigError{Where: fmt.Sprintf("users[%d]", i), Err: fmt.Errorf("user %s is declared twice", u.Username)}
		}
		seen[u.Username] = true
		if !dir.tenantExists(u.TenantID) {
			return nil, &ConfigError{Where: fmt.Sprintf("users[%d].tenantId", i),
				Err: fmt.Errorf("tenant %s is neither in \"tenants\" nor the home of an app", u.TenantID)}
		}
		c.Users = append(c.Users, u)
	}
	if tok := f.Token; tok != nil {
		for _, d := range []struct {
			name string
			v    configDuration
		}{{"expiresIn", tok.ExpiresIn}, {"refreshIn", tok.RefreshIn}, {"extExpiresIn", tok.ExtExpiresIn}} {
			if d.v < 0 {
				return nil, &ConfigError{Where: "token." + d.name, Err: errors.New("must not be negative")}
			}
		}
		c.Options.Token = TokenPolicy{
			ExpiresIn:    time.Duration(tok.ExpiresIn),
			RefreshIn:    time.Duration(tok.RefreshIn),
			ExtExpiresIn: time.Duration(tok.ExtExpiresIn),
		}
		if err := c.Options.Token.Validate(); err != nil {
			return nil, &ConfigError{Where: "token.refreshIn", Err: err}
		}
	}
	c.Options.OneTimeClientAssertions = f.OneTimeClientAssertions
	for name, cf := range f.Faults {
		ep, fault, err := cf.fault(name)
		if err != nil {
			return nil, &ConfigError{Where: "faults." + truncate(sanitize(name), 40), Err: err}
		}
		if c.Faults == nil {
			c.Faults = make(map[Endpoint]Fault)
		}
		c.Faults[ep] = fault
	}
	c.Outage = f.Outage
	return c, nil
}

// fault checks a fault written for the endpoint named name. Settings that
// would be silently ignored (a Retry-After with no status to carry it,
// fields beside hang) are errors, so the file means what it says.
func (cf configFault) fault(name string) (Endpoint, Fault, error) {
	ep := Endpoint(name)
	if !slices.Contains(allEndpoints(), ep) {
		names := make([]string, 0, len(allEndpoints()))
		for _, e := range allEndpoints() {
			names = append(names, string(e))
		}
		slices.Sort(names)
		return "", Fault{}, fmt.Errorf("no such endpoint; the endpoints are %s", strings.Join(names, ", "))
	}
	f := Fault{Latency: time.Duration(cf.Latency), Status: cf.Status, RetryAfter: time.Duration(cf.RetryAfter),
		Hang: cf.Hang, Drop: cf.Drop, ContentType: cf.ContentType, Echo: cf.Echo, Times: cf.Times}
	if cf.Body != nil {
		f.Body = []byte(*cf.Body)
	}
	minStatus := 400 // an Entra error body needs an error status
	if cf.Body != nil {
		minStatus = 200
	}
	switch {
	case f.Latency < 0 || f.RetryAfter < 0:
		return "", Fault{}, errors.New("latency and retryAfter must not be negative")
	case f.Times < 0:
		return "", Fault{}, errors.New("times must not be negative (0 means until the fault is removed)")
	case f.Status != 0 && (f.Status < minStatus || f.Status > 599):
		return "", Fault{}, fmt.Errorf("status %d is not an HTTP status from %d to 599", f.Status, minStatus)
	case f.Hang && (f.Latency != 0 || f.Status != 0 || f.RetryAfter != 0 || f.Drop || cf.Body != nil || f.Echo):
		return "", Fault{}, errors.New("hang never answers, so it takes no other setting but times")
	case f.Drop && (f.Status != 0 || f.RetryAfter != 0 || cf.Body != nil || f.Echo):
		return "", Fault{}, errors.New("drop sends no answer, so it takes no status, retryAfter, body or echo")
	case cf.Body != nil && f.Echo:
		return "", Fault{}, errors.New("choose one of body and echo")
	case f.ContentType != "" && cf.Body == nil:
		return "", Fault{}, errors.New("contentType applies only with a body")
	case f.RetryAfter != 0 && f.Status == 0 && cf.Body == nil && !f.Echo:
		return "", Fault{}, errors.New("retryAfter is sent with an answer: give a status too (429 or 503)")
	case isZeroFault(f):
		return "", Fault{}, errors.New("the fault does nothing: give latency, status, hang, drop, body or echo")
	}
	return ep, f, nil
}

// parseConfigCertificate reads one PEM CERTIFICATE block. A private key
// has no place in the file (the emulator needs only the public part, as
// Entra does), so one is refused rather than silently kept there.
func parseConfigCertificate(p string) (*x509.Certificate, error) {
	b, rest := pem.Decode([]byte(p))
	switch {
	case b == nil:
		return nil, errors.New("not a PEM certificate: give the certificate in PEM form, a BEGIN CERTIFICATE block")
	case strings.Contains(b.Type, "PRIVATE KEY"):
		return nil, errors.New("a private key: give only the certificate, the emulator never needs the key")
	case b.Type != "CERTIFICATE":
		return nil, fmt.Errorf("a PEM %s block, not a CERTIFICATE", truncate(sanitize(b.Type), 40))
	case len(bytes.TrimSpace(rest)) > 0:
		return nil, errors.New("more than one PEM block: give each certificate as its own string")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a valid X.509 certificate: %w", err)
	}
	if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
		return nil, errors.New("the certificate's key is not RSA; Entra accepts only RSA keys for client assertions")
	}
	return c, nil
}

// ParseUser reads a user given as "username:password" (azid emulator
// --user alice@contoso.example:pass) in the default tenant.
func ParseUser(s string) (ConfigUser, error) {
	name, pass, ok := strings.Cut(s, ":")
	if !ok {
		return ConfigUser{}, errors.New("a user is given as username:password")
	}
	return ConfigUser{Username: name, Password: pass}.validate(DefaultTenantID)
}

// validate checks a declared user and fills its defaults.
func (u ConfigUser) validate(defaultTenant string) (ConfigUser, error) {
	local, domain, ok := strings.Cut(u.Username, "@")
	if !ok || local == "" || strings.ContainsAny(local, " \t\r\n\"/\\") || !validDomain(strings.ToLower(domain)) {
		return ConfigUser{}, errors.New("username must be a user principal name like alice@contoso.example")
	}
	if u.Password == "" {
		return ConfigUser{}, fmt.Errorf("user %s needs a password", u.Username)
	}
	u.Username = local + "@" + strings.ToLower(domain)
	if u.TenantID == "" {
		u.TenantID = defaultTenant
	}
	if !isGUID(u.TenantID) {
		return ConfigUser{}, fmt.Errorf("tenantId of user %s is not a GUID", u.Username)
	}
	u.TenantID = strings.ToLower(u.TenantID)
	if u.ObjectID == "" {
		u.ObjectID = ServicePrincipalID(u.TenantID, "user:"+strings.ToLower(u.Username))
	}
	if !isGUID(u.ObjectID) {
		return ConfigUser{}, fmt.Errorf("objectId of user %s is not a GUID", u.Username)
	}
	u.ObjectID = strings.ToLower(u.ObjectID)
	if u.DisplayName == "" {
		u.DisplayName = local
	}
	return u, nil
}

// jsonError turns a decoding error into one that says where in the file
// the problem is, without quoting the file (it may hold secrets).
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset)
		return fmt.Errorf("line %d, column %d: %s", line, col, syn.Error())
	case errors.As(err, &typ):
		line, col := position(data, typ.Offset)
		return fmt.Errorf("line %d, column %d: %s must be %s, not %s", line, col, typ.Field, typ.Type, typ.Value)
	case errors.Is(err, io.EOF):
		return errors.New("the file is empty; it must hold a JSON object")
	}
	return err
}

// position converts a byte offset to a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}
