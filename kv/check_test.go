package kv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/daxkv/daxkv/internal/seam"
)

// TestCheckOfACrashedPool: a pool left by a crash in the middle of a batch
// (committed, not settled) checks clean read-only, since what the crash left
// is for the next writable open to settle, and clean again after that open.
func TestCheckOfACrashedPool(t *testing.T) {
	dir := shmDir(t)
	path, crashed := filepath.Join(dir, "pool"), filepath.Join(dir, "crashed")
	opts := smallOpts(DAXEmulated)
	copied := false
	opts.hooks = &seam.Hooks{At: func(p seam.Point) {
		if p == seam.BatchCommitted && !copied {
			copied = true
			img, err := os.ReadFile(path) // the process-crash image
			if err == nil {
				err = os.WriteFile(crashed, img, 0o600)
			}
			if err != nil {
				t.Error(err)
			}
		}
	}}
	db := openTest(t, path, opts)
	for i := 0; i < 20; i++ {
		mustPut(t, db, key(i), value(i, 0, 50))
	}
	b := db.NewBatch()
	for i := 0; i < 10; i++ {
		b.Put(key(i), value(i, 1, 60))
	}
	b.Delete(key(15))
	if err := db.Apply(b); err != nil {
		t.Fatal(err)
	}
	ro := smallOpts(DAXEmulated)
	ro.ReadOnly = true
	rdb, err := Open(crashed, ro)
	if err != nil {
		t.Fatal(err)
	}
	if s := rdb.Stats(); s.Keys != 19 {
		t.Errorf("read-only open of the crashed pool: %d keys, want 19", s.Keys)
	}
	if err := rdb.Check(); err != nil {
		t.Errorf("read-only Check of a pool a crash left mid-batch: %v", err)
	}
	rdb.Close()
	wdb := openTest(t, crashed, smallOpts(DAXEmulated))
	if err := wdb.Check(); err != nil {
		t.Errorf("Check after the writable open settled it: %v", err)
	}
}
