// Package devtool runs the developer tools that hold a signed-in identity
// (the Azure CLI, the Azure Developer CLI, Azure PowerShell) and reads what
// they print: it starts one process with a timeout and kills its whole
// process group when the time is up, parses each tool's token output, checks
// the strings that end up on a command line, and watches the files in which
// each tool keeps its signed-in state, so that a credential can drop its
// cached tokens the moment the user signs in as someone else.
//
// Nothing here caches tokens: that is the engine's job (internal/tokencache).
package devtool
