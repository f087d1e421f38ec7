package alloc

import (
	"strings"
	"testing"
)

// TestCheckDetects breaks one invariant at a time behind the allocator's back
// and expects Check to name it.
func TestCheckDetects(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	for _, tc := range []struct {
		name   string
		break_ func(a *Allocator, x, l int64)
		want   string
	}{
		{"double free", func(a *Allocator, x, l int64) {
			a.Free(x, 192)
			a.pushSmall(x, 192)
			a.freeBytes += 192
		}, "overlaps"},
		{"free overlapping limbo", func(a *Allocator, x, l int64) {
			a.Retire(x, 192, 1)
			a.pushSmall(x+64, 64)
			a.freeBytes += 64
		}, "overlaps"},
		{"lost bytes", func(a *Allocator, x, l int64) { a.freeBytes -= 64 }, "accounted"},
		{"limbo mirror", func(a *Allocator, x, l int64) { a.limboMirror.Store(64) }, "mirror"},
		{"misaligned large", func(a *Allocator, x, l int64) {
			a.pushLarge(l+64, 2)
			a.freeBytes += 2 * Page
		}, "page-aligned"},
		{"crossing chunk", func(a *Allocator, x, l int64) {
			a.pushSmall(chunk-64, 128)
			a.freeBytes += 128
		}, "crosses a chunk"},
		{"in metadata", func(a *Allocator, x, l int64) {
			a.pushSmall(0, 64)
			a.freeBytes += 64
		}, "outside the heap"},
		{"small mask", func(a *Allocator, x, l int64) { a.smallMask |= 1 << 40 }, "small mask"},
		{"large mask", func(a *Allocator, x, l int64) { a.largeMask[0] |= 1 << 3 }, "large mask"},
		{"limbo order", func(a *Allocator, x, l int64) {
			a.Retire(x, 192, 5)
			a.Retire(l, 2*Page, 6)
			a.gens[len(a.gens)-1].epoch = 4
		}, "out of order"},
		{"region", func(a *Allocator, x, l int64) { a.sreg.cur, a.sreg.end = 64, 0 }, "malformed"},
		{"not a chunk", func(a *Allocator, x, l int64) {
			a.chunks = append(a.chunks, chunk+Page)
			a.freeBytes += chunk
		}, "not a whole heap chunk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := New(chunk, heap, 4*chunk)
			x := mustAlloc(t, a, 192)
			l := mustAlloc(t, a, 2*Page)
			if err := a.Check(); err != nil {
				t.Fatalf("Check before breaking: %v", err)
			}
			// One goroutine: the breakers touch the fields without the lock.
			tc.break_(a, x, l)
			err := a.Check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v, want an error about %q", err, tc.want)
			}
		})
	}
}
