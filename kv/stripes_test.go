package kv

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestDistinctSorted checks distinctSorted against sort-and-compact for
// random sets of stripe indexes of every size up to 300, with repeats,
// the table's two ends and both of its paths (up to 16 indexes, and the
// bitmap beyond).
func TestDistinctSorted(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for n := 0; n <= 300; n++ {
		idx := make([]int, n)
		for i := range idx {
			switch r.IntN(10) {
			case 0:
				idx[i] = 0
			case 1:
				idx[i] = stripeCount - 1
			case 2:
				if i > 0 {
					idx[i] = idx[r.IntN(i)] // a repeat
					continue
				}
				fallthrough
			default:
				idx[i] = r.IntN(stripeCount)
			}
		}
		want := slices.Clone(idx)
		slices.Sort(want)
		want = slices.Compact(want)
		if got := distinctSorted(idx); !slices.Equal(got, want) {
			t.Fatalf("n=%d: distinctSorted = %v, want %v", n, got, want)
		}
	}
}

// BenchmarkLockSet locks and unlocks the stripes of 64 random keys, as an
// Apply of a 64-entry batch does.
func BenchmarkLockSet(b *testing.B) {
	var s stripes
	r := rand.New(rand.NewPCG(9, 10))
	src := make([]int, 64)
	for i := range src {
		src[i] = r.IntN(stripeCount)
	}
	idx := make([]int, 64)
	b.ReportAllocs()
	for b.Loop() {
		copy(idx, src)
		s.unlockSet(s.lockSet(idx))
	}
}

// TestLockCtx: a free stripe is taken at once; a held one is waited for
// until ctx ends, and then not held by the caller, nor kept by the waiter
// left behind once the holder lets go; a stripe freed while the caller
// waits is taken.
func TestLockCtx(t *testing.T) {
	var s stripes
	if err := s.lockCtx(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.lockCtx(ctx, 5); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lockCtx of a held stripe: %v, want the deadline", err)
	}
	s.unlock(5) // the first holder lets go: the abandoned waiter takes and returns it
	deadline := time.Now().Add(5 * time.Second)
	for !s[5].mu.TryLock() {
		if time.Now().After(deadline) {
			t.Fatal("the stripe stayed held after the caller gave up waiting")
		}
		time.Sleep(time.Millisecond)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	go func() {
		time.Sleep(10 * time.Millisecond)
		s.unlock(5)
	}()
	if err := s.lockCtx(ctx2, 5); err != nil {
		t.Fatalf("lockCtx of a stripe freed while it waits: %v", err)
	}
	s.unlock(5)
}
