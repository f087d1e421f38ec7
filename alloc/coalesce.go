package alloc

import (
	"cmp"
	"slices"

	"github.com/daxkv/daxkv/internal/invariants"
)

// Free extents are merged lazily, in two ways:
//
//   - When a request cannot be met, everything is merged, the bump regions
//     included, before ErrFull is returned: ErrFull is never the fault of
//     fragments that could be joined.
//   - Before a large request, or a small one that needs more than its list
//     and its bump region, when as many extents have been freed since the
//     last merge as there were free extents after it (and at least
//     minMerge): the free lists are merged, the regions left alone. Each merge
//     costs O(n log n) in the free extents and is paid for by as many frees,
//     so a freed extent costs O(log n) amortized; in exchange freed chunks
//     become whole again and large requests are not cut out of fragments
//     that could have merged.
//
// The small LIFO lists are untouched between merges, so the hot paths never
// pay for any of this.

// minMerge is the fewest frees that make a periodic merge due.
const minMerge = 64

// mergeDue reports whether enough extents were freed for a periodic merge.
func (a *Allocator) mergeDue() bool { return a.freed >= a.mergeAt }

// coalesce merges adjacent free extents. It gathers every free extent but the
// wholly free chunks (which have no free neighbour inside their chunk), and
// with regions the bump regions too, sorts them by offset, and puts the
// merged runs back with addFree.
func (a *Allocator) coalesce(regions bool) {
	ext := a.gatherFree(a.scratch[:0], true, regions)
	a.scratch = ext[:0]
	runs := 0
	mergeRuns(ext, a.chunkShift, func(off, size int64) {
		a.addFree(off, size)
		runs++
	})
	a.freed = 0
	a.mergeAt = max(minMerge, runs)
	a.coalesced = a.sreg.len() == 0 && a.lreg.len() == 0 && a.dreg.len() == 0
	if invariants.Enabled {
		a.assertCheck()
	}
}

// gatherFree appends every free extent except the wholly free chunks, and
// with regions those of the bump regions, to ext and returns it sorted by
// offset. With take it also empties what it gathered from.
func (a *Allocator) gatherFree(ext []extent, take, regions bool) []extent {
	for m := a.smallMask; m != 0; m &= m - 1 {
		i := trailingZeros(m)
		size := int64(i+1) * Unit
		for _, off := range a.small[i] {
			ext = append(ext, extent{off, size})
		}
		if take {
			a.small[i] = a.small[i][:0]
		}
	}
	for w, x := range a.largeMask {
		for ; x != 0; x &= x - 1 {
			p := w*64 + trailingZeros(x)
			size := int64(p) * Page
			for _, off := range a.large[p] {
				ext = append(ext, extent{off, size})
			}
			if take {
				a.large[p] = a.large[p][:0]
			}
		}
	}
	if take {
		a.smallMask = 0
		clear(a.largeMask)
	}
	if regions {
		for _, r := range []*region{&a.sreg, &a.lreg, &a.dreg} {
			if r.len() > 0 {
				ext = append(ext, extent{r.cur, r.len()})
			}
			if take {
				*r = region{}
			}
		}
	}
	slices.SortFunc(ext, func(x, y extent) int { return cmp.Compare(x.off, y.off) })
	return ext
}

// mergeRuns calls f for each maximal run of adjacent extents of ext, sorted
// by offset and not overlapping, never merging across a chunk boundary.
func mergeRuns(ext []extent, chunkShift uint, f func(off, size int64)) {
	for i := 0; i < len(ext); {
		off, end := ext[i].off, ext[i].off+ext[i].size
		j := i + 1
		for ; j < len(ext) && ext[j].off == end && end>>chunkShift == off>>chunkShift; j++ {
			end += ext[j].size
		}
		f(off, end-off)
		i = j
	}
}
