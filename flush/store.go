package flush

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// bigEndian is true on big-endian hosts, where Store64 swaps bytes so the
// media stays little-endian.
var bigEndian = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

// Store64 stores v little-endian into b[0:8] with one aligned 8-byte store,
// the unit of failure atomicity on the media: after a crash the word holds
// either its old or its new value, never a mix (binary.LittleEndian.PutUint64
// may be compiled to narrower stores). b must start 8-byte aligned; record
// and log offsets are 64-byte aligned in a page-aligned mapping, so a
// misaligned b is a broken invariant and panics.
func Store64(b []byte, v uint64) {
	_ = b[7]
	p := unsafe.Pointer(&b[0])
	if uintptr(p)&7 != 0 {
		panic("daxkv: assertion failed: Store64 on a misaligned address")
	}
	if bigEndian {
		v = bits.ReverseBytes64(v)
	}
	*(*uint64)(p) = v
}
