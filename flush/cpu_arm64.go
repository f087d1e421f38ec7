//go:build arm64

package flush

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// Ordering on arm64. A DSB completes only the cache maintenance issued by the
// core that executes it, and the Go scheduler can move a goroutine to another
// thread (and core) between Flush and Drain with nothing stronger than
// acquire/release atomics in between. So each flush loop ends with its own
// DSB SY, and Drain's DSB SY orders whatever was stored since. DSB SY rather
// than DSB ISH because the point of persistence may lie beyond the inner
// shareable domain; Linux uses DSB SY after DC CVAP for pmem too.

// lineSize is the stride of the flush loops: the smallest data cache line of
// any cache in the system, from CTR_EL0.DminLine (log2 of the number of 4-byte
// words). Linux lets EL0 read CTR_EL0 (trapping and emulating it if needed).
// A stride smaller than the real line is only slower, never wrong.
var lineSize = uintptr(4) << ((readCTR() >> 16) & 0xf)

func cpuHas(m Method) bool {
	switch m {
	case MethodDCCVAC:
		return true // EL0 may issue DC CVAC: Linux sets SCTLR_EL1.UCI
	case MethodDCCVAP:
		return cpu.ARM64.HasDCPOP
	}
	return false
}

func cpuBest() Method {
	if cpu.ARM64.HasDCPOP {
		return MethodDCCVAP
	}
	return MethodDCCVAC
}

// flushRange cleans the lines covering [p, p+n), n > 0, with m, which the
// caller has checked is available, and waits for completion.
func flushRange(m Method, p unsafe.Pointer, n uintptr) {
	switch m {
	case MethodDCCVAP:
		dcCVAP(p, n, lineSize)
	case MethodDCCVAC:
		dcCVAC(p, n, lineSize)
	default:
		panic("daxkv: assertion failed: flush method " + m.String() + " on arm64")
	}
}

func fence() {
	dsbSY()
}

// copyPersist copies src into dst (equal, non-zero lengths) and cleans the
// copied lines. arm64 has non-temporal pair stores (STNP), but they are only
// a hint and still need the clean, so a plain copy is used.
func copyPersist(m Method, dst, src []byte) {
	copy(dst, src)
	flushRange(m, ptr(dst), uintptr(len(dst)))
}

// readCTR returns CTR_EL0.
func readCTR() uint64

// dcCVAC executes DC CVAC on every line of the given size covering [p, p+n),
// n > 0, then DSB SY.
//
//go:noescape
func dcCVAC(p unsafe.Pointer, n, line uintptr)

// dcCVAP executes DC CVAP on every line of the given size covering [p, p+n),
// n > 0, then DSB SY.
//
//go:noescape
func dcCVAP(p unsafe.Pointer, n, line uintptr)

// dsbSY executes DSB SY.
func dsbSY()
