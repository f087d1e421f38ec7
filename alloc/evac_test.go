package alloc

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestEvacuateModel: extents live in many chunks; the sparse ones are
// evacuated while the test keeps allocating, freeing, retiring and
// reclaiming at random. No extent is ever handed out in a chunk being
// emptied; every chunk whose last extent goes is reported Emptied exactly
// when it holds nothing; releasing it makes it a wholly free chunk handed
// out last, and releasing a chunk that still holds records gives its free
// space back. Check (and the shadow, with -tags invariants) passes after
// every step.
func TestEvacuateModel(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	a := checked(t, New(chunk, heap, 16*chunk))
	r := rand.New(rand.NewPCG(3, 4))
	type ext struct{ off, n int64 }
	var live []ext
	sizes := []int64{100, 192, 700, 3000, 9000}
	for len(live) < 400 {
		n := sizes[r.IntN(len(sizes))]
		off, err := a.Alloc(n)
		if err == ErrFull {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		live = append(live, ext{off, n})
	}
	// Free most of it so that chunks are sparse.
	for i := 0; i < len(live); {
		if r.IntN(4) != 0 {
			a.Free(live[i].off, live[i].n)
			live = slices.Delete(live, i, i+1)
			continue
		}
		i++
	}
	victims := a.Sparse(chunk/2, 4, nil)
	if len(victims) == 0 {
		t.Fatal("no sparse chunk")
	}
	for i := 1; i < len(victims); i++ {
		if a.Used(victims[i-1]) > a.Used(victims[i]) {
			t.Fatalf("Sparse is not sparsest first: %v", victims)
		}
	}
	took := a.Evacuate(victims)
	if !slices.Equal(took, victims) {
		t.Fatalf("Evacuate took %v of %v", took, victims)
	}
	if again := a.Evacuate(victims); again != nil {
		t.Fatalf("Evacuate took chunks already being emptied: %v", again)
	}
	in := func(off int64) bool { return slices.Contains(victims, off/chunk) }
	var epoch uint64
	for step := 0; step < 3000; step++ {
		switch op := r.IntN(10); {
		case op < 4:
			n := sizes[r.IntN(len(sizes))]
			off, err := a.Alloc(n)
			if err == ErrFull {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if in(off) {
				t.Fatalf("step %d: Alloc handed out %d, in chunk %d being emptied", step, off, off/chunk)
			}
			live = append(live, ext{off, n})
		case op < 7 && len(live) > 0:
			i := r.IntN(len(live))
			e := live[i]
			live = slices.Delete(live, i, i+1)
			if r.IntN(2) == 0 {
				a.Free(e.off, e.n)
			} else {
				epoch++
				a.Retire(e.off, e.n, epoch)
			}
		case op < 8:
			a.Reclaim(epoch)
		default:
			for _, c := range a.Emptied() {
				for _, e := range live {
					if e.off/chunk == c {
						t.Fatalf("chunk %d reported empty with %d bytes at %d live", c, e.n, e.off)
					}
				}
				if a.Used(c) != 0 {
					t.Fatalf("chunk %d reported empty with %d bytes used", c, a.Used(c))
				}
			}
		}
		if err := a.Check(); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
	}
	// Move the rest out, as a compaction does, then reclaim.
	for i := 0; i < len(live); {
		if in(live[i].off) {
			epoch++
			a.Retire(live[i].off, live[i].n, epoch)
			live = slices.Delete(live, i, i+1)
			continue
		}
		i++
	}
	a.Reclaim(epoch)
	if got := a.Emptied(); !slices.Equal(got, slices.Sorted(slices.Values(victims))) {
		t.Fatalf("Emptied = %v after every extent left, want %v", got, victims)
	}
	before := a.Stats().FreeChunks
	for _, c := range victims {
		a.Release(c)
	}
	if a.Evacuating() != 0 {
		t.Fatalf("%d chunks still being emptied", a.Evacuating())
	}
	if got := a.Stats().FreeChunks; got != before+len(victims) {
		t.Fatalf("%d free chunks after releasing %d empty ones, want %d", got, len(victims), before+len(victims))
	}
	for i, c := range victims { // at the bottom of the stack: handed out last
		if got := a.chunks[i] / chunk; !slices.Contains(victims, got) {
			t.Fatalf("free chunk %d at position %d of the stack is not a released one (%d)", got, i, c)
		}
		if !slices.Contains(a.EmptyChunks(0), c) {
			t.Fatalf("released chunk %d is not listed empty", c)
		}
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestReleaseGivesUp: a chunk released while it still holds an extent gets
// its held free space back on the lists, where Alloc finds it again.
func TestReleaseGivesUp(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	a := checked(t, New(chunk, heap, 2*chunk))
	var xs []int64
	for {
		off, err := a.Alloc(192)
		if err == ErrFull {
			break
		}
		xs = append(xs, off)
	}
	for _, off := range xs {
		if off/chunk == 1 && off != chunk {
			a.Free(off, 192)
		}
	}
	if got := a.Evacuate([]int64{1}); len(got) != 1 {
		t.Fatalf("Evacuate took %v", got)
	}
	if _, err := a.Alloc(192); err != ErrFull {
		t.Fatalf("Alloc in a pool whose only free space is held: %v, want ErrFull", err)
	}
	if got := a.Emptied(); len(got) != 0 {
		t.Fatalf("Emptied = %v with an extent left", got)
	}
	a.Release(1)
	off, err := a.Alloc(192)
	if err != nil || off/chunk != 1 {
		t.Fatalf("Alloc after giving up = %d, %v, want an extent of chunk 1", off, err)
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestAllocDensePacks: AllocDense never takes from the free lists: with
// holes everywhere, its extents are packed into one whole free chunk after
// another (merging first when the chunks were emptied piece by piece), and
// ErrFull comes when no chunk is whole.
func TestAllocDensePacks(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	a := checked(t, New(chunk, heap, 4*chunk))
	var xs []int64
	for {
		off, err := a.Alloc(1000)
		if err == ErrFull {
			break
		}
		xs = append(xs, off)
	}
	for i, off := range xs { // holes in every chunk; chunk 3 emptied whole
		if i%2 == 0 || off/chunk == 3 {
			a.Free(off, 1000)
		}
	}
	seen := map[int64]bool{}
	for i := 0; i < 50; i++ {
		off, err := a.AllocDense(1000)
		if err != nil {
			t.Fatalf("AllocDense %d: %v", i, err)
		}
		seen[off/chunk] = true
	}
	if len(seen) != 1 || !seen[3] {
		t.Fatalf("AllocDense placed records in chunks %v, want only the emptied chunk 3", seen)
	}
	for {
		if _, err := a.AllocDense(1000); err == ErrFull {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if a.Stats().Free < 64*kib {
		t.Fatalf("ErrFull with only %d bytes free: the holes should remain", a.Stats().Free)
	}
}
