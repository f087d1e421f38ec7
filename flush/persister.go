package flush

import "sync/atomic"

// NTThreshold is the copy size, in bytes, from which Copy on the CPU path uses
// non-temporal stores (where the architecture has them). PMDK switches at the
// same size: below it, a normal copy followed by cache-line write-back is
// faster.
const NTThreshold = 256

// Persister is the one interface the store writes through. Implementations
// are safe for concurrent use by multiple goroutines.
type Persister interface {
	// Flush schedules write-back of every cache line (CPU path) or page
	// (msync path) covering b. Nothing is guaranteed durable until the next
	// Drain returns nil.
	Flush(b []byte)

	// Copy copies src into dst (copy semantics: min(len(dst), len(src))
	// bytes) and schedules the copied bytes for durability exactly as
	// Flush(dst[:n]) would. On the CPU path copies of at least NTThreshold
	// bytes use non-temporal stores for the cache-line-aligned middle of dst
	// and a normal copy plus write-back for the unaligned head and tail.
	Copy(dst, src []byte)

	// Drain waits until everything flushed or copied before the call is
	// durable: SFENCE on amd64, DSB on arm64, msync(MS_SYNC) of the dirty
	// pages on the msync path. A non-nil error means some of it may not be
	// durable.
	Drain() error
}

// Counting wraps a Persister and counts calls, for tests that count fences
// per operation. Its counters are atomic, so a Counting may be shared by
// goroutines; it must not be copied after first use.
type Counting struct {
	// P receives every call.
	P Persister
	// Flushes, Copies and Drains count the calls of each method.
	Flushes, Copies, Drains atomic.Int64
}

var _ Persister = (*Counting)(nil)

// Flush counts the call and forwards it to c.P.
func (c *Counting) Flush(b []byte) {
	c.Flushes.Add(1)
	c.P.Flush(b)
}

// Copy counts the call and forwards it to c.P.
func (c *Counting) Copy(dst, src []byte) {
	c.Copies.Add(1)
	c.P.Copy(dst, src)
}

// Drain counts the call and forwards it to c.P.
func (c *Counting) Drain() error {
	c.Drains.Add(1)
	return c.P.Drain()
}
