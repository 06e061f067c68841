//go:build !linux

package devtool

import (
	"encoding/binary"
	"hash/maphash"
	"io/fs"
)

// writeStat adds what identifies a file version to h where no inode is at
// hand: size, mode and modification time.
func writeStat(h *maphash.Hash, fi fs.FileInfo) {
	var b [8 * 3]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(fi.Size()))
	binary.LittleEndian.PutUint64(b[8:], uint64(fi.ModTime().UnixNano()))
	binary.LittleEndian.PutUint64(b[16:], uint64(fi.Mode()))
	h.Write(b[:])
}
