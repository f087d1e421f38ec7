package alloc

import "testing"

// TestLargestFreeExact builds pools whose one free run has a known shape and
// checks LargestFree against what Alloc then gets.
func TestLargestFreeExact(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	for _, tc := range []struct {
		name      string
		off, size int64 // the free run
		want      int64
	}{
		{"small run", heap + 64, 1000 &^ 63, 960},
		{"page, unaligned", heap + 64, Page, Page},
		{"under two pages, unaligned", heap + 64, 7000 &^ 63, Page},
		{"two pages, unaligned", heap + 64, 3 * Page, 2 * Page},
		{"three pages, aligned", 2 * Page, 3 * Page, 3 * Page},
		{"more than half a chunk", chunk, chunk - 64, chunk / 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder(chunk, heap, 2*chunk)
			for off := heap; off < 2*chunk; off += Unit {
				if off < tc.off || off >= tc.off+tc.size {
					b.Use(off, Unit)
				}
			}
			a := checked(t, b.Build())
			s := a.Stats()
			if s.Free != tc.size || s.LargestFree != tc.want {
				t.Fatalf("Free %d LargestFree %d, want %d and %d", s.Free, s.LargestFree, tc.size, tc.want)
			}
			next := tc.want + Unit
			if tc.want >= SmallMax {
				next = tc.want + Page
			}
			if next <= chunk/2 {
				if _, err := a.Alloc(next); err != ErrFull {
					t.Fatalf("Alloc(%d) above LargestFree = %v, want ErrFull", next, err)
				}
			}
			off := mustAlloc(t, a, tc.want)
			assertPlaced(t, a, off, tc.want)
		})
	}
}

// builtWithRuns returns an allocator over chunks of 64 KiB where everything
// is used but the given free runs.
func builtWithRuns(t *testing.T, chunks int64, runs ...[2]int64) *Allocator {
	t.Helper()
	const chunk, heap = 64 * kib, 4 * kib
	b := NewBuilder(chunk, heap, chunks*chunk)
	for off := int64(heap); off < chunks*chunk; off += Unit {
		free := false
		for _, r := range runs {
			free = free || (off >= r[0] && off < r[0]+r[1])
		}
		if !free {
			b.Use(off, Unit)
		}
	}
	return checked(t, b.Build())
}

func TestSmallRegionChoice(t *testing.T) {
	const chunk = 64 * kib
	t.Run("largest run", func(t *testing.T) {
		a := builtWithRuns(t, 2, [2]int64{8 * kib, 8 * kib}, [2]int64{chunk + 16*kib, 24 * kib})
		off := mustAlloc(t, a, 192)
		if off < chunk+16*kib || off >= chunk+40*kib {
			t.Fatalf("192-byte extent at %d, not in the largest free run [%d, %d)", off, chunk+16*kib, chunk+40*kib)
		}
	})
	t.Run("whole chunk first", func(t *testing.T) {
		a := builtWithRuns(t, 3, [2]int64{chunk + 16*kib, 24 * kib}, [2]int64{2 * chunk, chunk})
		off := mustAlloc(t, a, 192)
		if off/chunk != 2 {
			t.Fatalf("192-byte extent at %d, not in the wholly free chunk 2", off)
		}
	})
}

// TestPeriodicMerge frees enough small extents for a periodic merge: a large
// request is then cut from the space they leave, not from a fresh chunk.
func TestPeriodicMerge(t *testing.T) {
	const chunk = 64 * kib
	a := builtWithRuns(t, 4, [2]int64{2 * chunk, 2 * chunk})
	var offs []int64
	for i := 0; i < 200; i++ {
		offs = append(offs, mustAlloc(t, a, 192))
	}
	if offs[0]/chunk != 2 || offs[199]/chunk != 2 {
		t.Fatalf("setup: extents not in chunk 2")
	}
	// Free the 200 extents: only a merge makes one run of their 37.5 KiB.
	for _, off := range offs {
		a.Free(off, 192)
	}
	off := mustAlloc(t, a, 8*Page)
	if off/chunk != 2 {
		t.Fatalf("32 KiB extent at %d, not in chunk 2: the fresh chunk 3 was cut instead", off)
	}
	if s := a.Stats(); s.FreeChunks != 1 {
		t.Fatalf("FreeChunks %d, want chunk 3 still whole", s.FreeChunks)
	}
}
