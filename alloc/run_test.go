package alloc

import (
	"errors"
	"testing"
)

func TestExtentSize(t *testing.T) {
	const chunk = 64 * kib
	for _, c := range []struct{ n, want int64 }{
		{1, Unit},
		{SmallMax + 1, 2 * Page},
		{chunk / 2, chunk / 2},
		{chunk/2 + 1, chunk},
		{chunk, chunk},
		{chunk + 1, 2 * chunk},
		{5*chunk - 7, 5 * chunk},
	} {
		if got := ExtentSize(chunk, c.n); got != c.want {
			t.Errorf("ExtentSize(%d, %d) = %d, want %d", chunk, c.n, got, c.want)
		}
	}
}

// A request above half a chunk gets whole consecutive chunks, the lowest
// free run; ErrFull until growth makes room; freed and retired runs come
// back as whole chunks and are counted in every chunk they span.
func TestAllocRun(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	a := checked(t, New(chunk, heap, 4*chunk))
	small := mustAlloc(t, a, 100) // in chunk 0 or 1 (a bump region)
	free0 := a.Stats().FreeChunks
	r1 := mustAlloc(t, a, chunk+1) // two chunks
	if r1%chunk != 0 || r1 < chunk {
		t.Fatalf("run at %d, not a whole heap chunk", r1)
	}
	if _, err := a.Alloc(2*chunk + 1); err != ErrFull {
		t.Fatalf("three chunks with %d free: %v, want ErrFull", a.Stats().FreeChunks, err)
	}
	for c := r1 / chunk; c < r1/chunk+2; c++ {
		if u := a.Used(c); u != chunk {
			t.Fatalf("chunk %d used %d, want a whole chunk", c, u)
		}
	}
	assertAccounting(t, a, SizeOf(100)+2*chunk, 0)
	a.Grow(8 * chunk)
	r2 := mustAlloc(t, a, 3*chunk)
	if r2 != 4*chunk && r2 != 3*chunk {
		t.Fatalf("three-chunk run at %d after growth", r2)
	}
	assertAccounting(t, a, SizeOf(100)+5*chunk, 0)
	a.Free(r1, chunk+1)
	a.Retire(r2, 3*chunk, 1)
	assertAccounting(t, a, SizeOf(100), 3*chunk)
	if u := a.Used(r2 / chunk); u != chunk {
		t.Fatalf("retired run's chunk counts %d, want a whole chunk until reclaimed", u)
	}
	if got := a.Reclaim(1); got != 3*chunk {
		t.Fatalf("Reclaim moved %d, want %d", got, 3*chunk)
	}
	assertAccounting(t, a, SizeOf(100), 0)
	if s := a.Stats(); s.FreeChunks != free0+4 {
		t.Fatalf("%d wholly free chunks after the runs came back, want %d", s.FreeChunks, free0+4)
	}
	// Every chunk past the small extent's is free now, in a row.
	first := (small/chunk + 1) * chunk
	n := 8*chunk - first
	r3 := mustAlloc(t, a, n)
	if r3 != first {
		t.Fatalf("%d-byte run at %d, want %d", n, r3, first)
	}
	mustPanic(t, "free of a run at a wrong offset", func() { a.Free(r3+Page, n) })
	a.Free(r3, n)
	if _, err := a.Alloc(MaxRun + 1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Alloc above MaxRun: %v", err)
	}
}

// A run needs the chunks freed piece by piece to be merged back whole.
func TestAllocRunAfterMerge(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	a := checked(t, New(chunk, heap, 3*chunk))
	var offs []int64
	for range 2 * chunk / Page {
		offs = append(offs, mustAlloc(t, a, Page))
	}
	if _, err := a.Alloc(chunk); err != ErrFull {
		t.Fatalf("run in a full pool: %v", err)
	}
	for _, off := range offs {
		a.Free(off, Page)
	}
	off := mustAlloc(t, a, 2*chunk)
	if off != chunk {
		t.Fatalf("run at %d, want %d", off, chunk)
	}
}

// The builder takes a run as live in every chunk it spans, and the built
// allocator hands out none of them.
func TestBuilderRun(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	b := NewBuilder(chunk, heap, 6*chunk)
	if err := b.ValidExtent(2*chunk, 2*chunk+5); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ off, n int64 }{
		{2*chunk + Page, 2 * chunk},
		{5 * chunk, 2 * chunk},
		{0, chunk},
	} {
		if err := b.ValidExtent(c.off, c.n); !errors.Is(err, ErrBadExtent) {
			t.Errorf("ValidExtent(%d, %d) = %v, want ErrBadExtent", c.off, c.n, err)
		}
	}
	b.Use(2*chunk, 2*chunk+5)
	if !b.Overlaps(3*chunk, chunk) || b.Overlaps(chunk, chunk) {
		t.Fatal("Overlaps disagrees with the run")
	}
	if got := b.SizeOf(2*chunk + 5); got != 3*chunk {
		t.Fatalf("SizeOf = %d", got)
	}
	a := checked(t, b.Build())
	for c := int64(2); c < 5; c++ {
		if a.Used(c) != chunk {
			t.Fatalf("chunk %d used %d", c, a.Used(c))
		}
	}
	if _, err := a.Alloc(2 * chunk); err != ErrFull {
		t.Fatalf("two-chunk run with chunks 1 and 5 free: %v", err)
	}
	a.Free(2*chunk, 2*chunk+5)
	if off := mustAlloc(t, a, 5*chunk); off != chunk {
		t.Fatalf("run at %d", off)
	}
}

// Evacuate never takes a chunk of a run, handed out, in limbo or rebuilt
// by a Builder: a run is never moved, so its chunks would never empty.
func TestEvacuateSkipsRuns(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	a := checked(t, New(chunk, heap, 8*chunk))
	r := mustAlloc(t, a, 2*chunk)
	c := r / chunk
	if took := a.Evacuate([]int64{c, c + 1}); len(took) != 0 {
		t.Fatalf("Evacuate took run chunks %v", took)
	}
	a.Retire(r, 2*chunk, 1)
	if took := a.Evacuate([]int64{c + 1}); len(took) != 0 {
		t.Fatalf("Evacuate took a retired run's chunk %v", took)
	}
	a.Reclaim(1)
	if took := a.Evacuate([]int64{c + 1}); len(took) != 1 {
		t.Fatalf("Evacuate of a free chunk took %v", took)
	}
	a.Release(c + 1)

	b := NewBuilder(chunk, heap, 8*chunk)
	b.Use(3*chunk, 2*chunk)
	built := checked(t, b.Build())
	if took := built.Evacuate([]int64{3, 4}); len(took) != 0 {
		t.Fatalf("Evacuate took a rebuilt run's chunks %v", took)
	}
}

// A run takes, of the free runs that fit, the one the stack would hand out
// soonest: chunks released after a punch (at the bottom) come last.
func TestAllocRunPrefersTopOfStack(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	a := checked(t, New(chunk, heap, 9*chunk))
	// Chunks 1-2 emptied and released: they go to the bottom of the stack.
	for _, c := range []int64{1, 2} {
		if took := a.Evacuate([]int64{c}); len(took) != 1 {
			t.Fatalf("Evacuate(%d) = %v", c, took)
		}
		a.Release(c)
	}
	off := mustAlloc(t, a, 2*chunk)
	if off == chunk {
		t.Fatalf("run took the released chunks 1 and 2 while others were free")
	}
}
