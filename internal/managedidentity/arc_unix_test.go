//go:build unix

package managedidentity

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A FIFO named as a key file must be refused without being opened:
// opening one blocks until a writer comes.
func TestReadArcKeyRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.key")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadArcKey(dir, fifo, "linux"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("err = %v", err)
	}
}
