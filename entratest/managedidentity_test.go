package entratest

import (
	"crypto/sha1" //nolint:gosec // checking the published thumbprint
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func startMI(t *testing.T, o *Options) (*Server, *ManagedIdentityHost) {
	t.Helper()
	if o == nil {
		o = &Options{}
	}
	o.SigningKeyBits = 1024
	srv := newTestServer(t, o)
	m, err := srv.ManagedIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return srv, m
}

// miGet sends a request and decodes the JSON answer.
func miGet(t *testing.T, c *http.Client, method, u string, header map[string]string, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("answer %d is not JSON: %s", resp.StatusCode, b)
	}
	return resp.StatusCode, resp.Header, v
}

func TestManagedIdentityHostIMDS(t *testing.T) {
	srv, m := startMI(t, nil)
	sys, ok := m.SystemAssigned()
	if !ok || !isGUID(sys.ClientID) || !isGUID(sys.ObjectID) || !strings.HasPrefix(sys.ResourceID, "/subscriptions/") {
		t.Fatalf("system identity %+v", sys)
	}
	base := m.IMDSHost() + "/metadata/identity/oauth2/token"
	c := http.DefaultClient
	q := "?api-version=2018-02-01&resource=" + url.QueryEscape("https://management.azure.com/")

	status, _, v := miGet(t, c, "GET", base+q, nil, "")
	if status != 400 || v["error_description"] != "Required metadata header not specified" {
		t.Fatalf("without Metadata: %d %v", status, v)
	}
	status, _, v = miGet(t, c, "GET", base+"?resource=x", map[string]string{"Metadata": "true"}, "")
	if status != 400 || !strings.Contains(v["error_description"].(string), "api-version") {
		t.Fatalf("without api-version: %d %v", status, v)
	}
	status, _, v = miGet(t, c, "GET", base+q, map[string]string{"Metadata": "true"}, "")
	if status != 200 || v["token_type"] != "Bearer" || v["client_id"] != sys.ClientID || v["expires_in"] != "3600" {
		t.Fatalf("token: %d %v", status, v)
	}
	claims, err := srv.VerifyToken(v["access_token"].(string))
	if err != nil || claims["aud"] != "https://management.azure.com/" || claims["oid"] != sys.ObjectID || claims["idtyp"] != "app" {
		t.Fatalf("claims %v, %v", claims, err)
	}

	user := m.AddUserAssigned(ManagedIdentity{ClientID: "11111111-0000-4000-8000-000000000001"})
	for _, sel := range []string{"client_id=" + user.ClientID, "object_id=" + user.ObjectID, "msi_res_id=" + url.QueryEscape(user.ResourceID)} {
		status, _, v = miGet(t, c, "GET", base+q+"&"+sel, map[string]string{"Metadata": "true"}, "")
		if status != 200 || v["client_id"] != user.ClientID {
			t.Fatalf("%s: %d %v", sel, status, v)
		}
	}
	status, _, v = miGet(t, c, "GET", base+q+"&client_id=nobody", map[string]string{"Metadata": "true"}, "")
	if status != 400 || v["error_description"] != "Identity not found" {
		t.Fatalf("unknown identity: %d %v", status, v)
	}
	status, _, _ = miGet(t, c, "GET", base+q+"&client_id=a&object_id=b", map[string]string{"Metadata": "true"}, "")
	if status != 400 {
		t.Fatalf("two selectors: %d", status)
	}
	m.SetSystemAssigned(nil)
	if status, _, v = miGet(t, c, "GET", base+q, map[string]string{"Metadata": "true"}, ""); status != 400 {
		t.Fatalf("no system identity: %d %v", status, v)
	}
	if n := srv.Requests(EndpointIMDS); n != 9 {
		t.Fatalf("%d requests counted", n)
	}
}

func TestManagedIdentityHostSourcesCheckTheirSecrets(t *testing.T) {
	_, m := startMI(t, nil)
	c := http.DefaultClient
	res := "resource=" + url.QueryEscape("https://vault.azure.net")

	as := m.Env(EndpointAppService)
	status, _, v := miGet(t, c, "GET", as["IDENTITY_ENDPOINT"]+"?api-version=2019-08-01&"+res, map[string]string{"X-IDENTITY-HEADER": "wrong"}, "")
	if status != 400 || v["statusCode"] != float64(400) || v["message"] == nil {
		t.Fatalf("App Service, wrong header: %d %v", status, v)
	}
	status, _, v = miGet(t, c, "GET", as["IDENTITY_ENDPOINT"]+"?api-version=2019-08-01&"+res, map[string]string{"X-IDENTITY-HEADER": as["IDENTITY_HEADER"]}, "")
	if status != 200 || v["expires_in"] != nil || v["expires_on"] == nil {
		t.Fatalf("App Service: %d %v", status, v)
	}

	ml := m.Env(EndpointAzureML)
	if status, _, _ = miGet(t, c, "GET", ml["MSI_ENDPOINT"]+"?api-version=2017-09-01&"+res, map[string]string{"secret": "wrong"}, ""); status != 400 {
		t.Fatalf("Azure ML, wrong secret: %d", status)
	}
	if status, _, v = miGet(t, c, "GET", ml["MSI_ENDPOINT"]+"?api-version=2017-09-01&"+res, map[string]string{"secret": ml["MSI_SECRET"]}, ""); status != 200 {
		t.Fatalf("Azure ML: %d %v", status, v)
	}

	cs := m.Env(EndpointCloudShell)
	if status, _, _ = miGet(t, c, "GET", cs["MSI_ENDPOINT"], map[string]string{"Metadata": "true"}, ""); status != 405 {
		t.Fatalf("Cloud Shell GET: %d", status)
	}
	if status, _, v = miGet(t, c, "POST", cs["MSI_ENDPOINT"], map[string]string{"Metadata": "true"}, res); status != 200 {
		t.Fatalf("Cloud Shell: %d %v", status, v)
	}

	sf := m.Env(EndpointServiceFabric)
	pinned := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // verified by thumbprint below
		VerifyConnection: func(cs tls.ConnectionState) error {
			sum := sha1.Sum(cs.PeerCertificates[0].Raw) //nolint:gosec // see import
			if got := strings.ToUpper(hex.EncodeToString(sum[:])); got != sf["IDENTITY_SERVER_THUMBPRINT"] {
				t.Errorf("certificate thumbprint %s, Env says %s", got, sf["IDENTITY_SERVER_THUMBPRINT"])
			}
			return nil
		},
	}}}
	status, _, v = miGet(t, pinned, "GET", sf["IDENTITY_ENDPOINT"]+"?api-version=2019-07-01-preview&"+res, map[string]string{"Secret": "wrong"}, "")
	if e, _ := v["error"].(map[string]any); status != 401 || e["code"] != "SecretHeaderNotFound" {
		t.Fatalf("Service Fabric, wrong secret: %d %v", status, v)
	}
	status, _, v = miGet(t, pinned, "GET", sf["IDENTITY_ENDPOINT"]+"?api-version=2019-07-01-preview&"+res, map[string]string{"Secret": sf["IDENTITY_HEADER"]}, "")
	if _, isNumber := v["expires_on"].(float64); status != 200 || !isNumber {
		t.Fatalf("Service Fabric: %d %v", status, v)
	}
}

func TestManagedIdentityHostArcChallenge(t *testing.T) {
	_, m := startMI(t, nil)
	arc := m.Env(EndpointAzureArc)
	u := arc["IDENTITY_ENDPOINT"] + "?api-version=2020-06-01&resource=r"
	status, h, _ := miGet(t, http.DefaultClient, "GET", u, map[string]string{"Metadata": "true"}, "")
	realm, ok := strings.CutPrefix(h.Get("WWW-Authenticate"), "Basic realm=")
	if status != 401 || !ok || filepath.Dir(realm) != m.ArcKeyDir() || filepath.Ext(realm) != ".key" {
		t.Fatalf("challenge: %d %q", status, h.Get("WWW-Authenticate"))
	}
	fi, err := os.Stat(realm)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	key, _ := os.ReadFile(realm)
	status, _, v := miGet(t, http.DefaultClient, "GET", u, map[string]string{"Metadata": "true", "Authorization": "Basic " + string(key)}, "")
	if status != 200 || v["access_token"] == nil {
		t.Fatalf("with the key: %d %v", status, v)
	}
	if status, _, _ = miGet(t, http.DefaultClient, "GET", u, map[string]string{"Metadata": "true", "Authorization": "Basic guess"}, ""); status != 401 {
		t.Fatalf("a guessed key: %d", status)
	}
	m.SetArcKeyPath("/etc/passwd")
	if _, h, _ = miGet(t, http.DefaultClient, "GET", u, map[string]string{"Metadata": "true"}, ""); h.Get("WWW-Authenticate") != "Basic realm=/etc/passwd" {
		t.Fatalf("SetArcKeyPath: %q", h.Get("WWW-Authenticate"))
	}
}

func TestManagedIdentityHostExpiresOnFormats(t *testing.T) {
	now := time.Date(2026, 11, 28, 19, 15, 0, 0, time.UTC)
	_, m := startMI(t, &Options{Now: func() time.Time { return now }})
	want := map[ExpiresOnFormat]any{
		ExpiresOnNumber:  float64(now.Add(time.Hour).Unix()),
		ExpiresOnString:  "1795896900",
		ExpiresOnDate:    "11/28/2026 08:15:00 PM +00:00",
		ExpiresOnDate24h: "11/28/2026 20:15:00 +00:00",
		ExpiresOnRFC3339: "2026-11-28T20:15:00Z",
	}
	for f, w := range want {
		m.SetExpiresOnFormat(f)
		_, _, v := miGet(t, http.DefaultClient, "GET", m.IMDSHost()+"/metadata/identity/oauth2/token?api-version=2018-02-01&resource=r", map[string]string{"Metadata": "true"}, "")
		if v["expires_on"] != w || v["expires_in"] != nil {
			t.Errorf("format %d: expires_on %v (expires_in %v), want %v", f, v["expires_on"], v["expires_in"], w)
		}
	}
}

func TestManagedIdentityHostClose(t *testing.T) {
	srv, err := NewServer(&Options{SigningKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	m, err := srv.ManagedIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := srv.ManagedIdentity(); again != m {
		t.Fatal("a second call started another host")
	}
	dir, base := m.ArcKeyDir(), m.IMDSHost()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the Arc key directory survived Close: %v", err)
	}
	if _, err := http.Get(base + "/metadata/identity/oauth2/token"); err == nil {
		t.Fatal("the listener survived Close")
	}
	if _, err := srv.ManagedIdentity(); err == nil {
		t.Fatal("started after Close")
	}
	if m.Env("token") != nil {
		t.Fatal("Env for a non-managed-identity endpoint")
	}
}

func TestManagedIdentityHostFaults(t *testing.T) {
	srv, m := startMI(t, nil)
	srv.SetFault(EndpointIMDS, Fault{Status: 503, RetryAfter: 2 * time.Second, Times: 1})
	u := m.IMDSHost() + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=r"
	status, h, _ := miGet(t, http.DefaultClient, "GET", u, map[string]string{"Metadata": "true"}, "")
	if status != 503 || h.Get("Retry-After") != "2" {
		t.Fatalf("fault: %d %v", status, h)
	}
	if status, _, _ = miGet(t, http.DefaultClient, "GET", u, map[string]string{"Metadata": "true"}, ""); status != 200 {
		t.Fatalf("after the fault: %d", status)
	}
	if srv.Requests(EndpointIMDS) != 2 {
		t.Fatalf("%d requests", srv.Requests(EndpointIMDS))
	}
}
