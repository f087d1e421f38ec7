package flush

// Why each use of unsafe in this package is safe.
//
// Addresses as integers (addr). The msync path turns a slice into page
// numbers by subtracting the address of the region's first byte, and Copy
// checks whether dst and src overlap. Both slices are alive in the caller for
// the whole call, and the integers are used only for arithmetic and
// comparison, never turned back into a pointer. The pool mapping lives
// outside the Go heap and never moves; heap objects never move either.
//
// Pointers handed to assembly (ptr). The flush loops and the non-temporal
// copy take an unsafe.Pointer, not a uintptr, so that the argument stays a
// pointer the garbage collector and a stack copy can see; they are marked
// noescape because they keep nothing. The loops touch only the cache lines
// that cover [p, p+n): a write-back never changes memory, so cleaning the
// bytes of a line that lie outside the slice is harmless. The copy writes
// exactly the n bytes of dst.
//
// Alignment decided inside the assembly. The non-temporal copy computes the
// unaligned head of dst itself, from the pointer it receives, and returns the
// head and tail lengths as byte counts. An assembly function has no
// preemption point and cannot grow the stack, so the alignment it sees is the
// alignment it stores to (MOVNTDQ faults on a misaligned address); a Go-side
// computation could in principle be invalidated by a stack copy before the
// call.
//
// One 8-byte store (Store64, store.go). The state word must change with a
// single aligned 8-byte store, the media's unit of failure atomicity; writing
// through a *uint64 made from the slice's first byte compiles to one MOV / STR,
// where binary.LittleEndian.PutUint64 promises nothing about store width.
// Store64 bounds-checks b[7] first and panics on a misaligned address, so the
// store never leaves the slice and never splits across words.

import "unsafe"

// ptr returns a pointer to b's first byte (b must not be empty).
func ptr(b []byte) unsafe.Pointer {
	return unsafe.Pointer(unsafe.SliceData(b))
}

// addr returns the address of b's first byte, for arithmetic only.
func addr(b []byte) uintptr {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))
}

// addrDiff is the offset of b's first byte from base's, for arithmetic only
// (the simulator turns a flushed slice into line offsets of the mapping).
func addrDiff(b, base []byte) int64 {
	if len(base) == 0 {
		return -1
	}
	return int64(addr(b)) - int64(addr(base))
}
