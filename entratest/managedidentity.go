package entratest

// Managed identity endpoints: IMDS, App Service, Azure Arc, Cloud Shell,
// Service Fabric and Azure ML.

// managedIdentityEndpoints lists the managed identity endpoints that get
// request counters.
func managedIdentityEndpoints() []Endpoint { return nil }

// routeManagedIdentity routes the managed identity endpoints served on the
// main listener.
func (s *Server) routeManagedIdentity(handle func(pattern string, ep Endpoint, h handlerFunc)) {}
