package alloc

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
)

type usedExt struct{ off, n int64 }

// placeRandom marks random non-overlapping extents in b, mixed small and
// large, and returns them.
func placeRandom(t *testing.T, b *Builder, rng *rand.Rand, chunk, heap, pool int64, count int) []usedExt {
	t.Helper()
	var used []usedExt
	for len(used) < count {
		n := 1 + rng.Int64N(SmallMax)
		if rng.IntN(5) == 0 {
			n = SmallMax + 1 + rng.Int64N(3*Page)
		}
		size := SizeOf(n)
		align := int64(Unit)
		if size > SmallMax {
			align = Page
		}
		off := heap + rng.Int64N(pool-heap)&^(align-1)
		if b.ValidExtent(off, n) != nil || b.Overlaps(off, n) {
			continue
		}
		b.Use(off, n)
		used = append(used, usedExt{off, n})
	}
	return used
}

// fillUntilFull allocates from a until ErrFull, first random sizes, then
// Units, checking each extent against the used units, and returns the bytes
// handed out.
func fillUntilFull(t *testing.T, a *Allocator, rng *rand.Rand, taken []bool) int64 {
	t.Helper()
	var got int64
	take := func(n int64) bool {
		off, err := a.Alloc(n)
		if err == ErrFull {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		assertPlaced(t, a, off, n)
		for u := off / Unit; u < (off+SizeOf(n))/Unit; u++ {
			if taken[u] {
				t.Fatalf("Alloc(%d) = [%d, %d) overlaps a used extent at %d", n, off, off+SizeOf(n), u*Unit)
			}
			taken[u] = true
		}
		got += SizeOf(n)
		return true
	}
	for fails := 0; fails < 20; {
		n := 1 + rng.Int64N(SmallMax)
		if rng.IntN(3) == 0 {
			n = SmallMax + 1 + rng.Int64N(a.MaxExtent()-SmallMax)
		}
		if !take(n) {
			fails++
		}
	}
	for take(Unit) {
	}
	return got
}

func TestBuilderNoSpaceLost(t *testing.T) {
	for _, g := range []struct {
		name              string
		chunk, heap, pool int64
		count             int
	}{
		{"sparse", 64 * kib, 4 * kib, 8 * 64 * kib, 40},
		{"dense", 64 * kib, 4 * kib, 8 * 64 * kib, 300},
		{"no metadata", 64 * kib, 0, 4 * 64 * kib, 100},
		{"big chunks", 1 * mib, 60 * kib, 4 * mib, 500},
	} {
		t.Run(g.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(g.count), 5))
			b := NewBuilder(g.chunk, g.heap, g.pool)
			used := placeRandom(t, b, rng, g.chunk, g.heap, g.pool, g.count)
			// Use and then Unuse an extra extent: its space must be free.
			extra := placeRandom(t, b, rng, g.chunk, g.heap, g.pool, 1)[0]
			b.Unuse(extra.off, extra.n)
			if b.Overlaps(extra.off, extra.n) {
				t.Fatal("Overlaps after Unuse")
			}
			a := checked(t, b.Build())
			taken := make([]bool, g.pool/Unit)
			var usedBytes int64
			for _, e := range used {
				usedBytes += SizeOf(e.n)
				for u := e.off / Unit; u < (e.off+SizeOf(e.n))/Unit; u++ {
					taken[u] = true
				}
			}
			assertAccounting(t, a, usedBytes, 0)
			got := fillUntilFull(t, a, rng, taken)
			if heap := g.pool - g.heap; got+usedBytes != heap {
				t.Fatalf("handed out %d + used %d = %d, want the heap %d", got, usedBytes, got+usedBytes, heap)
			}
		})
	}
}

func TestBuilderUnuse(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	b := NewBuilder(chunk, heap, 2*chunk)
	b.Use(heap, 100)
	b.Use(heap+128, 3000)
	b.Use(chunk, 20000)
	b.Unuse(heap+128, 3000)
	b.Unuse(chunk, 20000)
	a := checked(t, b.Build())
	assertAccounting(t, a, 128, 0)
	if s := a.Stats(); s.FreeChunks != 1 {
		t.Fatalf("chunk 1 emptied by Unuse is not whole: %+v", s)
	}
	taken := make([]bool, 2*chunk/Unit)
	taken[heap/Unit], taken[heap/Unit+1] = true, true
	if got := fillUntilFull(t, a, rand.New(rand.NewPCG(1, 1)), taken); got != 2*chunk-heap-128 {
		t.Fatalf("handed out %d after Unuse, want %d", got, 2*chunk-heap-128)
	}
}

func TestBuilderWholeChunks(t *testing.T) {
	const chunk, heap, chunks = 64 * kib, 4 * kib, 6
	b := NewBuilder(chunk, heap, chunks*chunk)
	b.Use(heap, 64)
	b.Use(3*chunk+Page, 2*Page)
	a := checked(t, b.Build())
	s := a.Stats()
	// Chunks 1, 2, 4 and 5 are whole; chunk 0 (metadata) and 3 are not.
	if s.FreeChunks != 4 || s.LargestFree != chunk/2 {
		t.Fatalf("Stats %+v: want 4 free chunks and LargestFree %d", s, chunk/2)
	}
	seen := map[int64]int{}
	for {
		off, err := a.Alloc(chunk / 2)
		if err == ErrFull {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[off/chunk]++
	}
	// Two from each whole chunk, one from each of the others.
	want := map[int64]int{0: 1, 1: 2, 2: 2, 3: 1, 4: 2, 5: 2}
	for c := int64(0); c < chunks; c++ {
		if seen[c] != want[c] {
			t.Fatalf("half-chunk extents per chunk %v, want %v", seen, want)
		}
	}
}

func TestBuilderEmptyMatchesNew(t *testing.T) {
	const chunk, heap = 64 * kib, 8 * kib
	for _, pool := range []int64{chunk, 5 * chunk} {
		a := checked(t, NewBuilder(chunk, heap, pool).Build())
		n := checked(t, New(chunk, heap, pool))
		if as, ns := a.Stats(), n.Stats(); as != ns {
			t.Fatalf("pool %d: built Stats %+v, New Stats %+v", pool, as, ns)
		}
	}
}

func TestBuilderValidExtent(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	b := NewBuilder(chunk, heap, 2*chunk)
	for _, tc := range []struct {
		name   string
		off, n int64
		ok     bool
	}{
		{"small", heap + 64, 100, true},
		{"large", chunk + Page, 3 * Page, true},
		{"last unit", 2*chunk - 64, 1, true},
		{"metadata", 0, 64, false},
		{"past pool", 2 * chunk, 64, false},
		{"misaligned", heap + 8, 64, false},
		{"large misaligned", heap + 64, SmallMax + 1, false},
		{"crosses chunk", chunk - 64, 65, false},
		{"run past pool", chunk, chunk + 1, false},
		{"run misaligned", heap, chunk/2 + 1, false},
		{"negative", -64, 64, false},
	} {
		err := b.ValidExtent(tc.off, tc.n)
		if (err == nil) != tc.ok {
			t.Errorf("%s: ValidExtent(%d, %d) = %v, want ok=%v", tc.name, tc.off, tc.n, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadExtent) {
			t.Errorf("%s: %v does not wrap ErrBadExtent", tc.name, err)
		}
		if !tc.ok {
			mustPanic(t, "Use "+tc.name, func() { b.Use(tc.off, tc.n) })
		}
	}
	b.Use(heap+128, 192)
	for _, tc := range []struct {
		off, n int64
		want   bool
	}{
		{heap + 128, 64, true}, {heap + 64, 128, true}, {heap + 256, 64, true},
		{heap + 64, 64, false}, {heap + 320, 64, false},
	} {
		if got := b.Overlaps(tc.off, tc.n); got != tc.want {
			t.Errorf("Overlaps(%d, %d) = %v, want %v", tc.off, tc.n, got, tc.want)
		}
	}
}

func TestBuilderConcurrentUse(t *testing.T) {
	const chunk, heap, chunks = 64 * kib, 4 * kib, 16
	b := NewBuilder(chunk, heap, chunks*chunk)
	const workers = 4
	usedBy := make([]int64, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			// Worker w owns chunks w, w+workers, ...: back-to-back 192-byte
			// extents, every third one discarded again.
			for c := int64(w); c < chunks; c += workers {
				start := c * chunk
				if c == 0 {
					start = heap
				}
				for i, off := 0, start; off+192 <= (c+1)*chunk; i, off = i+1, off+192 {
					b.Use(off, 192)
					usedBy[w] += 192
					if i%3 == 2 {
						b.Unuse(off, 192)
						usedBy[w] -= 192
					}
				}
			}
		}(w)
	}
	wg.Wait()
	var used int64
	for _, u := range usedBy {
		used += u
	}
	a := checked(t, b.Build())
	assertAccounting(t, a, used, 0)
	// Every discarded extent (and the tail of each chunk) is free space.
	rng := rand.New(rand.NewPCG(7, 7))
	taken := make([]bool, chunks*chunk/Unit)
	for c := int64(0); c < chunks; c++ {
		start := c * chunk
		if c == 0 {
			start = heap
		}
		for i, off := 0, start; off+192 <= (c+1)*chunk; i, off = i+1, off+192 {
			if i%3 != 2 {
				for u := off / Unit; u < (off+192)/Unit; u++ {
					taken[u] = true
				}
			}
		}
	}
	if got := fillUntilFull(t, a, rng, taken); got != chunks*chunk-heap-used {
		t.Fatalf("handed out %d, want %d", got, chunks*chunk-heap-used)
	}
}

func TestBuilderLargePageAligned(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	b := NewBuilder(chunk, heap, 4*chunk)
	// Odd small extents everywhere, so every free run starts off a page.
	for off := heap + 3*Unit; off < 4*chunk; off += 5 * Page {
		if off/chunk == (off+Unit-1)/chunk {
			b.Use(off, Unit)
		}
	}
	a := checked(t, b.Build())
	for {
		off, err := a.Alloc(2 * Page)
		if err == ErrFull {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if off%Page != 0 {
			t.Fatalf("large extent at %d is not page-aligned", off)
		}
	}
	if a.Stats().Free == 0 {
		t.Fatal("no fragments left around the page-aligned extents: the test proves nothing")
	}
}
