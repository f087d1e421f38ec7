package flush

import (
	"bytes"
	"math"
	"testing"
)

// TestPrefetchIsOnlyAHint: a prefetch of every line of a buffer, of the
// offsets just past it and of an empty slice neither faults nor changes a
// byte.
func TestPrefetchIsOnlyAHint(t *testing.T) {
	mem := make([]byte, 4096+100)
	for i := range mem {
		mem[i] = byte(i * 7)
	}
	want := bytes.Clone(mem)
	for off := uint64(0); off < uint64(len(mem))+130; off += 13 {
		Prefetch(mem, off)
	}
	Prefetch(mem, math.MaxUint64)
	Prefetch(nil, 0)
	Prefetch(mem[:0], 0)
	if !bytes.Equal(mem, want) {
		t.Fatal("a prefetch changed memory")
	}
}

func BenchmarkPrefetch(b *testing.B) {
	mem := make([]byte, 64<<20)
	var off uint64
	for i := 0; i < b.N; i++ {
		Prefetch(mem, off)
		off = (off + 4160) & (64<<20 - 1)
	}
}
