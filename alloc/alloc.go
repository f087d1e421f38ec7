package alloc

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/daxkv/daxkv/internal/invariants"
)

// An extent is a byte range [off, off+size) of the pool.
type extent struct {
	off, size int64
}

// A region is a bump region: fresh space [cur, end) carved from the front.
// mid is its middle when it was started: carving past it counts a half
// (Halves).
type region struct {
	cur, end, mid int64
}

func (r *region) len() int64 { return r.end - r.cur }

// Allocator hands out extents of a pool. It is safe for concurrent use: one
// mutex serializes every call, each of which is short (O(1) but for a merge
// of the free extents, see coalesce). Make one with New or Builder.Build.
type Allocator struct {
	geometry // immutable

	// limboMirror is limboBytes, readable without mu.
	limboMirror atomic.Int64

	mu sync.Mutex // protects every field below: the free space, limbo and accounting

	poolSize   int64
	freeBytes  int64 // in lists, chunks and regions
	limboBytes int64

	small     [numSmall][]int64 // small[i]: offsets of free extents of (i+1)*Unit bytes, LIFO
	smallMask uint64            // bit i set iff small[i] is not empty
	large     [][]int64         // large[p]: offsets of page-aligned free extents of p pages, LIFO
	largeMask bitmap            // bit p set iff large[p] is not empty
	chunks    []int64           // offsets of wholly free chunks, lowest on top
	sreg      region            // bump region of the small kind
	lreg      region            // bump region of the large kind, page-aligned
	dreg      region            // dense bump region (AllocDense), carved from whole free chunks only

	gens    []gen      // limbo generations, in ascending epoch order, from genHead on
	genHead int        // gens[:genHead] are reclaimed
	spare   [][]extent // emptied generation slices, kept for reuse

	// coalesced is true when no two free extents, the bump regions
	// included, are adjacent: a request that fails then is truly ErrFull.
	coalesced bool
	freed     int      // extents freed or reclaimed since the last merge
	mergeAt   int      // freed count that makes a periodic merge due
	scratch   []extent // reused by coalesce and Stats

	shadow bitmap // with -tags invariants: a bit per unit, set when free or in limbo

	// used[c] is the bytes of chunk c handed out or in limbo: what must
	// leave the chunk before it is empty (compaction picks sparse chunks by
	// it). The metadata of chunk 0 is not counted.
	used []int64
	// inRun[c] is true while chunk c belongs to a run handed out or in
	// limbo: Evacuate never takes it (a run is never moved).
	inRun []bool
	// evac holds the chunks being emptied (Evacuate), by chunk index, with
	// their free space: held here, off the lists, so that nothing new lands
	// in them. It is nil when no chunk is being emptied.
	evac      map[int64][]extent
	heldBytes int64 // the free bytes in evac

	onReclaim func(off, size int64) // OnReclaim; set before the allocator is shared

	// regions counts the bump regions started: a caller that sees it move
	// knows fresh space is being carved, and can prepare the chunks next in
	// line (NextChunks). halves counts the regions carved past their
	// middle: a caller that prepares only the next chunk can wait for it.
	regions atomic.Uint64
	halves  atomic.Uint64

	kinds uint8 // a bit per kind of region asked for space (kindSmall...)
}

// The kinds of bump region, bits of Allocator.kinds.
const (
	kindSmall uint8 = 1 << iota
	kindLarge
	kindDense
)

// New returns an allocator for a pool of poolSize bytes, a multiple of
// chunkSize, whose heap starts at heapStart, with every heap byte free. It
// panics on a geometry that ValidGeometry rejects.
func New(chunkSize, heapStart, poolSize int64) *Allocator {
	a := newAllocator(newGeometry(chunkSize, heapStart, poolSize))
	if heapStart > 0 {
		// The heap part of chunk 0 is a run, never a whole chunk.
		a.addFree(heapStart, chunkSize-heapStart)
		a.freeBytes = chunkSize - heapStart
		a.poolSize = chunkSize
	}
	a.grow(poolSize)
	a.coalesced = true
	a.mergeAt = minMerge
	if invariants.Enabled {
		a.shadow = make(bitmap, poolSize/Unit/64)
		a.shadow.set(int(heapStart/Unit), int((poolSize-heapStart)/Unit))
	}
	return a
}

func newAllocator(g geometry) *Allocator {
	pages := g.chunkSize / Page
	return &Allocator{
		used:      make([]int64, 0, 64),
		geometry:  g,
		large:     make([][]int64, pages),
		largeMask: make(bitmap, (pages+63)/64),
	}
}

// MaxExtent returns the largest request Alloc serves inside one chunk: half
// a chunk. Larger ones get a run of whole chunks.
func (a *Allocator) MaxExtent() int64 { return a.maxExtent }

// SizeOf returns the size of the extent Alloc(n) hands out in this pool
// (ExtentSize).
func (a *Allocator) SizeOf(n int64) int64 { return a.sizeOf(n) }

// Alloc returns the offset of a free extent of ExtentSize(n) bytes: up to
// MaxExtent inside one chunk, above it a run of whole consecutive chunks,
// chunk-aligned. It returns ErrTooLarge when n > MaxRun, and ErrFull,
// unwrapped, when no free extent of the size exists even after merging
// adjacent free space: the caller grows the pool, calls Grow and retries
// (growth adds consecutive chunks at the end, so a run fits in a growth of
// its size).
func (a *Allocator) Alloc(n int64) (off int64, err error) {
	if n > a.maxExtent {
		return a.allocRun(n)
	}
	size := SizeOf(n)
	a.mu.Lock()
	defer a.mu.Unlock()
	off, ok := a.take(size)
	if !ok && !a.coalesced {
		a.coalesce(true)
		off, ok = a.take(size)
	}
	if !ok {
		return 0, ErrFull
	}
	a.freeBytes -= size
	a.addUsed(off, size)
	a.coalesced = false
	if invariants.Enabled {
		a.shadowTake(off, size)
	}
	return off, nil
}

// allocRun is Alloc for a request above half a chunk: the lowest run of
// wholly free chunks that holds it.
func (a *Allocator) allocRun(n int64) (int64, error) {
	if n > MaxRun {
		return 0, ErrTooLarge
	}
	size := a.sizeOf(n)
	a.mu.Lock()
	defer a.mu.Unlock()
	off, ok := a.takeRun(size)
	if !ok && !a.coalesced {
		a.coalesce(true) // chunks freed piece by piece become whole
		off, ok = a.takeRun(size)
	}
	if !ok {
		return 0, ErrFull
	}
	a.freeBytes -= size
	a.addUsed(off, size)
	a.markRun(off, size, true)
	a.coalesced = false
	if invariants.Enabled {
		a.shadowTake(off, size)
	}
	return off, nil
}

// markRun sets or clears inRun for the chunks of the run [off, off+size).
func (a *Allocator) markRun(off, size int64, on bool) {
	for c := off >> a.chunkShift; c < (off+size)>>a.chunkShift; c++ {
		a.inRun[c] = on
	}
}

// takeRun takes size/chunkSize consecutive wholly free chunks off the stack,
// keeping the order of the others. Of the candidate runs it takes the one
// whose deepest chunk sits highest on the stack (ties: the lowest offset):
// the stack hands out chunks that still have blocks first and punched ones
// last (Release), and a run should too. It costs O(n log n) in the wholly
// free chunks; runs are rare and large.
func (a *Allocator) takeRun(size int64) (int64, bool) {
	k := int(size >> a.chunkShift)
	if len(a.chunks) < k {
		return 0, false
	}
	type slot struct {
		off int64
		pos int // place on the stack: higher is handed out sooner
	}
	sorted := make([]slot, len(a.chunks))
	for i, off := range a.chunks {
		sorted[i] = slot{off, i}
	}
	slices.SortFunc(sorted, func(x, y slot) int { return cmp.Compare(x.off, y.off) })
	// A sliding window of k chunks over offset order; dq holds indexes of
	// its chunks by increasing stack place (a monotonic queue), so that
	// dq[0] is the window's deepest chunk.
	off, best := int64(-1), -1
	var dq []int
	for i := range sorted {
		for len(dq) > 0 && sorted[dq[len(dq)-1]].pos >= sorted[i].pos {
			dq = dq[:len(dq)-1]
		}
		dq = append(dq, i)
		if dq[0] <= i-k {
			dq = dq[1:]
		}
		j := i - k + 1 // the window's first chunk
		if j < 0 || sorted[i].off-sorted[j].off != int64(k-1)*a.chunkSize {
			continue
		}
		if p := sorted[dq[0]].pos; p > best {
			off, best = sorted[j].off, p
		}
	}
	if off < 0 {
		return 0, false
	}
	a.chunks = slices.DeleteFunc(a.chunks, func(c int64) bool { return c >= off && c < off+size })
	return off, true
}

// addUsed adds size bytes at off to the per-chunk count of bytes handed out
// or in limbo (a negative size takes them away); a run counts a whole chunk
// in each of its chunks.
func (a *Allocator) addUsed(off, size int64) {
	if !a.isRun(max(size, -size)) {
		a.used[off>>a.chunkShift] += size
		return
	}
	step := a.chunkSize
	if size < 0 {
		step, size = -step, -size
	}
	for c := off >> a.chunkShift; size > 0; c, size = c+1, size-a.chunkSize {
		a.used[c] += step
	}
}

// take finds an extent of size bytes, merging the free lists first when a
// periodic merge is due, but never the bump regions.
func (a *Allocator) take(size int64) (int64, bool) {
	if size <= SmallMax {
		return a.takeSmall(size)
	}
	return a.takeLarge(size)
}

func (a *Allocator) takeSmall(size int64) (int64, bool) {
	a.kinds |= kindSmall
	i := int(size/Unit) - 1
	if a.smallMask&(1<<i) == 0 && a.sreg.len() < size && a.mergeDue() {
		a.coalesce(false)
	}
	if a.smallMask&(1<<i) != 0 {
		return a.popSmall(i), true
	}
	if a.sreg.len() < size && !a.newRegion(&a.sreg, true) {
		// No fresh space: split the smallest larger small extent.
		above := a.smallMask >> (i + 1) << (i + 1)
		if above == 0 {
			return 0, false
		}
		j := trailingZeros(above)
		off := a.popSmall(j)
		a.pushSmall(off+size, int64(j+1)*Unit-size)
		return off, true
	}
	return a.carve(&a.sreg, size), true
}

func (a *Allocator) takeLarge(size int64) (int64, bool) {
	a.kinds |= kindLarge
	p := int(size / Page)
	if a.mergeDue() {
		a.coalesce(false)
	}
	if p < len(a.large) && len(a.large[p]) > 0 {
		return a.popLarge(p), true
	}
	if a.lreg.len() >= size {
		return a.carve(&a.lreg, size), true
	}
	if q := a.nextLarge(p + 1); q > 0 {
		off := a.popLarge(q)
		a.pushLarge(off+size, q-p)
		return off, true
	}
	if !a.newRegion(&a.lreg, false) {
		return 0, false
	}
	return a.carve(&a.lreg, size), true
}

// carve takes size bytes from the front of r, which holds them.
func (a *Allocator) carve(r *region, size int64) int64 {
	off := r.cur
	a.advance(r, off+size)
	return off
}

// advance moves r's front to to, counting a half when it reaches r's
// middle: every move of a front goes through here (an alignment gap
// skipped to the middle counts too).
func (a *Allocator) advance(r *region, to int64) {
	if r.cur < r.mid && to >= r.mid {
		a.halves.Add(1)
	}
	r.cur = to
}

// Kinds returns how many kinds of bump region (small, large, dense) have
// been asked for space: each will take a whole free chunk when its region
// runs out, even one now served from the free lists.
func (a *Allocator) Kinds() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return bits.OnesCount8(a.kinds)
}

// newRegion replaces the bump region r with a wholly free chunk, else, for
// the small kind, with the largest free large extent, and returns the
// remainder of the old region to the free lists. A fresh region always holds
// any request of its kind. The large kind takes no free run as a region: its
// caller has already split the best-fitting one.
func (a *Allocator) newRegion(r *region, small bool) bool {
	var off, size int64
	if n := len(a.chunks); n > 0 {
		off, size = a.chunks[n-1], a.chunkSize
		a.chunks = a.chunks[:n-1]
	} else if p := a.largestLarge(); small && p > 0 {
		off, size = a.popLarge(p), int64(p)*Page
	} else {
		return false
	}
	if r.len() > 0 {
		a.addFree(r.cur, r.len())
	}
	r.cur, r.end, r.mid = off, off+size, off+size/2
	a.regions.Add(1)
	return true
}

// Regions counts the bump regions started so far.
func (a *Allocator) Regions() uint64 { return a.regions.Load() }

// Halves counts the bump regions carved past their middle so far.
func (a *Allocator) Halves() uint64 { return a.halves.Load() }

// NextChunks returns the offsets of up to n wholly free chunks, in the
// order new regions will take them: the ones worth faulting in before a
// writer needs them.
func (a *Allocator) NextChunks(n int) []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []int64
	for i := len(a.chunks) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, a.chunks[i])
	}
	return out
}

// Grow adds the chunks in [old pool size, newPoolSize) as free space. A size
// not above the current one is ignored; one that is not a multiple of the
// chunk size panics.
func (a *Allocator) Grow(newPoolSize int64) {
	if newPoolSize%a.chunkSize != 0 {
		panic(fmt.Sprintf("daxkv: assertion failed: grow to %d, not a multiple of the chunk size %d", newPoolSize, a.chunkSize))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if newPoolSize <= a.poolSize {
		return
	}
	if invariants.Enabled {
		old := a.shadow
		a.shadow = make(bitmap, newPoolSize/Unit/64)
		copy(a.shadow, old)
		a.shadow.set(int(a.poolSize/Unit), int((newPoolSize-a.poolSize)/Unit))
	}
	a.grow(newPoolSize)
	if invariants.Enabled {
		a.assertCheck()
	}
}

// grow adds the chunks in [a.poolSize, newPoolSize) as wholly free, at the
// bottom of the stack, the lowest nearest the top: the free chunks already
// there go first. They still have their blocks, and the chunk preparer has
// faulted in the next of them; grown chunks are holes, like punched ones
// (Release), and the preparer gets to them while the others are used. On
// top, the first writes after a growth ahead faulted in the new chunks
// themselves.
func (a *Allocator) grow(newPoolSize int64) {
	for n := newPoolSize >> a.chunkShift; int64(len(a.used)) < n; {
		a.used = append(a.used, 0)
		a.inRun = append(a.inRun, false)
	}
	k := int((newPoolSize - a.poolSize) >> a.chunkShift)
	a.chunks = slices.Insert(a.chunks, 0, make([]int64, k)...)
	for i, off := 0, newPoolSize-a.chunkSize; off >= a.poolSize; i, off = i+1, off-a.chunkSize {
		a.chunks[i] = off
	}
	a.freeBytes += newPoolSize - a.poolSize
	a.poolSize = newPoolSize
}

// Free returns an extent handed out by Alloc (or marked by Builder.Use), of
// ExtentSize(n) bytes at off, for immediate reuse. Use it only when no reader can
// hold the extent, as for a record that never became visible; otherwise
// Retire it. It panics on an extent Alloc could not have handed out.
func (a *Allocator) Free(off, n int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	size := a.takeBack("free", off, n)
	a.addUsed(off, -size)
	a.pushFree(off, size)
	a.freeBytes += size
	a.freed++
	a.coalesced = false
}

// takeBack checks that ExtentSize(n) bytes at off are an extent Alloc could
// have handed out, and in invariants builds that it is handed out now, as
// it comes back (op is "free" or "retire"); it returns the extent's size.
// Called with mu held.
func (a *Allocator) takeBack(op string, off, n int64) int64 {
	size := a.sizeOf(n)
	if !a.okExtent(off, size, a.poolSize) {
		panic("daxkv: assertion failed: " + op + ": " + a.checkExtent(off, size, a.poolSize).Error())
	}
	if invariants.Enabled {
		a.shadowPut(off, size)
	}
	return size
}
