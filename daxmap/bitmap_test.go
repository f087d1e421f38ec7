package daxmap

import (
	"sync"
	"testing"
)

func TestBitmap(t *testing.T) {
	const n = 3*leafBits + 5
	b := newBitmap(n)
	if len(b.leaves) != 4 {
		t.Fatalf("%d leaves for %d bits, want 4", len(b.leaves), n)
	}
	idx := []int64{0, 1, 63, 64, leafBits - 1, leafBits, 2*leafBits + 77, n - 1}
	for _, i := range idx {
		b.set(i)
	}
	want := map[int64]bool{}
	for _, i := range idx {
		want[i] = true
	}
	for i := range int64(n) {
		if b.get(i) != want[i] {
			t.Fatalf("get(%d) = %v, want %v", i, b.get(i), want[i])
		}
	}
	b.clear(64)
	b.clear(leafBits + 3) // in an allocated leaf, never set
	if b.get(64) || !b.get(63) || !b.get(0) {
		t.Error("clear touched the wrong bits")
	}
}

func TestBitmapConcurrentSet(t *testing.T) {
	b := newBitmap(leafBits)
	var wg sync.WaitGroup
	for g := range int64(8) {
		wg.Go(func() {
			for i := g; i < leafBits; i += 8 {
				b.set(i)
			}
		})
	}
	wg.Wait()
	for i := range int64(leafBits) {
		if !b.get(i) {
			t.Fatalf("bit %d lost to a concurrent set", i)
		}
	}
}
