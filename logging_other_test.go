//go:build !unix

package azid

// toolLogCases is empty where the fake developer tools (shell scripts)
// cannot run.
var toolLogCases []secretCase
