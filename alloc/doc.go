// Package alloc is the extent allocator of daxkv: it hands out and takes back
// byte ranges (extents) of a pool, by offset. It knows nothing of mappings or
// of the on-media format, and nothing of its state is persisted: at open the
// recovery scan marks every live record in a Builder, and Build turns every
// other heap byte into free space.
//
// # Geometry
//
// The pool is a sequence of chunks of ChunkSize bytes (a power of two between
// MinChunkSize and MaxChunkSize). Bytes [0, HeapStart) of chunk 0 hold the
// metadata and are never allocated; the heap is [HeapStart, PoolSize).
//
//	chunk 0                          chunk 1              chunk 2
//	+----------+-------------------+--------------------+--------------------+
//	| metadata | heap              | heap               | heap               |
//	+----------+-------------------+--------------------+--------------------+
//	0      HeapStart           ChunkSize            2*ChunkSize     ... PoolSize
//
// # Size classes
//
// A request of n bytes gets an extent of SizeOf(n) bytes. Requests up to
// SmallMax are small: rounded up to a multiple of Unit (a cache line), each of
// the 64 sizes with its own exact-fit LIFO free list, so a freed extent is
// reused while its lines are still hot. Larger requests are rounded up to a
// multiple of Page and their extents start page-aligned, which non-temporal
// copies of large values want; their free lists are kept per page count.
//
// Each kind also carves fresh space from its own bump region. A request is
// met, in order: by an exact fit from its list; from its bump region; (large)
// by splitting the smallest larger free run; by a new bump region, a wholly
// free chunk or else (small) the largest free run, the unusable remainder of
// the old region going back to the free lists; (small) by splitting the
// smallest larger small extent.
//
// A request above half a chunk (MaxExtent) gets a run: whole consecutive
// chunks, chunk-aligned, ExtentSize(n) bytes, the lowest such run of wholly
// free chunks (found after merging free space, else ErrFull: growth adds
// consecutive chunks at the end). Freed, a run goes back as wholly free
// chunks. Requests above MaxRun get ErrTooLarge.
//
// Adjacent free extents are merged lazily, never on the hot paths: when a
// request cannot be met otherwise (so ErrFull is never the fault of fragments
// that could be joined), and periodically, once as many extents have been
// freed since the last merge as there were free extents after it, so that a
// merge costs O(log n) per freed extent amortized and freed chunks become
// whole again. Builder.Build starts from maximal runs.
//
// # Promises
//
//   - Every extent handed out lies in the heap with its offset and size
//     multiples of Unit. An extent up to MaxExtent (ChunkSize/2) lies inside
//     a single chunk; one above SmallMax is a multiple of Page and starts on
//     a Page boundary. An extent above MaxExtent is a run of whole chunks.
//   - An extent is never handed out while it is outstanding or in limbo. A
//     retired extent waits in limbo until Reclaim is called with an epoch at
//     least the one it was retired with.
//   - ErrFull means no free extent of the size exists even after merging
//     adjacent free space: the caller grows the pool and calls Grow, after
//     which every request up to MaxExtent succeeds, and a run of up to the
//     growth's size. It is returned unwrapped.
//   - At every moment Used+Free+Limbo == PoolSize-HeapStart (see Stats).
//   - An Allocator is safe for concurrent use; a Builder's Use and Unuse may
//     run concurrently as long as no two calls touch the same chunk.
//
// # Invariants
//
// Every free byte of the heap is held in exactly one place: a small list, a
// large list, the stack of wholly free chunks, or one of the two bump regions.
// Every retired byte is in exactly one limbo generation; generations are kept
// in ascending epoch order. No two free or limbo extents overlap. Check
// verifies all of this and the accounting.
//
// The allocator trusts its callers to free only extents they own: freeing an
// extent twice, or one that was never handed out, corrupts it silently. Built
// with -tags invariants, the allocator shadows the state of every unit and
// panics at the first such call; Check also reports any overlap it causes.
package alloc
