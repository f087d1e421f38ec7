//go:build !amd64 && !arm64

package flush

import "unsafe"

// This architecture has no CPU flush path: Detect returns MethodNone, NewCPU
// panics, and the store uses the msync path.

func cpuHas(Method) bool { return false }

func cpuBest() Method { return MethodNone }

func flushRange(m Method, _ unsafe.Pointer, _ uintptr) {
	panic("daxkv: assertion failed: flush method " + m.String() + " on an architecture without a CPU flush path")
}

func fence() {
	panic("daxkv: assertion failed: fence on an architecture without a CPU flush path")
}

func copyPersist(m Method, _, _ []byte) {
	panic("daxkv: assertion failed: flush method " + m.String() + " on an architecture without a CPU flush path")
}
