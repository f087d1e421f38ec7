package alloc

import (
	"cmp"
	"slices"

	"github.com/daxkv/daxkv/internal/invariants"
)

// Compaction empties sparse chunks so that their blocks can be given back
// to the filesystem. The allocator's part is to stop handing out space in
// a chunk being emptied and to say when nothing is left in it:
//
//   - Evacuate takes chunks off the free lists: their free extents, the
//     bump regions inside them and, for a wholly free chunk, the chunk
//     itself are held aside, and every extent freed or reclaimed in them
//     later joins the held space instead of a list.
//   - Used tells how many bytes of a chunk are handed out or in limbo; the
//     caller moves the live records out (new extents come from other
//     chunks), retires the old ones, and waits for Reclaim.
//   - Emptied lists the chunks being emptied that hold nothing any more: no
//     record and no limbo extent, so no reader can reach a byte of them.
//   - Release ends a chunk's evacuation: an empty one goes back as a wholly
//     free chunk, handed out after every other (its blocks were likely just
//     given back); one that is not empty gets its held space back on the
//     lists, as a compaction that gives up leaves it.

// hold keeps a run freed in a chunk being emptied off the free lists, and
// reports whether it did. Called with mu held by every path that frees.
func (a *Allocator) hold(off, size int64) bool {
	if a.evac == nil {
		return false
	}
	c := off >> a.chunkShift
	l, ok := a.evac[c]
	if !ok {
		return false
	}
	a.evac[c] = append(l, extent{off, size})
	a.heldBytes += size
	return true
}

// HeldBytes returns the free bytes held in chunks being emptied: counted in
// FreeBytes, but not available to Alloc.
func (a *Allocator) HeldBytes() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.heldBytes
}

// Used returns the bytes of chunk c (by index) handed out or in limbo.
func (a *Allocator) Used(c int64) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c < 0 || c >= int64(len(a.used)) {
		return 0
	}
	return a.used[c]
}

// Sparse returns up to n chunks (by index) that hold at least one byte and
// at most maxUsed bytes, sparsest first, leaving out chunk 0 (it holds the
// metadata), chunks being emptied and chunks in skip.
func (a *Allocator) Sparse(maxUsed int64, n int, skip func(c int64) bool) []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []int64
	for c := int64(1); c < int64(len(a.used)); c++ {
		if u := a.used[c]; u > 0 && u <= maxUsed && a.evac[c] == nil && (skip == nil || !skip(c)) {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(x, y int64) int { return cmp.Compare(a.used[x], a.used[y]) })
	return out[:min(len(out), n)]
}

// EmptyChunks returns the chunks (by index) that hold nothing, neither an
// extent handed out nor one in limbo: the wholly free chunks, leaving out
// the keep that the next bump regions will take (the ones a preparer may
// have faulted in), and the chunks emptied extent by extent whose free
// space still lies in pieces on the lists. Chunk 0 and chunks being
// emptied are left out.
func (a *Allocator) EmptyChunks(keep int) []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	top := make(map[int64]bool, keep)
	for i := max(0, len(a.chunks)-keep); i < len(a.chunks); i++ {
		top[a.chunks[i]>>a.chunkShift] = true
	}
	var out []int64
	for c := int64(1); c < int64(len(a.used)); c++ {
		if _, held := a.evac[c]; a.used[c] == 0 && !held && !top[c] {
			out = append(out, c)
		}
	}
	return out
}

// Evacuate starts emptying the chunks cs (by index): nothing new is handed
// out in them from now on. Chunk 0, chunks outside the pool and chunks
// already being emptied are skipped; it returns the ones it took.
func (a *Allocator) Evacuate(cs []int64) []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.evac == nil {
		a.evac = make(map[int64][]extent)
	}
	var took []int64
	for _, c := range cs {
		if _, ok := a.evac[c]; ok || c <= 0 || c >= a.poolSize>>a.chunkShift || a.inRun[c] {
			continue // a run's chunks never empty while it lives: it is never moved
		}
		a.evac[c] = []extent{}
		took = append(took, c)
	}
	if len(took) == 0 {
		a.dropEvac()
		return nil
	}
	// Pull the free space of the chunks taken off the lists (a pass over
	// every free extent, like a merge).
	in := func(off int64) bool {
		l, ok := a.evac[off>>a.chunkShift]
		return ok && l != nil
	}
	keep := a.chunks[:0]
	for _, off := range a.chunks {
		if in(off) {
			a.evac[off>>a.chunkShift] = append(a.evac[off>>a.chunkShift], extent{off, a.chunkSize})
			a.heldBytes += a.chunkSize
		} else {
			keep = append(keep, off)
		}
	}
	a.chunks = keep
	for m := a.smallMask; m != 0; m &= m - 1 {
		i := trailingZeros(m)
		a.small[i] = a.pull(a.small[i], int64(i+1)*Unit, in)
		if len(a.small[i]) == 0 {
			a.smallMask &^= 1 << i
		}
	}
	for w, x := range a.largeMask {
		for ; x != 0; x &= x - 1 {
			p := w*64 + trailingZeros(x)
			a.large[p] = a.pull(a.large[p], int64(p)*Page, in)
			if len(a.large[p]) == 0 {
				a.largeMask[w] &^= 1 << (p & 63)
			}
		}
	}
	for _, r := range []*region{&a.sreg, &a.lreg, &a.dreg} {
		if r.len() > 0 && in(r.cur) {
			c := r.cur >> a.chunkShift
			a.evac[c] = append(a.evac[c], extent{r.cur, r.len()})
			a.heldBytes += r.len()
			*r = region{}
		}
	}
	a.coalesced = false
	if invariants.Enabled {
		a.assertCheck()
	}
	return took
}

// pull moves the extents of list (each of size bytes) that lie in chunks
// being emptied to their held space and returns what is left of list.
func (a *Allocator) pull(list []int64, size int64, in func(int64) bool) []int64 {
	keep := list[:0]
	for _, off := range list {
		if in(off) {
			c := off >> a.chunkShift
			a.evac[c] = append(a.evac[c], extent{off, size})
			a.heldBytes += size
		} else {
			keep = append(keep, off)
		}
	}
	return keep
}

// Emptied returns the chunks being emptied (by index) that hold nothing:
// no byte handed out, none in limbo.
func (a *Allocator) Emptied() []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []int64
	for c := range a.evac {
		if a.used[c] == 0 {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// EvacuatingChunks returns the chunks being emptied (by index), sorted.
func (a *Allocator) EvacuatingChunks() []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]int64, 0, len(a.evac))
	for c := range a.evac {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Evacuating returns how many chunks are being emptied.
func (a *Allocator) Evacuating() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.evac)
}

// Release ends the evacuation of chunk c. An empty chunk becomes a wholly
// free chunk again, at the bottom of the stack (handed out last); a chunk
// still holding records gets its held free space back on the lists.
// Releasing a chunk that is not being emptied does nothing.
func (a *Allocator) Release(c int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	held, ok := a.evac[c]
	if !ok {
		return
	}
	delete(a.evac, c)
	for _, e := range held {
		a.heldBytes -= e.size
	}
	if a.used[c] == 0 {
		a.chunks = slices.Insert(a.chunks, 0, c<<a.chunkShift)
	} else {
		for _, e := range held {
			a.addFree(e.off, e.size)
		}
		a.coalesced = false
		a.freed += len(held)
	}
	a.dropEvac()
	if invariants.Enabled {
		a.assertCheck()
	}
}

// dropEvac forgets the evacuation map once it is empty, so that the free
// paths go back to one nil check.
func (a *Allocator) dropEvac() {
	if len(a.evac) == 0 {
		a.evac = nil
	}
}

// AllocDense is Alloc for records moved by a compaction: the extent is
// carved from a bump region of its own that only whole free chunks feed
// (merging free space first when none is whole), never from the free
// lists. Moved records are then packed together instead of landing in
// the holes of other sparse chunks, which the same compaction would have
// to empty next. ErrFull means no whole free chunk: the caller grows the
// pool, as for Alloc.
func (a *Allocator) AllocDense(n int64) (int64, error) {
	if n > a.maxExtent {
		return 0, ErrTooLarge
	}
	size := SizeOf(n)
	align := int64(Unit)
	if size > SmallMax {
		align = Page
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.kinds |= kindDense
	r := &a.dreg
	cur := (r.cur + align - 1) &^ (align - 1)
	if r.len() == 0 || cur+size > r.end {
		if len(a.chunks) == 0 && !a.coalesced {
			a.coalesce(true) // chunks emptied piece by piece become whole
		}
		n := len(a.chunks)
		if n == 0 {
			return 0, ErrFull
		}
		off := a.chunks[n-1]
		a.chunks = a.chunks[:n-1]
		if r.len() > 0 {
			a.addFree(r.cur, r.len())
		}
		r.cur, r.end, r.mid = off, off+a.chunkSize, off+a.chunkSize/2
		a.regions.Add(1)
	} else if cur > r.cur {
		a.addFree(r.cur, cur-r.cur) // the alignment gap, less than a page
		a.advance(r, cur)
	}
	off := a.carve(r, size)
	a.freeBytes -= size
	a.used[off>>a.chunkShift] += size
	a.coalesced = false
	if invariants.Enabled {
		a.shadowTake(off, size)
		a.assertCheck()
	}
	return off, nil
}
