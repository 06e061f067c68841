package entratest

// App flows beyond the client secret: certificate and federated client
// assertions (assertion.go, checked by authenticateClient for every grant),
// and the on-behalf-of (jwt-bearer) grant (obo.go).

// addAppGrants registers the app-flow grants at the token endpoint.
func (s *Server) addAppGrants(g map[string]grantFunc) {
	g[grantJWTBearer] = s.oboGrant
}
