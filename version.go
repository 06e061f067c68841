package azid

// moduleName and moduleVersion identify azid in the User-Agent of its token
// requests (azcore adds "azsdk-go-azid/<version>").
const (
	moduleName    = "azid"
	moduleVersion = "v0.1.0"
)
