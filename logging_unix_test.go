//go:build unix

package azid

import (
	"log/slog"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/azid-go/azid/entratest"
)

// toolLogCases are the developer-tool credentials, run against the fake
// tools in testdata/fakebin (shell scripts, hence unix only).
var toolLogCases = []secretCase{
	{
		name:     credNameAzureCLI,
		offEntra: true,
		quiet:    true,
		new: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			return newAzCred(t, newFakeAz(t), nil, nil), nil
		},
		bad: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			ft := newFakeAz(t)
			ft.setMode("fail")
			return newAzCred(t, ft, nil, nil), nil
		},
	},
	{
		name:     credNameAzureDeveloperCLI,
		offEntra: true,
		quiet:    true,
		new: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			return newAzdCred(t, newFakeAzd(t), nil, nil), nil
		},
		bad: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			ft := newFakeAzd(t)
			ft.setMode("garbage")
			return newAzdCred(t, ft, nil, nil), nil
		},
	},
	{
		name:     credNameAzurePowerShell,
		offEntra: true,
		quiet:    true,
		new: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			return newPwshCred(t, newFakePwsh(t), nil, nil), nil
		},
		bad: func(t *testing.T, srv *entratest.Server, o azcore.ClientOptions, l *slog.Logger) (azcore.TokenCredential, []string) {
			ft := newFakePwsh(t)
			ft.setMode("garbage")
			return newPwshCred(t, ft, nil, nil), nil
		},
	},
}
