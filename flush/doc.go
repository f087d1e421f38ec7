// Package flush makes stores to the pool mapping durable. It is the leaf of
// daxkv: every other package writes through its one interface, [Persister].
//
// There are two durability paths:
//
//   - The CPU path ([NewCPU]) is for a synchronous DAX mapping (MAP_SYNC) over
//     persistent memory, and for the emulated mode used by tests and
//     benchmarks. Flush writes back every cache line covering the bytes with
//     CLWB, CLFLUSHOPT or CLFLUSH on amd64, or DC CVAP / DC CVAC on arm64, and
//     Drain issues one fence (SFENCE, DSB SY). Copy uses non-temporal stores
//     for copies of at least [NTThreshold] bytes on amd64. There is no system
//     call on this path.
//   - The msync path ([Msync]) is for an ordinary shared mapping backed by the
//     page cache. Flush only marks the covered pages dirty; Drain writes the
//     dirty pages back with msync(MS_SYNC), and concurrent Drain callers share
//     one pass (group commit).
//
// Promises, on both paths:
//
//   - Nothing is durable until a Drain that started after the Flush or Copy
//     has returned nil. Between a Flush and that Drain, any subset of the
//     flushed bytes may or may not have reached the media.
//   - Drain waits for everything flushed or copied before the call, by any
//     goroutine, provided that those calls happen before the Drain call in the
//     Go memory model sense (for example, under the same mutex).
//   - A byte that was flushed is never forgotten: on the msync path a page's
//     dirty mark is cleared before the page is written back, so a store that
//     races with the write-back re-marks the page and a later Drain catches it.
//   - A failed Drain is final on the msync path: every later Drain returns the
//     first failure, since a later msync that succeeds proves nothing about
//     pages whose write-back failed.
//
// Invariants: Flush and Copy never touch memory outside the slices they are
// given, except that the CPU path writes back whole cache lines (which only
// cleans them; it never changes their contents). A Persister is never handed
// a slice outside the mapping it was made for; the msync path panics with
// "daxkv: assertion failed: ..." when it is.
//
// [Store64] is the one aligned 8-byte store with which a state word changes:
// the unit of failure atomicity on the media.
//
// [Sim] is the persistence simulator the crash-injection suite (package
// crash) installs in place of the real Persister: it keeps a durable image
// beside the mapping (lines captured at Flush and made durable at Drain on
// the CPU path; pages written whole at Drain on the msync path) and builds
// crash images from it. [Counting] wraps any Persister to count fences per
// operation.
//
// The environment variable DAXKV_FLUSH ([EnvFlush]) forces a weaker flush
// method than the best one the CPU has; see [Detect].
package flush
