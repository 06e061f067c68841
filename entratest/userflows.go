package entratest

// User flows: authorize page, device code, password, authorization code and
// refresh token grants, id_token and client_info.

// userEndpoints lists the user-flow endpoints that get request counters.
func userEndpoints() []Endpoint { return nil }

// addUserGrants registers the user-flow grants at the token endpoint.
func (s *Server) addUserGrants(g map[string]grantFunc) {}

// routeUserFlows routes the user-flow endpoints.
func (s *Server) routeUserFlows(handle func(pattern string, ep Endpoint, h handlerFunc)) {}
