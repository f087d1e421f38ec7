package alloc

import (
	"fmt"
	"testing"
)

func BenchmarkAllocFree(b *testing.B) {
	for _, n := range []int64{64, 192, 4096, 16 * kib} {
		b.Run(fmt.Sprintf("size=%d", n), func(b *testing.B) {
			a := New(4*mib, 64*kib, 64*mib)
			b.ReportAllocs()
			b.SetBytes(SizeOf(n))
			for b.Loop() {
				off, err := a.Alloc(n)
				if err != nil {
					b.Fatal(err)
				}
				a.Free(off, n)
			}
		})
	}
}

// BenchmarkAllocFreeChurn keeps 10,000 extents of 192 bytes live and replaces
// the oldest one per operation, so the free list is not a single hot extent.
func BenchmarkAllocFreeChurn(b *testing.B) {
	a := New(4*mib, 64*kib, 64*mib)
	const live = 10000
	ring := make([]int64, live)
	for i := range ring {
		ring[i], _ = a.Alloc(192)
	}
	b.ReportAllocs()
	b.SetBytes(192)
	i := 0
	for b.Loop() {
		a.Free(ring[i], 192)
		off, err := a.Alloc(192)
		if err != nil {
			b.Fatal(err)
		}
		ring[i] = off
		i = (i + 1) % live
	}
}

func BenchmarkAllocFreeParallel(b *testing.B) {
	a := New(4*mib, 64*kib, 256*mib)
	b.ReportAllocs()
	b.SetBytes(192)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			off, err := a.Alloc(192)
			if err != nil {
				b.Error(err)
				return
			}
			a.Free(off, 192)
		}
	})
}

// BenchmarkAllocRetireReclaim retires each extent at a new epoch and reclaims
// it eight epochs later, as readers pinning recent epochs would force.
func BenchmarkAllocRetireReclaim(b *testing.B) {
	a := New(4*mib, 64*kib, 64*mib)
	b.ReportAllocs()
	b.SetBytes(192)
	epoch := uint64(0)
	for b.Loop() {
		off, err := a.Alloc(192)
		if err != nil {
			b.Fatal(err)
		}
		epoch++
		a.Retire(off, 192, epoch)
		if epoch > 8 {
			a.Reclaim(epoch - 8)
		}
	}
}

// buildPool marks 1M extents of 192 bytes in a 256 MiB pool of 4 MiB chunks:
// back to back, with a 64..512-byte gap after every eighth, as a store that
// deleted some records leaves them.
func buildPool(b *Builder) {
	const chunk = 4 * mib
	off := int64(64 * kib)
	for i := 0; i < 1<<20; i++ {
		if off/chunk != (off+191)/chunk {
			off = (off/chunk + 1) * chunk
		}
		b.Use(off, 192)
		off += 192
		if i%8 == 7 {
			off += int64(1+i/8%8) * Unit
		}
	}
}

func BenchmarkBuild(b *testing.B) {
	const chunk, heap, pool = 4 * mib, 64 * kib, 256 * mib
	b.Run("use+build", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			bl := NewBuilder(chunk, heap, pool)
			buildPool(bl)
			bl.Build()
		}
	})
	b.Run("build", func(b *testing.B) {
		bl := NewBuilder(chunk, heap, pool)
		buildPool(bl)
		b.ReportAllocs()
		var a *Allocator
		for b.Loop() {
			a = bl.Build()
		}
		s := a.Stats()
		b.ReportMetric(float64(s.FreeExtents), "free-extents")
		if want := int64(1<<20) * 192; s.Used != want {
			b.Fatalf("Used %d, want %d", s.Used, want)
		}
	})
}
