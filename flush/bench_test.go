package flush

import (
	"strconv"
	"testing"
)

var benchSizes = []int{64, 128, 4096, 65536}

// The benchmarks run on a tmpfs mapping where there is one: without
// persistent memory, they measure the instructions, not the media.

// BenchmarkFlushDrain stores size bytes, writes their lines back and fences,
// per usable method: the cost of making a small record durable.
func BenchmarkFlushDrain(b *testing.B) {
	region, _ := mapFile(b, 2*65536)
	src := make([]byte, 65536)
	fill(src, 1)
	for _, m := range usableMethods() {
		for _, size := range benchSizes {
			b.Run(m.String()+"/"+strconv.Itoa(size), func(b *testing.B) {
				p := NewCPU(m)
				dst := region[:size]
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					copy(dst, src)
					p.Flush(dst)
					if err := p.Drain(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkCopy compares Copy (non-temporal stores from NTThreshold bytes on,
// where the architecture has them) with a plain copy followed by Flush, each
// with its Drain, using the best usable method.
func BenchmarkCopy(b *testing.B) {
	ms := usableMethods()
	if len(ms) == 0 {
		b.Skip("no CPU flush method usable")
	}
	m := ms[len(ms)-1]
	region, _ := mapFile(b, 2*65536)
	src := make([]byte, 65536)
	fill(src, 1)
	p := NewCPU(m)
	for _, size := range benchSizes {
		dst := region[:size]
		b.Run("nt/"+strconv.Itoa(size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				p.Copy(dst, src)
				if err := p.Drain(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("plain/"+strconv.Itoa(size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				copy(dst, src)
				p.Flush(dst)
				if err := p.Drain(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMsyncFlushDrain stores size bytes into one page-aligned range,
// marks it and msyncs it: the page-cache path's cost per durable write.
func BenchmarkMsyncFlushDrain(b *testing.B) {
	region, _ := mapFile(b, 2*65536)
	src := make([]byte, 65536)
	fill(src, 1)
	p := NewMsync(region)
	for _, size := range benchSizes {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			dst := region[:size]
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				copy(dst, src)
				p.Flush(dst)
				if err := p.Drain(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMsyncParallel has every goroutine store to its own page, flush it
// and Drain, so that concurrent Drains share msync passes.
func BenchmarkMsyncParallel(b *testing.B) {
	region, _ := mapFile(b, 64*4096)
	p := NewMsync(region)
	var next int
	var mu = make(chan struct{}, 1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		mu <- struct{}{}
		pg := next % 64
		next++
		<-mu
		page := region[pg*4096 : pg*4096+128]
		for pb.Next() {
			page[0]++
			p.Flush(page)
			if err := p.Drain(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
