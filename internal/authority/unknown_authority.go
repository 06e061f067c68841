package authority

// UnknownAuthorityError reports that Entra's instance discovery does not know an
// authority host: it answered "invalid_instance". Credentials then refuse to
// send secrets there, since a mistyped or hostile host could collect them.
type UnknownAuthorityError struct {
	// Host is the authority host that was checked, e.g. "https://login.contoso.com/".
	Host string
	// Description is Entra's error_description, first line only.
	Description string
}

// Error explains the failure and the way out for legitimate private clouds.
func (e *UnknownAuthorityError) Error() string {
	msg := "authority: " + e.Host + " is not a known Microsoft Entra authority host"
	if e.Description != "" {
		msg += " (instance discovery: " + e.Description + ")"
	}
	return msg + ". Check the authority host in the cloud configuration or " + EnvAuthorityHost +
		". For a private cloud or Azure Stack whose authority Entra doesn't list, set DisableInstanceDiscovery in the credential options to skip this check"
}

// NonRetriable tells azcore's retry policy not to retry: asking again gets the
// same answer.
func (*UnknownAuthorityError) NonRetriable() {}
