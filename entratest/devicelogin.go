package entratest

import (
	"html/template"
	"net/http"
)

// EndpointDeviceLogin is the page a person opens to enter a device code:
// GET and POST /devicelogin, the verification_uri of device code answers.
const EndpointDeviceLogin Endpoint = "devicelogin"

// deviceLoginPage lets a person approve a device code by hand, for
// emulators run by developers; tests use [Server.ApproveDeviceCode].
var deviceLoginPage = template.Must(template.New("devicelogin").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Enter code - entratest</title></head>
<body><h1>Enter code</h1>
{{if .Error}}<p id="error" role="alert">{{.Error}}</p>{{end}}
{{if .Done}}<p id="result">You have signed in. You can close this window.</p>{{else}}
<form method="post">
<label>Code <input id="code" name="code" autocomplete="off"></label>
<label>Username <input id="username" name="username" type="email" autocomplete="username"></label>
<label>Password <input id="password" name="password" type="password" autocomplete="current-password"></label>
<button id="signin" type="submit">Sign in</button>
</form>{{end}}
</body></html>
`))

// handleDeviceLogin serves the device login page.
func (s *Server) handleDeviceLogin(x *exchange) {
	x.setNoCache()
	data := map[string]any{}
	status := http.StatusOK
	if x.r.Method == http.MethodPost {
		x.r.Body = http.MaxBytesReader(x.w, x.r.Body, maxFormBytes)
		_ = x.r.ParseForm()
		f := x.r.PostForm
		st := s.users
		st.mu.Lock()
		u, ok := st.lookupUserLocked(f.Get("username"))
		st.mu.Unlock()
		switch {
		case !ok || !secretMatches(u.Password, f.Get("password")):
			data["Error"] = "AADSTS50126: Error validating credentials due to invalid username or password."
		case s.ApproveDeviceCode(f.Get("code"), u.Username) != nil:
			data["Error"] = "That code is not valid or has expired. Check the code and try again."
		default:
			data["Done"] = true
		}
	}
	x.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	x.w.Header().Set("X-Frame-Options", "DENY")
	x.status = status
	x.w.WriteHeader(status)
	_ = deviceLoginPage.Execute(x.w, data)
}
