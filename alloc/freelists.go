package alloc

import "math/bits"

func trailingZeros(x uint64) int { return bits.TrailingZeros64(x) }

// pushSmall puts the free extent [off, off+size), size <= SmallMax, on its
// small list.
func (a *Allocator) pushSmall(off, size int64) {
	i := int(size/Unit) - 1
	a.small[i] = append(a.small[i], off)
	a.smallMask |= 1 << i
}

// popSmall takes the most recently freed extent of small list i, not empty.
func (a *Allocator) popSmall(i int) int64 {
	l := a.small[i]
	off := l[len(l)-1]
	a.small[i] = l[:len(l)-1]
	if len(l) == 1 {
		a.smallMask &^= 1 << i
	}
	return off
}

// pushLarge puts the page-aligned free extent of p pages at off on its large
// list; p is less than a chunk's pages.
func (a *Allocator) pushLarge(off int64, p int) {
	a.large[p] = append(a.large[p], off)
	a.largeMask[p>>6] |= 1 << (p & 63)
}

// popLarge takes the most recently freed extent of large list p, not empty.
func (a *Allocator) popLarge(p int) int64 {
	l := a.large[p]
	off := l[len(l)-1]
	a.large[p] = l[:len(l)-1]
	if len(l) == 1 {
		a.largeMask[p>>6] &^= 1 << (p & 63)
	}
	return off
}

// nextLarge returns the smallest page count >= p with a free large extent,
// or 0.
func (a *Allocator) nextLarge(p int) int {
	if q := a.largeMask.nextOne(p); q < len(a.large) {
		return q
	}
	return 0
}

// largestLarge returns the largest page count with a free large extent, or 0.
func (a *Allocator) largestLarge() int {
	for w := len(a.largeMask) - 1; w >= 0; w-- {
		if x := a.largeMask[w]; x != 0 {
			return w*64 + 63 - bits.LeadingZeros64(x)
		}
	}
	return 0
}

// pushFree puts an extent Alloc handed out back on its list; a run goes
// back chunk by chunk, as wholly free chunks.
func (a *Allocator) pushFree(off, size int64) {
	if a.isRun(size) {
		a.markRun(off, size, false)
		for end := off + size; off < end; off += a.chunkSize {
			a.addFree(off, a.chunkSize)
		}
		return
	}
	if a.hold(off, size) {
		return
	}
	if size <= SmallMax {
		a.pushSmall(off, size)
	} else {
		a.pushLarge(off, int(size/Page))
	}
}

// addFree puts a free run [off, off+size) inside one chunk on the free lists:
// a whole chunk as such; a run up to SmallMax as one small extent; a larger
// one as its page-aligned middle on a large list, with the head and tail
// around it as small extents. A larger run holding no whole page is cut into
// SmallMax and the rest.
func (a *Allocator) addFree(off, size int64) {
	if a.hold(off, size) {
		return
	}
	if size == a.chunkSize {
		a.chunks = append(a.chunks, off)
		return
	}
	if size <= SmallMax {
		a.pushSmall(off, size)
		return
	}
	end := off + size
	lo := (off + Page - 1) &^ (Page - 1)
	hi := end &^ (Page - 1)
	if hi == lo {
		a.pushSmall(off, SmallMax)
		a.pushSmall(off+SmallMax, size-SmallMax)
		return
	}
	if lo > off {
		a.pushSmall(off, lo-off)
	}
	a.pushLarge(lo, int((hi-lo)/Page))
	if end > hi {
		a.pushSmall(hi, end-hi)
	}
}
