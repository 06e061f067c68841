package serve

import (
	"net/url"
	"strings"
)

// Query is a parsed token request.
type Query struct {
	APIVersion string
	Resource   string
	// Selector names a user-assigned identity; empty for the default.
	Selector Selector
}

// Selector is how a request names an identity: the parameter and its value.
type Selector struct{ Param, Value string }

// QueryError says what is wrong with a request's query string, in words a
// caller can act on. It never repeats a parameter's value.
type QueryError struct {
	Param   string // the parameter at fault; empty for the whole query
	Problem string
}

func (e *QueryError) Error() string {
	if e.Param == "" {
		return "The query string " + e.Problem + "."
	}
	return "The " + e.Param + " parameter " + e.Problem + "."
}

// selectorParams are the identity selectors each API version defines.
var selectorParams = map[string][]string{
	APIVersion2019: {"client_id", "mi_res_id", "msi_res_id", "object_id", "principal_id"},
	APIVersion2017: {"clientid", "client_id"},
}

// maxResource bounds a resource: an App ID URI or URL is far shorter.
const maxResource = 2048

// ParseQuery reads a token request's query string. On error the returned
// Query still carries the api-version when it was readable, so the caller
// can check the right secret header before answering.
func ParseQuery(raw string) (Query, error) {
	var q Query
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return q, &QueryError{Problem: "is malformed"}
	}
	one := func(name string) (string, *QueryError) {
		vs := vals[name]
		switch {
		case len(vs) > 1:
			return "", &QueryError{Param: name, Problem: "is given more than once"}
		case len(vs) == 0:
			return "", nil
		}
		return vs[0], nil
	}
	v, qerr := one("api-version")
	if qerr != nil {
		return q, qerr
	}
	q.APIVersion = v
	switch v {
	case APIVersion2019, APIVersion2017:
	case "":
		return q, &QueryError{Param: "api-version", Problem: "is required (" + APIVersion2019 + ")"}
	default:
		return q, &QueryError{Param: "api-version", Problem: "must be " + APIVersion2019 + " (or " + APIVersion2017 + ")"}
	}
	if q.Resource, qerr = one("resource"); qerr != nil {
		return q, qerr
	}
	switch {
	case q.Resource == "":
		return q, &QueryError{Param: "resource", Problem: "is required"}
	case len(q.Resource) > maxResource:
		return q, &QueryError{Param: "resource", Problem: "is too long"}
	case strings.ContainsFunc(q.Resource, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ' ' || r == '\uFFFD' }):
		return q, &QueryError{Param: "resource", Problem: "contains spaces or control characters"}
	}
	for _, p := range selectorParams[q.APIVersion] {
		s, qerr := one(p)
		if qerr != nil {
			return q, qerr
		}
		if s == "" {
			continue
		}
		if q.Selector.Param != "" {
			return q, &QueryError{Problem: "names more than one identity (" + q.Selector.Param + " and " + p + ")"}
		}
		q.Selector = Selector{Param: p, Value: s}
	}
	return q, nil
}
