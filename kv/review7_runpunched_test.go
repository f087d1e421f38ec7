package kv

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// Punched chunks go to the bottom of the free-chunk stack, so that they
// are given blocks again only after the free chunks that still have them;
// a run follows the same order (it took the lowest free chunks, just
// punched ones included, while free chunks with blocks waited).
func TestRunReusesPunchedChunksLast(t *testing.T) {
	const chunk = 64 << 10
	path := filepath.Join(shmDir(t), "p.pool")
	opts := smallOpts(DAXEmulated)
	opts.NoAutoCompact = true
	db := openTest(t, path, opts)
	for i := range 10 {
		mustPut(t, db, []byte(fmt.Sprintf("r%02d", i)), runValue(i, 0, chunk+100))
	}
	// The five lowest runs go and are punched.
	for i := range 5 {
		if err := db.Delete([]byte(fmt.Sprintf("r%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	res, err := db.CompactWithResult(context.Background())
	if err != nil || res.Punched == 0 {
		t.Fatalf("Compact: %+v, %v", res, err)
	}
	// The other five go too, but keep their blocks.
	for i := 5; i < 10; i++ {
		if err := db.Delete([]byte(fmt.Sprintf("r%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	db.reclaimAll()
	before := db.Stats().AllocatedBytes
	mustPut(t, db, []byte("new"), runValue(99, 0, chunk+100))
	after := db.Stats().AllocatedBytes
	if after > before {
		t.Fatalf("a two-chunk run took %d bytes of new blocks (allocated %d -> %d) while %d bytes of free chunks still had theirs",
			after-before, before, after, 10*chunk)
	}
}
