package sts

import (
	"crypto/rand"
	"encoding/hex"
)

// newRequestID returns a random RFC 9562 version 4 UUID. Entra records it as the
// request's correlation ID, so it is what a user quotes to Microsoft support; it
// comes from crypto/rand because it must not be guessable or repeat across
// processes started at the same instant.
func newRequestID() string {
	var u [16]byte
	// crypto/rand.Read never fails on supported platforms (since Go 1.24 it
	// aborts the process instead), so there is no error to handle.
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], u[10:16])
	return string(out[:])
}
