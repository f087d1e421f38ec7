package alloc

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// TestGrowRandom interleaves Grow (chunks to the bottom of the stack)
// with every kind of allocation, frees, retirement and evacuation, and
// checks that no two live extents overlap, that every extent lies inside
// the pool, and that Check passes.
func TestGrowRandom(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 7))
		pool := int64(2 * chunk)
		a := New(chunk, heap, pool)
		type ext struct{ off, n int64 }
		var live []ext
		var limbo []ext
		epoch := uint64(1)
		owner := map[int64]int{} // unit -> index+1 in live (overlap check)
		mark := func(e ext, on bool) {
			size := a.SizeOf(e.n)
			for u := e.off; u < e.off+size; u += Unit {
				if on {
					if owner[u] != 0 {
						t.Fatalf("seed %d: extent %d+%d overlaps another at %d", seed, e.off, size, u)
					}
					owner[u] = 1
				} else {
					delete(owner, u)
				}
			}
			if e.off+size > pool {
				t.Fatalf("seed %d: extent %d+%d past the pool %d", seed, e.off, size, pool)
			}
		}
		for step := range 4000 {
			switch op := rng.IntN(20); {
			case op < 1 && pool < 64*chunk:
				pool += int64(1+rng.IntN(3)) * chunk
				a.Grow(pool)
			case op < 9:
				var n int64
				switch rng.IntN(6) {
				case 0:
					n = chunk/2 + 1 + rng.Int64N(2*chunk) // a run
				case 1:
					n = int64(4096 + rng.IntN(20000))
				default:
					n = int64(1 + rng.IntN(2000))
				}
				var off int64
				var err error
				if rng.IntN(5) == 0 && n <= a.MaxExtent() {
					off, err = a.AllocDense(n)
				} else {
					off, err = a.Alloc(n)
				}
				if errors.Is(err, ErrFull) {
					continue
				}
				if err != nil {
					t.Fatalf("seed %d step %d: alloc %d: %v", seed, step, n, err)
				}
				e := ext{off, n}
				mark(e, true)
				live = append(live, e)
			case op < 13 && len(live) > 0:
				i := rng.IntN(len(live))
				e := live[i]
				live = append(live[:i], live[i+1:]...)
				if rng.IntN(2) == 0 {
					mark(e, false)
					a.Free(e.off, e.n)
				} else {
					a.Retire(e.off, e.n, epoch)
					limbo = append(limbo, e)
				}
			case op < 15:
				epoch++
				a.Reclaim(epoch - 1)
				for _, e := range limbo {
					mark(e, false)
				}
				limbo = limbo[:0]
			case op < 17:
				cs := a.EmptyChunks(4)
				cs = append(cs, a.Sparse(chunk/2, 3, nil)...)
				a.Evacuate(cs)
			case op < 18:
				for _, c := range a.Emptied() {
					a.Release(c)
				}
			default:
				for _, c := range a.EvacuatingChunks() {
					a.Release(c)
				}
			}
			if step%500 == 0 {
				if err := a.Check(); err != nil {
					t.Fatalf("seed %d step %d: %v", seed, step, err)
				}
			}
		}
		for _, c := range a.EvacuatingChunks() {
			a.Release(c)
		}
		if err := a.Check(); err != nil {
			t.Fatalf("seed %d end: %v", seed, err)
		}
	}
}
