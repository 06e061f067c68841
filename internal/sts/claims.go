package sts

import (
	"encoding/json"
	"errors"
	"slices"
)

// capabilityCP1 is the client capability that tells Entra this client can
// answer Continuous Access Evaluation claims challenges, so Entra may issue it
// long-lived, revocable (CAE) tokens.
const capabilityCP1 = "CP1"

// MergeClaims builds the "claims" form field of a token request from a claims
// challenge (JSON, as azcore's bearer policy decodes it from WWW-Authenticate)
// and whether the caller enabled CAE. With CAE, the request declares the CP1
// capability as {"access_token":{"xms_cc":{"values":["CP1"]}}}, merged into
// the challenge when there is one; without CAE the challenge goes as is.
//
// It returns "" when there is nothing to send. A challenge that is not a JSON
// object, or that gives access_token.xms_cc a shape the capability cannot be
// merged into, is an error; errors never quote the challenge, which can carry
// user data.
func MergeClaims(claims string, enableCAE bool) (string, error) {
	if claims == "" && !enableCAE {
		return "", nil
	}
	if claims == "" {
		return `{"access_token":{"xms_cc":{"values":["` + capabilityCP1 + `"]}}}`, nil
	}
	var challenge map[string]any
	if err := json.Unmarshal([]byte(claims), &challenge); err != nil || challenge == nil {
		return "", errors.New("sts: the claims challenge is not a JSON object (is it still base64-encoded?)")
	}
	if !enableCAE {
		return claims, nil
	}
	if err := addCapability(challenge, capabilityCP1); err != nil {
		return "", err
	}
	b, err := json.Marshal(challenge)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// addCapability adds capability to challenge's access_token.xms_cc.values,
// creating what is missing and keeping everything the challenge already asks
// for. Any of those keys holding a value of another shape is a conflict, since
// overwriting it would change the challenge.
func addCapability(challenge map[string]any, capability string) error {
	conflict := errors.New("sts: the claims challenge conflicts with the client capabilities (access_token.xms_cc has an unexpected shape)")
	at, err := childObject(challenge, "access_token", conflict)
	if err != nil {
		return err
	}
	cc, err := childObject(at, "xms_cc", conflict)
	if err != nil {
		return err
	}
	switch values := cc["values"].(type) {
	case nil:
		if _, present := cc["values"]; present {
			return conflict
		}
		cc["values"] = []any{capability}
	case []any:
		if !slices.Contains(values, any(capability)) {
			cc["values"] = append(values, capability)
		}
	default:
		return conflict
	}
	return nil
}

// childObject returns parent[key] as an object, creating it when absent.
func childObject(parent map[string]any, key string, conflict error) (map[string]any, error) {
	v, present := parent[key]
	if !present {
		child := map[string]any{}
		parent[key] = child
		return child, nil
	}
	child, ok := v.(map[string]any)
	if !ok {
		return nil, conflict
	}
	return child, nil
}
