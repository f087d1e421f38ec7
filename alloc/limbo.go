package alloc

import (
	"slices"
)

// Emptied generation slices are kept for reuse, so that steady Retire and
// Reclaim allocate nothing, but not too many nor too large ones.
const (
	maxSpares   = 16
	maxSpareLen = 1 << 16
)

// A gen is a limbo generation: the extents retired with one epoch.
type gen struct {
	epoch uint64
	ext   []extent
}

// Retire puts an extent handed out by Alloc (or marked by Builder.Use), of
// ExtentSize(n) bytes at off, in limbo, tagged with the reader epoch that was
// current when it was unlinked. It is reused only after Reclaim(upTo) with
// upTo >= epoch, when no reader can still hold it. Epochs need not arrive in
// order. It panics on an extent Alloc could not have handed out.
func (a *Allocator) Retire(off, n int64, epoch uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	size := a.takeBack("retire", off, n)
	g := a.genFor(epoch)
	g.ext = append(g.ext, extent{off, size})
	a.limboBytes += size
	a.limboMirror.Store(a.limboBytes)
}

// genFor returns the generation of epoch, creating it in order if needed.
// Epochs usually arrive in order, so the last generation is tried first.
func (a *Allocator) genFor(epoch uint64) *gen {
	live := a.gens[a.genHead:]
	if n := len(live); n > 0 && live[n-1].epoch >= epoch {
		i, found := slices.BinarySearchFunc(live, epoch, func(g gen, e uint64) int {
			switch {
			case g.epoch < e:
				return -1
			case g.epoch > e:
				return 1
			}
			return 0
		})
		if !found {
			a.gens = slices.Insert(a.gens, a.genHead+i, gen{epoch: epoch, ext: a.spareSlice()})
		}
		return &a.gens[a.genHead+i]
	}
	if a.genHead == len(a.gens) {
		a.gens, a.genHead = a.gens[:0], 0
	} else if a.genHead >= 64 && a.genHead >= len(a.gens)/2 {
		n := copy(a.gens, a.gens[a.genHead:])
		clear(a.gens[n:])
		a.gens, a.genHead = a.gens[:n], 0
	}
	a.gens = append(a.gens, gen{epoch: epoch, ext: a.spareSlice()})
	return &a.gens[len(a.gens)-1]
}

func (a *Allocator) spareSlice() []extent {
	if n := len(a.spare); n > 0 {
		s := a.spare[n-1]
		a.spare = a.spare[:n-1]
		return s
	}
	return nil
}

// Reclaim moves every limbo extent retired with an epoch <= upTo to the free
// lists and returns the bytes it moved.
func (a *Allocator) Reclaim(upTo uint64) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var moved int64
	for a.genHead < len(a.gens) && a.gens[a.genHead].epoch <= upTo {
		g := &a.gens[a.genHead]
		for _, e := range g.ext {
			if a.onReclaim != nil {
				a.onReclaim(e.off, e.size)
			}
			a.addUsed(e.off, -e.size)
			a.pushFree(e.off, e.size)
			moved += e.size
		}
		a.freed += len(g.ext)
		if c := cap(g.ext); c > 0 && c <= maxSpareLen && len(a.spare) < maxSpares {
			a.spare = append(a.spare, g.ext[:0])
		}
		*g = gen{}
		a.genHead++
	}
	if moved > 0 {
		a.limboBytes -= moved
		a.limboMirror.Store(a.limboBytes)
		a.freeBytes += moved
		a.coalesced = false
	}
	return moved
}

// OnReclaim installs f, called for every extent Reclaim moves from limbo
// to the free lists (with the allocator locked; f must not call it back).
// Invariants builds of the store poison each such extent, so that a reader
// that could still see a reclaimed extent reads garbage and fails loudly.
// Call it before the allocator is shared.
func (a *Allocator) OnReclaim(f func(off, size int64)) { a.onReclaim = f }

// LimboBytes returns the bytes waiting in limbo, without taking the
// allocator's lock: the caller uses it to decide when to try advancing the
// reader epoch.
func (a *Allocator) LimboBytes() int64 { return a.limboMirror.Load() }

// FreeBytes returns the bytes free now: in the free lists, the wholly free
// chunks and the bump regions, limbo not included.
func (a *Allocator) FreeBytes() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.freeBytes
}
