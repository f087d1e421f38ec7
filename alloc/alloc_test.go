package alloc

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func TestAllocPlacement(t *testing.T) {
	const chunk, heap = 256 * kib, 8 * kib
	a := checked(t, New(chunk, heap, 64*chunk))
	rng := rand.New(rand.NewPCG(1, 2))
	var used int64
	for i := 0; i < 4000; i++ {
		var n int64
		switch i % 4 {
		case 0:
			n = 1 + rng.Int64N(SmallMax)
		case 1:
			n = int64(1+rng.IntN(numSmall)) * Unit
		case 2:
			n = SmallMax + 1 + rng.Int64N(4*Page)
		default:
			n = SmallMax + 1 + rng.Int64N(a.MaxExtent()-SmallMax)
		}
		off, err := a.Alloc(n)
		if errors.Is(err, ErrFull) {
			a.Grow(a.Stats().PoolSize + 8*chunk)
			off = mustAlloc(t, a, n)
		} else if err != nil {
			t.Fatal(err)
		}
		assertPlaced(t, a, off, n)
		used += SizeOf(n)
	}
	assertAccounting(t, a, used, 0)
}

func TestAllocTooLarge(t *testing.T) {
	const chunk = 64 * kib
	a := checked(t, New(chunk, 4*kib, 2*chunk))
	if a.MaxExtent() != chunk/2 {
		t.Fatalf("MaxExtent %d, want %d", a.MaxExtent(), chunk/2)
	}
	for _, n := range []int64{MaxRun + 1, 1 << 62, 1<<63 - 1} {
		if _, err := a.Alloc(n); err != ErrTooLarge {
			t.Errorf("Alloc(%d) = %v, want ErrTooLarge", n, err)
		}
	}
	off := mustAlloc(t, a, chunk/2)
	assertPlaced(t, a, off, chunk/2)
	assertAccounting(t, a, chunk/2, 0)
}

func TestAllocFullThenGrow(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	a := checked(t, New(chunk, heap, 2*chunk))
	half := a.MaxExtent()
	// Chunk 0 holds one half-chunk extent (its heap is 60 KiB), chunk 1 two.
	for i := 0; i < 3; i++ {
		mustAlloc(t, a, half)
	}
	if _, err := a.Alloc(half); err != ErrFull {
		t.Fatalf("Alloc in a full pool = %v, want ErrFull unwrapped", err)
	}
	a.Grow(2 * chunk) // not larger: ignored
	if _, err := a.Alloc(half); err != ErrFull {
		t.Fatalf("after a no-op Grow: %v, want ErrFull", err)
	}
	mustPanic(t, "Grow to a non-multiple", func() { a.Grow(3*chunk + Page) })
	a.Grow(3 * chunk)
	for i := 0; i < 2; i++ {
		off := mustAlloc(t, a, half)
		if off < 2*chunk {
			t.Fatalf("after Grow got %d, not in the new chunk", off)
		}
	}
	if _, err := a.Alloc(half); err != ErrFull {
		t.Fatalf("Alloc after the new chunk filled = %v, want ErrFull", err)
	}
	// The rest of chunk 0 (60 KiB - 32 KiB = 28 KiB) is still there.
	var small int64
	for {
		_, err := a.Alloc(SmallMax)
		if err == ErrFull {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		small += SmallMax
	}
	if want := chunk - heap - half; small != want {
		t.Fatalf("filled %d bytes with small extents, want %d", small, want)
	}
	s := a.Stats()
	if s.Free != 0 || s.LargestFree != 0 || s.Fragmentation != 0 {
		t.Fatalf("full pool Stats %+v", s)
	}
	assertAccounting(t, a, 3*chunk-heap, 0)
}

func TestFreeReusesLIFO(t *testing.T) {
	a := checked(t, New(64*kib, 4*kib, 4*64*kib))
	x := mustAlloc(t, a, 192)
	y := mustAlloc(t, a, 192)
	a.Free(x, 192)
	a.Free(y, 192)
	if got := mustAlloc(t, a, 192); got != y {
		t.Fatalf("Alloc after freeing x then y = %d, want y %d (most recently freed)", got, y)
	}
	if got := mustAlloc(t, a, 150); got != x {
		t.Fatalf("Alloc(150) = %d, want x %d (same class as 192)", got, x)
	}
	l := mustAlloc(t, a, 3*Page)
	a.Free(l, 3*Page)
	if got := mustAlloc(t, a, 2*Page+1); got != l {
		t.Fatalf("large Alloc after free = %d, want %d", got, l)
	}
}

func TestReuse192(t *testing.T) {
	const chunk = 64 * kib
	a := checked(t, New(chunk, 4*kib, 64*chunk))
	const n = 4000
	offs := make([]int64, 0, n)
	for i := 0; i < n; i++ {
		offs = append(offs, mustAlloc(t, a, 192))
	}
	peak := a.Stats()
	freed := make(map[int64]bool, n)
	for _, off := range offs {
		a.Free(off, 192)
		freed[off] = true
	}
	for i := 0; i < n; i++ {
		off := mustAlloc(t, a, 192)
		if !freed[off] {
			t.Fatalf("allocation %d got %d, not one of the freed extents", i, off)
		}
		if i == 0 && off != offs[n-1] {
			t.Fatalf("first reuse got %d, want the last freed %d", off, offs[n-1])
		}
		delete(freed, off)
	}
	s := a.Stats()
	if s.Used > peak.Used || s.FreeChunks != peak.FreeChunks || s.Free != peak.Free {
		t.Fatalf("after reuse Used %d FreeChunks %d Free %d; at peak %d %d %d",
			s.Used, s.FreeChunks, s.Free, peak.Used, peak.FreeChunks, peak.Free)
	}
}

// TestMergeAfterFragmentation fills the pool with mixed sizes, frees it all
// in random order and then asks for the largest extents: unless adjacent
// free extents merge, the pool is lost to fragments.
func TestMergeAfterFragmentation(t *testing.T) {
	const chunk, heap, chunks = 64 * kib, 4 * kib, 8
	a := checked(t, New(chunk, heap, chunks*chunk))
	rng := rand.New(rand.NewPCG(3, 4))
	type ext struct{ off, n int64 }
	var live []ext
	for {
		n := 1 + rng.Int64N(3*Page)
		off, err := a.Alloc(n)
		if err == ErrFull {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		live = append(live, ext{off, n})
	}
	rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	for i, e := range live {
		if i%2 == 0 {
			a.Free(e.off, e.n)
		} else {
			a.Retire(e.off, e.n, uint64(i))
		}
	}
	a.Reclaim(uint64(len(live)))
	s := a.Stats()
	if s.Free != chunks*chunk-heap || s.LargestFree != a.MaxExtent() {
		t.Fatalf("all freed: Free %d LargestFree %d, want %d and %d", s.Free, s.LargestFree, chunks*chunk-heap, a.MaxExtent())
	}
	got := 0
	for {
		_, err := a.Alloc(a.MaxExtent())
		if err == ErrFull {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got++
	}
	// Two per chunk, and one more in chunk 0's 60 KiB heap.
	if want := 2*(chunks-1) + 1; got != want {
		t.Fatalf("got %d half-chunk extents after freeing everything, want %d", got, want)
	}
}

func TestFreeRejectsBadExtents(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	a := checked(t, New(chunk, heap, 2*chunk))
	for _, tc := range []struct {
		name   string
		off, n int64
	}{
		{"in metadata", 0, 64},
		{"before heap", heap - 64, 128},
		{"past pool", 2 * chunk, 64},
		{"ends past pool", 2*chunk - 64, 128},
		{"misaligned", heap + 32, 64},
		{"crosses chunk", chunk - 64, 128},
		{"large misaligned", chunk + 64, 2 * Page},
		{"run past pool", chunk, 2 * chunk},
		{"run misaligned", heap, chunk},
		{"negative", -Page, 64},
	} {
		mustPanic(t, "Free "+tc.name, func() { a.Free(tc.off, tc.n) })
		mustPanic(t, "Retire "+tc.name, func() { a.Retire(tc.off, tc.n, 1) })
	}
	// The allocator is still usable after the recovered panics.
	mustAlloc(t, a, 64)
	assertAccounting(t, a, 64, 0)
}

func TestStatsOfNewPool(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	a := checked(t, New(chunk, heap, 4*chunk))
	s := a.Stats()
	want := Stats{
		PoolSize: 4 * chunk, Free: 4*chunk - heap, LargestFree: chunk / 2,
		FreeExtents: 4, FreeChunks: 3,
		Fragmentation: 1 - float64(chunk/2)/float64(4*chunk-heap),
	}
	if s != want {
		t.Fatalf("Stats = %+v, want %+v", s, want)
	}
}

func TestConcurrentAlloc(t *testing.T) {
	const chunk = 64 * kib
	a := checked(t, New(chunk, 4*kib, 4*chunk))
	var mu sync.Mutex        // protects owner and a's growth
	owner := map[int64]int{} // unit -> goroutine
	var wg sync.WaitGroup
	for g := 1; g <= 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			type ext struct{ off, n int64 }
			var mine []ext
			for i := 0; i < 2000; i++ {
				if len(mine) > 0 && rng.IntN(2) == 0 {
					k := rng.IntN(len(mine))
					e := mine[k]
					mine[k] = mine[len(mine)-1]
					mine = mine[:len(mine)-1]
					mu.Lock()
					for u := e.off / Unit; u < (e.off+SizeOf(e.n))/Unit; u++ {
						delete(owner, u)
					}
					mu.Unlock()
					a.Free(e.off, e.n)
					continue
				}
				n := 1 + rng.Int64N(2*Page)
				off, err := a.Alloc(n)
				for err == ErrFull {
					mu.Lock()
					a.Grow(a.Stats().PoolSize + chunk)
					mu.Unlock()
					off, err = a.Alloc(n)
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for u := off / Unit; u < (off+SizeOf(n))/Unit; u++ {
					if h, ok := owner[u]; ok {
						mu.Unlock()
						t.Errorf("goroutine %d got [%d, %d), unit %d held by %d", g, off, off+SizeOf(n), u, h)
						return
					}
					owner[u] = g
				}
				mu.Unlock()
				mine = append(mine, ext{off, n})
			}
		}(g)
	}
	wg.Wait()
	if got, want := a.Stats().Used, int64(len(owner))*Unit; got != want {
		t.Fatalf("Used %d, want %d", got, want)
	}
}

// Grown chunks go below the free chunks already on the stack: those are the
// ones the chunk preparer has faulted in, and a write right after a growth
// must not land in a chunk that is still a hole.
func TestGrowKeepsFreeChunksFirst(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	a := checked(t, New(chunk, heap, 4*chunk))
	if got, want := a.NextChunks(8), []int64{chunk, 2 * chunk, 3 * chunk}; !slices.Equal(got, want) {
		t.Fatalf("NextChunks before Grow = %v, want %v", got, want)
	}
	a.Grow(7 * chunk)
	want := []int64{chunk, 2 * chunk, 3 * chunk, 4 * chunk, 5 * chunk, 6 * chunk}
	if got := a.NextChunks(8); !slices.Equal(got, want) {
		t.Fatalf("NextChunks after Grow = %v, want %v (the old free chunks first, then the grown ones, lowest first)", got, want)
	}
}

// TestHalvesCountsRegionMiddles: Halves moves once per bump region, when
// its front passes the region's middle, for each kind of region (small,
// large, dense), and Regions once per region started.
func TestHalvesCountsRegionMiddles(t *testing.T) {
	// The heap part of chunk 0 is one page, too small for any request
	// below: every request is carved from a region of a whole chunk.
	const chunk, heap = 256 * kib, 256*kib - Page
	for _, c := range []struct {
		name  string
		n     int64
		dense bool
	}{
		{"small", 1024, false},
		{"large", 8 * kib, false},
		{"dense", 1024, true},
	} {
		a := checked(t, New(chunk, heap, 8*chunk))
		alloc := a.Alloc
		if c.dense {
			alloc = a.AllocDense
		}
		if got := SizeOf(c.n); got != c.n {
			t.Fatalf("%s: SizeOf(%d) = %d", c.name, c.n, got)
		}
		perHalf := int(chunk / 2 / c.n)
		for i := 1; i <= 3*perHalf; i++ {
			h0, r0 := a.Halves(), a.Regions()
			if _, err := alloc(c.n); err != nil {
				t.Fatalf("%s: alloc %d: %v", c.name, i, err)
			}
			wantH := h0
			if i%(2*perHalf) == perHalf {
				wantH++ // the front reached the middle
			}
			wantR := r0
			if i%(2*perHalf) == 1 {
				wantR++ // a fresh chunk
			}
			if h, r := a.Halves(), a.Regions(); h != wantH || r != wantR {
				t.Fatalf("%s: after alloc %d: halves %d, regions %d; want %d, %d", c.name, i, h, r, wantH, wantR)
			}
		}
	}
}

// TestDenseAlignmentGapCountsHalf: AllocDense pads the dense region's
// front to a page before a large (> SmallMax) record. When small records
// leave the front less than a page below the region's (page-aligned)
// middle, the padding moves the front onto the middle; that move counts
// the half (it once did not: from an adversarial review), so the preparer
// of a pool whose chunks are written with zeros is woken for the region.
func TestDenseAlignmentGapCountsHalf(t *testing.T) {
	const chunk, heap = 256 * kib, 256*kib - Page
	a := checked(t, New(chunk, heap, 8*chunk))
	// 127 small records of 1 KiB: the front is 1 KiB below the middle.
	for i := 0; i < 127; i++ {
		if _, err := a.AllocDense(1024); err != nil {
			t.Fatal(err)
		}
	}
	if h := a.Halves(); h != 0 {
		t.Fatalf("halves %d before the middle", h)
	}
	r0 := a.Regions()
	// A large record: padded to the page at the middle, then carved.
	off, err := a.AllocDense(8 * kib)
	if err != nil {
		t.Fatal(err)
	}
	if a.Regions() != r0 {
		t.Fatal("a new region was started; the test's geometry is off")
	}
	if off != a.dreg.mid {
		t.Fatalf("large record at %d, want it at the middle %d", off, a.dreg.mid)
	}
	// Carve on to nearly the end of the region.
	for a.dreg.len() > 16*kib {
		if _, err := a.AllocDense(8 * kib); err != nil {
			t.Fatal(err)
		}
	}
	if a.Regions() != r0 {
		t.Fatal("a new region was started")
	}
	if h := a.Halves(); h != 1 {
		t.Errorf("dense region carved to %d of %d bytes (middle at %d) but Halves = %d, want 1: the preparer (ZeroFills pools) is never woken for it",
			a.dreg.cur-(a.dreg.end-chunk), chunk, chunk/2, h)
	}
}

// TestKindsCountsRegionKinds: Kinds counts the kinds of bump region asked
// for space, whether the request was carved from a region or served from
// the free lists, each kind once.
func TestKindsCountsRegionKinds(t *testing.T) {
	a := checked(t, New(256*kib, 8*kib, 8*256*kib))
	if k := a.Kinds(); k != 0 {
		t.Fatalf("Kinds of a new allocator = %d, want 0", k)
	}
	for _, c := range []struct {
		n     int64
		dense bool
		want  int
	}{
		{100, false, 1},
		{200, false, 1},
		{8 * kib, false, 2}, // served from chunk 0's free run, not a region
		{16 * kib, false, 2},
		{100, true, 3},
		{8 * kib, true, 3},
	} {
		alloc := a.Alloc
		if c.dense {
			alloc = a.AllocDense
		}
		if _, err := alloc(c.n); err != nil {
			t.Fatal(err)
		}
		if k := a.Kinds(); k != c.want {
			t.Fatalf("after a request of %d bytes (dense %v): Kinds = %d, want %d", c.n, c.dense, k, c.want)
		}
	}
}
