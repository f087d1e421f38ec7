package flush

// Prefetch asks the CPU to bring the cache line holding mem[off] into its
// caches, without waiting for it: the instruction retires at once, so a
// loop that issues it for many scattered addresses has their misses in
// flight together while it does other work (the iterators issue it for
// every record they will decode while they walk the ordered index). It is a
// hint: it never faults, changes no memory and may be dropped, and an off
// outside mem does nothing. On architectures without a prefetch
// instruction here it does nothing.
func Prefetch(mem []byte, off uint64) {
	if off < uint64(len(mem)) {
		prefetch(&mem[off])
	}
}
