package kv

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/daxkv/daxkv/internal/seam"
)

// Regression tests for the defects found by reading the store to break it
// (concurrency, I/O errors, bad bytes). Each failed on the code before its
// fix.

// TestGetWhileGrowing: readers must read through a view of the mapping that
// covers every offset the index can hold. A Get that took the mapping's
// length before its index lookup could find the key's newest record in a
// chunk that a concurrent Put had just grown into, and slice past the stale
// length: a runtime panic that is not a memory fault, which killed the
// process. The reader is stalled at its lookup while the writer grows the
// pool and publishes the key in the new chunk.
func TestGetWhileGrowing(t *testing.T) {
	for _, mode := range []DAXMode{DAXEmulated, DAXOff} {
		t.Run(mode.String(), func(t *testing.T) {
			stalled, resume := make(chan struct{}), make(chan struct{})
			var once sync.Once
			opts := &Options{Size: 64 << 10, ChunkSize: 64 << 10, DAX: mode}
			opts.hooks = &seam.Hooks{At: func(p seam.Point) {
				if p == seam.ReadLookup {
					once.Do(func() { close(stalled); <-resume })
				}
			}}
			db := openTest(t, filepath.Join(shmDir(t), "pool"), opts)
			k := key(1)
			mustPut(t, db, k, value(1, 0, 20<<10))
			got := make(chan error, 1)
			go func() {
				v, err := db.Get(k)
				if err == nil {
					err = checkValue(1, v)
				}
				got <- err
			}()
			<-stalled
			size := db.Stats().PoolSize
			for n := 1; db.Stats().PoolSize == size; n++ {
				mustPut(t, db, k, value(1, n, 20<<10))
			}
			close(resume)
			if err := <-got; err != nil {
				t.Fatal(err)
			}
		})
	}
}
