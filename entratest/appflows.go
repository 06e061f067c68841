package entratest

// App flows beyond the client secret: certificate and federated client
// assertions, and the on-behalf-of (jwt-bearer) grant.

// addAppGrants registers the app-flow grants at the token endpoint.
func (s *Server) addAppGrants(g map[string]grantFunc) {}
