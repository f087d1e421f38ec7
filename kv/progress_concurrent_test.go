package kv

import (
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Regression (review): Options.Progress documents "one call at a time" (so a callback
// need not lock), but Backup reports from the caller's goroutine with no
// serialization against other operations of the same DB. Two Backups (or a
// Backup and a Verify) running at once, which the API allows (Backup does
// not block anyone), call Progress concurrently; and since both say Op
// "backup", with no way to tell them apart, a consumer sees their Done
// values interleaved as if one op.
func TestProgressConcurrentBackups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pool")
	var inside, overlaps atomic.Int32
	o := smallOpts(DAXOff)
	o.Progress = func(p Progress) {
		if inside.Add(1) > 1 {
			overlaps.Add(1)
		}
		time.Sleep(20 * time.Millisecond)
		inside.Add(-1)
	}
	db := openTest(t, path, o)
	val := make([]byte, 100)
	for i := range 5000 {
		if err := db.Put(fmt.Appendf(nil, "key-%05d", i), val); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := db.Backup(io.Discard); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := overlaps.Load(); n > 0 {
		t.Errorf("%d Progress calls overlapped another (documented: one call at a time)", n)
	}
}
