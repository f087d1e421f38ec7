package alloc

import (
	"fmt"
	"slices"

	"github.com/daxkv/daxkv/internal/invariants"
)

// Builder rebuilds an Allocator at open from the live records the recovery
// scan finds. It holds one bit per Unit of the pool, set for live units, and
// each chunk owns whole words of it, so Use, Unuse and Overlaps may run
// concurrently from several goroutines as long as no two calls touch the same
// chunk (scan workers own disjoint chunks; a run touches all of its chunks). Build must happen after every Use
// and Unuse, for instance after a sync.WaitGroup's Wait.
//
// The bitmap takes PoolSize/512 bytes: 2 MiB for a 1 GiB pool.
type Builder struct {
	geometry
	poolSize int64
	live     bitmap
	inRun    []bool // per chunk: part of a run marked by Use
}

// NewBuilder returns a builder for a pool of poolSize bytes, a multiple of
// chunkSize, whose heap starts at heapStart, with no live extent. It panics on
// a geometry that ValidGeometry rejects.
func NewBuilder(chunkSize, heapStart, poolSize int64) *Builder {
	return &Builder{
		geometry: newGeometry(chunkSize, heapStart, poolSize),
		poolSize: poolSize,
		live:     make(bitmap, poolSize/Unit/64),
		inRun:    make([]bool, poolSize/chunkSize),
	}
}

// ValidExtent reports, with an error wrapping ErrBadExtent, why
// ExtentSize(n) bytes at off cannot be an extent Alloc handed out: outside
// the heap, crossing a chunk boundary, misaligned for its size class, or a
// run that is not whole chunks. Use panics on such an extent; a caller
// holding offsets and lengths read from the media checks them here first.
func (b *Builder) ValidExtent(off, n int64) error {
	return b.checkExtent(off, b.sizeOf(n), b.poolSize)
}

// SizeOf returns the size of the extent of a record of n bytes in this
// pool (ExtentSize).
func (b *Builder) SizeOf(n int64) int64 { return b.sizeOf(n) }

// Use marks the extent of ExtentSize(n) bytes at off as live; n is the record's
// byte length, rounded as Alloc rounds it. It panics on an extent that
// ValidExtent rejects.
func (b *Builder) Use(off, n int64) {
	u, k := b.units("use", off, n)
	b.live.set(u, k)
	b.markRun(off, n, true)
}

// markRun sets or clears inRun for the chunks of the extent of n bytes at
// off when it is a run.
func (b *Builder) markRun(off, n int64, on bool) {
	if size := b.sizeOf(n); b.isRun(size) {
		for c := off >> b.chunkShift; c < (off+size)>>b.chunkShift; c++ {
			b.inRun[c] = on
		}
	}
}

// LiveBytes is the bytes marked live so far (by Use and Reserve): what the
// built Allocator's Stats will count as Used.
func (b *Builder) LiveBytes() int64 { return int64(b.live.count()) * Unit }

// Reserve marks the bytes [off, off+n) live whatever they are (rounded out
// to whole units, clipped to the heap), so that Build never makes them
// free: bytes on a bad block, a damaged record. Like Use, it may run
// concurrently with calls on other chunks.
func (b *Builder) Reserve(off, n int64) {
	lo := max(off, b.heapStart) / Unit
	hi := (min(off+n, b.poolSize) + Unit - 1) / Unit
	if hi > lo {
		b.live.set(int(lo), int(hi-lo))
	}
}

// Unuse undoes a Use of the same extent, as for a record found valid but
// discarded later, such as an older version of a key.
func (b *Builder) Unuse(off, n int64) {
	u, k := b.units("unuse", off, n)
	b.live.clear(u, k)
	b.markRun(off, n, false)
}

// Overlaps reports whether any byte of the extent of ExtentSize(n) bytes at off
// is already marked live: two live records that overlap mean corruption. It
// panics on an extent that ValidExtent rejects.
func (b *Builder) Overlaps(off, n int64) bool {
	u, k := b.units("overlaps", off, n)
	return b.live.anySet(u, k)
}

func (b *Builder) units(op string, off, n int64) (u, k int) {
	size := b.sizeOf(n)
	if !b.okExtent(off, size, b.poolSize) {
		panic(fmt.Sprintf("daxkv: assertion failed: builder %s: %v", op, b.checkExtent(off, size, b.poolSize)))
	}
	return int(off / Unit), int(size / Unit)
}

// Build returns an allocator in which every heap byte not marked live is
// free. Each run of free units inside a chunk becomes free extents, split so
// that large extents start page-aligned; a wholly free chunk stays whole.
// Build does not change b.
func (b *Builder) Build() *Allocator {
	a := newAllocator(b.geometry)
	a.poolSize = b.poolSize
	perChunk := int(b.chunkSize / Unit) // units
	wordsPerChunk := perChunk / 64
	nChunks := int(b.poolSize / b.chunkSize)
	var whole []int64
	runs := 0
	a.used = make([]int64, nChunks)
	a.inRun = slices.Clone(b.inRun)
	for c := 0; c < nChunks; c++ {
		words := b.live[c*wordsPerChunk : (c+1)*wordsPerChunk]
		base := int64(c) * b.chunkSize
		u := 0
		if c == 0 {
			u = int(b.heapStart / Unit)
		}
		if u == 0 && words.nextOne(0) == perChunk {
			whole = append(whole, base)
			a.freeBytes += b.chunkSize
			continue
		}
		a.used[c] = int64(words.count()) * Unit
		for u < perChunk {
			z := words.nextZero(u)
			if z >= perChunk {
				break
			}
			o := words.nextOne(z)
			off, size := base+int64(z)*Unit, int64(o-z)*Unit
			a.addFree(off, size)
			a.freeBytes += size
			runs++
			u = o
		}
	}
	// Hand out the lowest free chunk first.
	for i := len(whole) - 1; i >= 0; i-- {
		a.chunks = append(a.chunks, whole[i])
	}
	a.coalesced = true
	a.mergeAt = max(minMerge, runs)
	if invariants.Enabled {
		a.shadow = make(bitmap, len(b.live))
		for i, x := range b.live {
			a.shadow[i] = ^x
		}
		a.shadow.clear(0, int(b.heapStart/Unit))
		a.assertCheck()
	}
	return a
}
