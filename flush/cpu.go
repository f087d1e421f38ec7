package flush

import "fmt"

// cpuPersister is the CPU-path Persister. Its only state is fixed at
// construction, so it needs no lock.
type cpuPersister struct {
	m        Method
	cpuCache bool // the caches are persistent: no write-back (NewCPUCache)
}

// NewCPU returns the CPU-path Persister using method m. Flush writes back each
// cache line covering b with m; Drain issues one fence and always returns
// nil. m must be Available and not MethodNone, else NewCPU panics.
func NewCPU(m Method) Persister {
	if m == MethodNone || !Available(m) {
		panic(fmt.Sprintf("daxkv: assertion failed: flush method %v is not usable on this CPU", m))
	}
	return cpuPersister{m: m}
}

// NewCPUCache returns the CPU-path Persister for a mapping whose
// persistence domain includes the CPU caches (eADR, or CXL with global
// persistent flush; the region's persistence_domain is "cpu_cache"):
// stores persist once they reach the cache, so Flush writes nothing back
// and Copy is a plain copy, but Drain still fences, to order the stores.
// It panics like NewCPU on a method the CPU cannot execute.
func NewCPUCache(m Method) Persister {
	p := NewCPU(m).(cpuPersister)
	p.cpuCache = true
	return p
}

// Flush writes back every cache line covering b.
func (p cpuPersister) Flush(b []byte) {
	if len(b) > 0 && !p.cpuCache {
		flushRange(p.m, ptr(b), uintptr(len(b)))
	}
}

// Copy copies src into dst and writes the copied bytes back.
func (p cpuPersister) Copy(dst, src []byte) {
	n := min(len(dst), len(src))
	switch {
	case n == 0:
	case p.cpuCache:
		copy(dst[:n], src[:n])
	default:
		copyPersist(p.m, dst[:n], src[:n])
	}
}

// Drain issues one fence.
func (p cpuPersister) Drain() error {
	fence()
	return nil
}

// FlushLines writes back every cache line covering b with m, without a
// fence. It is the primitive under NewCPU(m).Flush, exported for benchmarks
// and tests. It panics if m is MethodNone or not Available.
func FlushLines(m Method, b []byte) {
	if m == MethodNone || !Available(m) {
		panic(fmt.Sprintf("daxkv: assertion failed: flush method %v is not usable on this CPU", m))
	}
	if len(b) > 0 {
		flushRange(m, ptr(b), uintptr(len(b)))
	}
}

// Fence waits until every cache-line write-back and non-temporal store
// issued before it by this thread is complete: SFENCE on amd64, DSB SY on
// arm64. It is the primitive under the CPU path's Drain. It panics on an
// architecture without a CPU flush path.
func Fence() {
	fence()
}
