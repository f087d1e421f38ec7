package kv

import (
	"math/rand/v2"
	"slices"
	"testing"
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
