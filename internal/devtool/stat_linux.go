//go:build linux

package devtool

import (
	"encoding/binary"
	"hash/maphash"
	"io/fs"
	"syscall"
)

// writeStat adds what identifies a file version to h: device, inode (a file
// replaced by rename has a new one), size, mode, and the modification and
// status-change times in nanoseconds.
func writeStat(h *maphash.Hash, fi fs.FileInfo) {
	var b [8 * 7]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(fi.Size()))
	binary.LittleEndian.PutUint64(b[8:], uint64(fi.ModTime().UnixNano()))
	binary.LittleEndian.PutUint64(b[16:], uint64(fi.Mode()))
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		binary.LittleEndian.PutUint64(b[24:], uint64(st.Dev))
		binary.LittleEndian.PutUint64(b[32:], uint64(st.Ino))
		sec, nsec := st.Ctim.Unix()
		binary.LittleEndian.PutUint64(b[40:], uint64(sec))
		binary.LittleEndian.PutUint64(b[48:], uint64(nsec))
	}
	h.Write(b[:])
}
