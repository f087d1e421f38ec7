package daxmap

import "unsafe"

// Every use of unsafe in daxmap is here. The memory involved is never Go
// memory: it is the address range Open reserves with mmap and releases with
// munmap in Close. The garbage collector does not scan or move it, so holding
// its address in an unsafe.Pointer or a []byte is safe for as long as the
// reservation exists, and the reservation outlives every slice the package
// hands out (the caller must not use them after Close; see Map.Close).

// bytesAt returns the n bytes at p as a slice. Safe because [p, p+n) is the
// whole reservation, one contiguous mapping owned by the Map; pages of it that
// are not yet backed by the file are PROT_NONE, and Map.Bytes never hands out
// a length that reaches them.
func bytesAt(p unsafe.Pointer, n int64) []byte {
	return unsafe.Slice((*byte)(p), n)
}

// addPtr returns p+off. Safe because callers only pass offsets inside the
// reservation that starts at p (checked against its size before the call),
// so the result points into the same mapping, as unsafe.Add requires.
func addPtr(p unsafe.Pointer, off int64) unsafe.Pointer {
	return unsafe.Add(p, off)
}

// alignPtr returns the first address at or after p that is a multiple of
// align (a power of two), and its distance from p. Safe because Open reserves
// align bytes more than it needs, so the result is still inside that range.
func alignPtr(p unsafe.Pointer, align uintptr) (unsafe.Pointer, uintptr) {
	skip := -uintptr(p) & (align - 1)
	return unsafe.Add(p, skip), skip
}

// addrOf returns the numeric address of p, to compare it with fault
// addresses. A plain conversion; the number is never turned back into a
// pointer.
func addrOf(p unsafe.Pointer) uintptr {
	return uintptr(p)
}

// sliceAddr returns the numeric address of b's first byte, to compare it
// with fault addresses (Catch). Like addrOf, the number is never turned
// back into a pointer.
func sliceAddr(b []byte) uintptr {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))
}

// The FIEMAP ioctl in sys_linux.go passes the kernel a pointer to a Go
// struct laid out as struct fiemap; the struct is allocated with new (so it
// does not move during the call) and is read only after the call returns.
