package alloc

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/daxkv/daxkv/internal/invariants"
)

// Stats describes an allocator's space at one moment.
type Stats struct {
	// PoolSize is the pool's size in bytes; Used, Free and Limbo split its
	// heap: Used+Free+Limbo == PoolSize-HeapStart.
	PoolSize, Used, Free, Limbo int64

	// LargestFree is the largest extent a single Alloc could get without
	// growth, counting adjacent free space as merged (Alloc merges before
	// it gives up). It is at most MaxExtent.
	LargestFree int64

	// FreeExtents is the number of free extents: in the small and large
	// lists, wholly free chunks, and non-empty bump regions.
	FreeExtents int

	// FreeChunks is the number of wholly free chunks among them.
	FreeChunks int

	// Fragmentation is 1 - LargestFree/Free, or 0 when Free is 0. Since
	// LargestFree is capped at half a chunk, it reads high whenever much
	// more than that is free, fragmented or not: read it with FreeChunks.
	Fragmentation float64
}

// Stats returns the allocator's space figures. It merges a copy of the free
// extents to find LargestFree when no chunk is wholly free, which costs
// O(n log n) in the number of free extents.
func (a *Allocator) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Stats{
		PoolSize:   a.poolSize,
		Free:       a.freeBytes,
		Limbo:      a.limboBytes,
		Used:       a.poolSize - a.heapStart - a.freeBytes - a.limboBytes,
		FreeChunks: len(a.chunks),
	}
	s.FreeExtents = len(a.chunks)
	for m := a.smallMask; m != 0; m &= m - 1 {
		s.FreeExtents += len(a.small[trailingZeros(m)])
	}
	for w, x := range a.largeMask {
		for ; x != 0; x &= x - 1 {
			s.FreeExtents += len(a.large[w*64+trailingZeros(x)])
		}
	}
	for _, r := range []region{a.sreg, a.lreg, a.dreg} {
		if r.len() > 0 {
			s.FreeExtents++
		}
	}
	s.LargestFree = a.largestFree()
	if s.Free > 0 {
		s.Fragmentation = 1 - float64(s.LargestFree)/float64(s.Free)
	}
	return s
}

// largestFree returns the largest extent Alloc could get, merging adjacent
// free space first as a failing Alloc does.
func (a *Allocator) largestFree() int64 {
	if len(a.chunks) > 0 {
		return a.maxExtent
	}
	ext := a.gatherFree(a.scratch[:0], false, true)
	a.scratch = ext[:0]
	var best int64
	mergeRuns(ext, a.chunkShift, func(off, size int64) {
		// Small requests get up to SmallMax from any run (addFree
		// keeps a SmallMax piece of it whole); large ones the whole
		// pages inside it.
		best = max(best, min(size, SmallMax))
		lo := (off + Page - 1) &^ (Page - 1)
		hi := (off + size) &^ (Page - 1)
		if hi-lo > SmallMax {
			best = max(best, min(hi-lo, a.maxExtent))
		}
	})
	return best
}

// Check verifies the allocator's invariants: every free and limbo extent
// lies in the heap inside one chunk with its sizes and alignment right for
// the list holding it, no two of them overlap, the list bookkeeping is
// consistent, and the accounting identity holds. It returns the first
// problem found. It costs O(n log n) in the number of free and limbo extents.
func (a *Allocator) Check() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.check()
}

func (a *Allocator) check() error {
	type tagged struct {
		extent
		where string
	}
	var all []tagged
	var free, limbo, heldSum int64
	add := func(off, size int64, where string, span bool) error {
		var err error
		if span {
			err = a.checkSpan(off, size, a.poolSize)
		} else {
			err = a.checkExtent(off, size, a.poolSize)
		}
		if err != nil {
			return fmt.Errorf("daxkv: alloc check: %s: %w", where, err)
		}
		all = append(all, tagged{extent{off, size}, where})
		return nil
	}
	for i := range a.small {
		if (len(a.small[i]) > 0) != (a.smallMask&(1<<i) != 0) {
			return fmt.Errorf("daxkv: alloc check: small mask bit %d disagrees with list of %d extents", i, len(a.small[i]))
		}
		for _, off := range a.small[i] {
			if err := add(off, int64(i+1)*Unit, "small list", true); err != nil {
				return err
			}
			free += int64(i+1) * Unit
		}
	}
	for p := range a.large {
		bit := a.largeMask[p>>6]&(1<<(p&63)) != 0
		if (len(a.large[p]) > 0) != bit || (p == 0 && bit) {
			return fmt.Errorf("daxkv: alloc check: large mask bit %d disagrees with list of %d extents", p, len(a.large[p]))
		}
		for _, off := range a.large[p] {
			if off%Page != 0 {
				return fmt.Errorf("daxkv: alloc check: large list: extent at %d is not page-aligned", off)
			}
			if err := add(off, int64(p)*Page, "large list", true); err != nil {
				return err
			}
			free += int64(p) * Page
		}
	}
	for _, off := range a.chunks {
		if off%a.chunkSize != 0 || (off == 0 && a.heapStart > 0) {
			return fmt.Errorf("daxkv: alloc check: free chunk at %d is not a whole heap chunk", off)
		}
		if err := add(off, a.chunkSize, "free chunks", true); err != nil {
			return err
		}
		free += a.chunkSize
	}
	for _, r := range []struct {
		region
		name  string
		align int64
	}{{a.sreg, "small region", Unit}, {a.lreg, "large region", Page}, {a.dreg, "dense region", Unit}} {
		if r.cur > r.end || r.cur%r.align != 0 {
			return fmt.Errorf("daxkv: alloc check: %s [%d, %d) is malformed", r.name, r.cur, r.end)
		}
		if r.len() > 0 {
			if err := add(r.cur, r.len(), r.name, true); err != nil {
				return err
			}
			free += r.len()
		}
	}
	for c, held := range a.evac {
		var n int64
		for _, e := range held {
			if e.off>>a.chunkShift != c {
				return fmt.Errorf("daxkv: alloc check: chunk %d holds free extent [%d, %d) of another chunk", c, e.off, e.off+e.size)
			}
			if err := add(e.off, e.size, "evacuating", true); err != nil {
				return err
			}
			n += e.size
		}
		if n+a.used[c] != a.chunkSize {
			return fmt.Errorf("daxkv: alloc check: chunk %d being emptied holds %d free bytes and %d used, not one chunk", c, n, a.used[c])
		}
		free += n
		heldSum += n
	}
	if heldSum != a.heldBytes {
		return fmt.Errorf("daxkv: alloc check: chunks being emptied hold %d free bytes, accounted %d", heldSum, a.heldBytes)
	}
	if a.genHead > len(a.gens) {
		return fmt.Errorf("daxkv: alloc check: limbo head %d beyond %d generations", a.genHead, len(a.gens))
	}
	for i, g := range a.gens[a.genHead:] {
		if i > 0 && a.gens[a.genHead+i-1].epoch >= g.epoch {
			return fmt.Errorf("daxkv: alloc check: limbo generations out of order at epoch %d", g.epoch)
		}
		for _, e := range g.ext {
			if err := add(e.off, e.size, "limbo", false); err != nil {
				return err
			}
			limbo += e.size
		}
	}
	if free != a.freeBytes {
		return fmt.Errorf("daxkv: alloc check: free extents add up to %d bytes, accounted %d", free, a.freeBytes)
	}
	if limbo != a.limboBytes || limbo != a.limboMirror.Load() {
		return fmt.Errorf("daxkv: alloc check: limbo extents add up to %d bytes, accounted %d (mirror %d)",
			limbo, a.limboBytes, a.limboMirror.Load())
	}
	if heap := a.poolSize - a.heapStart; free+limbo > heap {
		return fmt.Errorf("daxkv: alloc check: free %d + limbo %d exceed the heap %d", free, limbo, heap)
	}
	slices.SortFunc(all, func(x, y tagged) int { return cmp.Compare(x.off, y.off) })
	for i := 1; i < len(all); i++ {
		if p, q := all[i-1], all[i]; p.off+p.size > q.off {
			return fmt.Errorf("daxkv: alloc check: %s extent [%d, %d) overlaps %s extent [%d, %d)",
				p.where, p.off, p.off+p.size, q.where, q.off, q.off+q.size)
		}
	}
	var used int64
	for _, u := range a.used {
		used += u
	}
	if heap := a.poolSize - a.heapStart; used != heap-free || int64(len(a.used)) != a.poolSize>>a.chunkShift {
		return fmt.Errorf("daxkv: alloc check: chunks count %d bytes used or in limbo (over %d chunks), accounted %d", used, len(a.used), heap-free)
	}
	if invariants.Enabled {
		for _, e := range all {
			if !a.shadow.allSet(int(e.off/Unit), int(e.size/Unit)) {
				return fmt.Errorf("daxkv: alloc check: shadow: %s extent at %d is marked live", e.where, e.off)
			}
		}
		if n := int64(a.shadow.count()) * Unit; n != free+limbo {
			return fmt.Errorf("daxkv: alloc check: shadow counts %d free or limbo bytes, accounted %d", n, free+limbo)
		}
	}
	return nil
}
