//go:build amd64

package flush

import (
	"sync"
	"unsafe"
)

// Ordering on amd64. CLFLUSHOPT, CLWB and non-temporal stores are weakly
// ordered; Drain's SFENCE orders them for this thread. The Go scheduler may
// move a goroutine to another thread between Flush and Drain, but the old
// thread executes LOCK-prefixed instructions to hand the goroutine over, and
// the Intel SDM lists locked instructions among the operations that order
// CLFLUSHOPT and CLWB and drain the write-combining buffers that hold
// non-temporal stores. So the write-back of the old thread completes before
// the goroutine runs elsewhere, and the SFENCE there covers the rest.

// x86Features holds the CPUID bits this package uses.
type x86Features struct {
	clflush, clflushopt, clwb bool
}

// x86 reads CPUID once: under a hypervisor each CPUID traps and costs
// microseconds.
var x86 = sync.OnceValue(func() x86Features {
	maxLeaf, _, _, _ := cpuid(0, 0)
	_, _, _, edx1 := cpuid(1, 0)
	f := x86Features{clflush: edx1&(1<<19) != 0} // CPUID.01H:EDX.CLFSH[bit 19]
	if maxLeaf >= 7 {
		_, ebx7, _, _ := cpuid(7, 0)
		f.clflushopt = ebx7&(1<<23) != 0 // CPUID.(EAX=07H,ECX=0):EBX.CLFLUSHOPT[bit 23]
		f.clwb = ebx7&(1<<24) != 0       // CPUID.(EAX=07H,ECX=0):EBX.CLWB[bit 24]
	}
	return f
})

func cpuHas(m Method) bool {
	f := x86()
	switch m {
	case MethodCLFLUSH:
		return f.clflush
	case MethodCLFLUSHOPT:
		return f.clflushopt
	case MethodCLWB:
		return f.clwb
	}
	return false
}

func cpuBest() Method {
	f := x86()
	switch {
	case f.clwb:
		return MethodCLWB
	case f.clflushopt:
		return MethodCLFLUSHOPT
	case f.clflush:
		return MethodCLFLUSH
	}
	return MethodNone
}

// flushRange writes back the lines covering [p, p+n), n > 0, with m, which
// the caller has checked is available.
func flushRange(m Method, p unsafe.Pointer, n uintptr) {
	switch m {
	case MethodCLWB:
		flushCLWB(p, n)
	case MethodCLFLUSHOPT:
		flushCLFLUSHOPT(p, n)
	case MethodCLFLUSH:
		flushCLFLUSH(p, n)
	default:
		panic("daxkv: assertion failed: flush method " + m.String() + " on amd64")
	}
}

func fence() {
	sfence()
}

// copyPersist copies src into dst (equal, non-zero lengths) and schedules the
// bytes for durability. From NTThreshold bytes on, and when the slices do not
// overlap, the cache-line-aligned middle goes through non-temporal stores,
// which need no write-back, and only the partial lines at each end are
// flushed.
func copyPersist(m Method, dst, src []byte) {
	n := len(dst)
	if n < NTThreshold || overlap(dst, src) {
		copy(dst, src)
		flushRange(m, ptr(dst), uintptr(n))
		return
	}
	head, tail := copyNT(ptr(dst), ptr(src), uintptr(n))
	if head > 0 {
		flushRange(m, ptr(dst), head)
	}
	if tail > 0 {
		flushRange(m, ptr(dst[uintptr(n)-tail:]), tail)
	}
}

// overlap reports whether a and b share a byte.
func overlap(a, b []byte) bool {
	pa, pb := addr(a), addr(b)
	return pa < pb+uintptr(len(b)) && pb < pa+uintptr(len(a))
}

// cpuid executes CPUID with EAX=leaf and ECX=sub.
func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// flushCLWB executes CLWB on every 64-byte line covering [p, p+n), n > 0.
//
//go:noescape
func flushCLWB(p unsafe.Pointer, n uintptr)

// flushCLFLUSHOPT executes CLFLUSHOPT on every 64-byte line covering
// [p, p+n), n > 0.
//
//go:noescape
func flushCLFLUSHOPT(p unsafe.Pointer, n uintptr)

// flushCLFLUSH executes CLFLUSH on every 64-byte line covering [p, p+n),
// n > 0.
//
//go:noescape
func flushCLFLUSH(p unsafe.Pointer, n uintptr)

// sfence executes SFENCE.
func sfence()

// copyNT copies n >= 128 bytes from src to dst, which must not overlap. The
// head of dst up to the first 64-byte boundary and the tail after the last
// one are copied with normal stores; the whole lines between them with
// MOVNTDQ. It returns the lengths of head and tail, which the caller must
// flush.
//
//go:noescape
func copyNT(dst, src unsafe.Pointer, n uintptr) (head, tail uintptr)
