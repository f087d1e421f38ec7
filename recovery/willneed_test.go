package recovery

import (
	"slices"
	"sync"
	"testing"

	"github.com/daxkv/daxkv/daxmap"
)

// TestScanReadsItsChunksAhead: the scan asks WillNeed for every chunk once,
// the chunk ahead of the one each worker scans (its first as it starts),
// before it reads it, and never for a chunk wholly in a hole.
func TestScanReadsItsChunksAhead(t *testing.T) {
	const chunks = 9
	mem, sb := newPool(t, chunks)
	holes := []daxmap.Range{{Off: 5 * testChunk, Len: testChunk}, {Off: 7*testChunk + 4096, Len: 8192}}
	for _, workers := range []int{1, 2, 3} {
		var mu sync.Mutex
		var asked []int64
		scanned := 0
		sc := Scan{Workers: workers, Holes: holes,
			WillNeed: func(off, n int64) {
				mu.Lock()
				defer mu.Unlock()
				if n != testChunk || off%testChunk != 0 {
					t.Errorf("WillNeed(%d, %d): not a chunk", off, n)
				}
				asked = append(asked, off/testChunk)
			},
			Progress: func(done, total int) {
				mu.Lock()
				defer mu.Unlock()
				scanned = done
				// A worker asks for its chunk and the one after before it
				// reads the first: at most two a worker ahead of the scan.
				if len(asked) > done+2*workers {
					t.Errorf("%d workers: %d chunks asked for with %d scanned", workers, len(asked), done)
				}
			}}
		if _, err := Recover(mem, int64(len(mem)), &sb, nil, sc); err != nil {
			t.Fatal(err)
		}
		slices.Sort(asked)
		if want := []int64{0, 1, 2, 3, 4, 6, 7, 8}; !slices.Equal(asked, want) || scanned != chunks {
			t.Fatalf("%d workers: WillNeed asked for chunks %v (%d scanned), want %v: each once, not chunk 5 (a hole)", workers, asked, scanned, want)
		}
	}
}
