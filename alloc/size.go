package alloc

import (
	"errors"
	"fmt"
	"math/bits"
)

const (
	// Unit is the allocation granule: every offset and size is a multiple of
	// it. It is a cache line, so no two extents share a line to flush.
	Unit = 64

	// SmallMax is the largest small request. Requests up to it are rounded up
	// to a multiple of Unit; larger ones to a multiple of Page.
	SmallMax = 4096

	// Page is the size and alignment of large extents.
	Page = 4096

	// MinChunkSize and MaxChunkSize bound the chunk size of a pool; this
	// package owns the rule (ValidChunkSize), which the format, the mapping
	// and the options take as given. Below the minimum a chunk's bitmap
	// would share words with its neighbour's in a Builder, and a chunk would
	// not be a whole number of pages where the base page is 64 KiB (arm64);
	// the maximum bounds the per-page-count free lists (MaxChunkSize/Page of
	// them).
	MinChunkSize = 64 << 10
	MaxChunkSize = 1 << 30

	// MaxRun is the largest request Alloc accepts: above half a chunk a
	// request gets a run of whole chunks (ExtentSize).
	MaxRun = 1 << 31

	// maxSize is where SizeOf saturates, far above any extent.
	maxSize = 1 << 62

	numSmall = SmallMax / Unit // small size classes: Unit, 2*Unit, ... SmallMax
)

// SizeOf returns the size of the extent Alloc(n) hands out: n rounded up to a
// multiple of Unit when n <= SmallMax, else to a multiple of Page. A request
// below one byte gets one Unit; sizes above 1<<62 all report 1<<62.
func SizeOf(n int64) int64 {
	switch {
	case n < 1:
		return Unit
	case n <= SmallMax:
		return (n + Unit - 1) &^ (Unit - 1)
	case n > maxSize:
		return maxSize
	}
	return (n + Page - 1) &^ (Page - 1)
}

// ExtentSize returns the size of the extent Alloc(n) hands out in a pool of
// chunkSize-byte chunks: SizeOf(n) up to half a chunk, and above it a run
// of whole chunks, n rounded up to a multiple of chunkSize. Sizes above
// 1<<62 all report 1<<62 rounded up to the chunk size.
func ExtentSize(chunkSize, n int64) int64 {
	if n <= chunkSize/2 {
		return SizeOf(n)
	}
	n = min(n, maxSize)
	return (n + chunkSize - 1) &^ (chunkSize - 1)
}

// ValidChunkSize returns an error wrapping ErrBadExtent unless n is a power
// of two in [MinChunkSize, MaxChunkSize]: the one definition of a valid
// chunk size.
func ValidChunkSize(n int64) error {
	if n < MinChunkSize || n > MaxChunkSize || n&(n-1) != 0 {
		return fmt.Errorf("%w: chunk size %d is not a power of two in [%d, %d]", ErrBadExtent, n, MinChunkSize, MaxChunkSize)
	}
	return nil
}

// ValidExtent reports, with an error wrapping ErrBadExtent, why
// ExtentSize(chunkSize, n) bytes at off cannot be an extent an allocator of
// that geometry hands out (the geometry must pass ValidGeometry): outside
// the heap, crossing a chunk boundary, misaligned for its size class, or,
// for a run, not whole chunks or larger than MaxRun. Check uses it on
// records found on the media.
func ValidExtent(chunkSize, heapStart, poolSize, off, n int64) error {
	g := newGeometry(chunkSize, heapStart, poolSize)
	return g.checkExtent(off, g.sizeOf(n), poolSize)
}

// ValidGeometry reports every reason why a pool of poolSize bytes in chunks of
// chunkSize, with its heap starting at heapStart, cannot be managed. The error
// wraps ErrBadExtent. New and NewBuilder panic on a geometry it rejects, so a
// caller holding sizes read from the media checks them here first.
func ValidGeometry(chunkSize, heapStart, poolSize int64) error {
	var errs []error
	err := ValidChunkSize(chunkSize)
	chunkOK := err == nil
	if !chunkOK {
		errs = append(errs, err)
	}
	if heapStart < 0 || heapStart%Page != 0 || (chunkOK && heapStart >= chunkSize) {
		errs = append(errs, fmt.Errorf("%w: heap start %d is not a multiple of %d below the chunk size",
			ErrBadExtent, heapStart, Page))
	}
	if chunkOK && (poolSize < chunkSize || poolSize%chunkSize != 0) {
		errs = append(errs, fmt.Errorf("%w: pool size %d is not a positive multiple of the chunk size %d",
			ErrBadExtent, poolSize, chunkSize))
	}
	return errors.Join(errs...)
}

// geometry is the immutable layout shared by Allocator and Builder.
type geometry struct {
	chunkSize  int64
	chunkShift uint
	heapStart  int64
	maxExtent  int64
}

func newGeometry(chunkSize, heapStart, poolSize int64) geometry {
	if err := ValidGeometry(chunkSize, heapStart, poolSize); err != nil {
		panic("daxkv: assertion failed: " + err.Error())
	}
	return geometry{
		chunkSize:  chunkSize,
		chunkShift: uint(bits.TrailingZeros64(uint64(chunkSize))),
		heapStart:  heapStart,
		maxExtent:  chunkSize / 2,
	}
}

// sizeOf is ExtentSize for this geometry.
func (g *geometry) sizeOf(n int64) int64 { return ExtentSize(g.chunkSize, n) }

// isRun reports whether an extent of size bytes is a run of whole chunks.
func (g *geometry) isRun(size int64) bool { return size > g.maxExtent }

// checkSpan reports why [off, off+size) cannot be free or limbo space in a
// pool of poolSize bytes: outside the heap, crossing a chunk boundary, or not
// in whole Units.
func (g *geometry) checkSpan(off, size, poolSize int64) error {
	switch {
	case size <= 0 || size%Unit != 0:
		return fmt.Errorf("%w: extent at %d has size %d, not a positive multiple of %d", ErrBadExtent, off, size, Unit)
	case off%Unit != 0:
		return fmt.Errorf("%w: extent at %d is not aligned to %d", ErrBadExtent, off, Unit)
	case off < g.heapStart || off > poolSize-size:
		return fmt.Errorf("%w: extent [%d, %d) is outside the heap [%d, %d)", ErrBadExtent, off, off+size, g.heapStart, poolSize)
	case off>>g.chunkShift != (off+size-1)>>g.chunkShift:
		return fmt.Errorf("%w: extent [%d, %d) crosses a chunk boundary", ErrBadExtent, off, off+size)
	}
	return nil
}

// okExtent is checkExtent's verdict, cheap enough for every Free and Use.
func (g *geometry) okExtent(off, size, poolSize int64) bool {
	if g.isRun(size) {
		return size <= runMax(g.chunkSize) && (off|size)&(g.chunkSize-1) == 0 &&
			off >= g.heapStart && off <= poolSize-size
	}
	return size > 0 && size <= g.maxExtent && (off|size)&(Unit-1) == 0 &&
		off >= g.heapStart && off <= poolSize-size &&
		off>>g.chunkShift == (off+size-1)>>g.chunkShift &&
		(size <= SmallMax || off&(Page-1) == 0)
}

// runMax is the largest run a pool of chunkSize-byte chunks hands out:
// MaxRun rounded up to whole chunks.
func runMax(chunkSize int64) int64 { return (MaxRun + chunkSize - 1) &^ (chunkSize - 1) }

// checkExtent reports why [off, off+size) cannot be an extent Alloc handed
// out: checkSpan's reasons, or a large extent not aligned to Page; for a
// run (above half a chunk), not whole chunks, larger than MaxRun, or
// outside the heap.
func (g *geometry) checkExtent(off, size, poolSize int64) error {
	if g.isRun(size) {
		switch {
		case size > runMax(g.chunkSize):
			return fmt.Errorf("%w: extent at %d has size %d, above the maximum %d", ErrBadExtent, off, size, runMax(g.chunkSize))
		case size%g.chunkSize != 0 || off%g.chunkSize != 0:
			return fmt.Errorf("%w: run [%d, %d) is not whole %d-byte chunks", ErrBadExtent, off, off+size, g.chunkSize)
		case off < g.heapStart || off > poolSize-size:
			return fmt.Errorf("%w: extent [%d, %d) is outside the heap [%d, %d)", ErrBadExtent, off, off+size, g.heapStart, poolSize)
		}
		return nil
	}
	if err := g.checkSpan(off, size, poolSize); err != nil {
		return err
	}
	if size > SmallMax && off%Page != 0 {
		return fmt.Errorf("%w: large extent at %d is not aligned to %d", ErrBadExtent, off, Page)
	}
	return nil
}
