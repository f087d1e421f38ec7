package kv

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/internal/seam"
)

// TestReview3DamagedPendingCommittedVanishes: a crash after a batch's commit
// point, before its records were settled, leaves a committed pending
// record; its value lies on a bad block. The first open takes it as the
// key's damaged winner (ErrCorrupt) but neither settles it (it stays
// pending) nor keeps the commit: it clears the log slot. At the next open
// the pending record's batch is no longer committed, so it loses: the key
// silently turns from ErrCorrupt into ErrNotFound without any write.
func TestReview3DamagedPendingCommittedVanishes(t *testing.T) {
	dir := shmDir(t)
	path := filepath.Join(dir, "pool")
	bk := []byte("batch-key")
	var img []byte
	opts := &Options{Size: 256 << 10, ChunkSize: 64 << 10, DAX: DAXEmulated}
	opts.hooks = &seam.Hooks{At: func(p seam.Point) {
		if p == seam.BatchCommitted && img == nil {
			var err error
			if img, err = os.ReadFile(path); err != nil {
				panic(err)
			}
		}
	}}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	b.Put(bk, value(1, 1, 5000))
	b.Put([]byte("other"), value(2, 1, 10))
	if err := db.Apply(b); err != nil {
		t.Fatal(err)
	}
	it, _ := db.idx.lookup(bk, hashKey(bk))
	off := it.off()
	db.Close()
	if img == nil {
		t.Fatal("no image")
	}
	crashed := filepath.Join(dir, "crashed")
	if err := os.WriteFile(crashed, img, 0o600); err != nil {
		t.Fatal(err)
	}
	bo := &Options{ChunkSize: 64 << 10, DAX: DAXEmulated}
	bo.hooks = &seam.Hooks{Media: func(m *daxmap.Media) { m.Bad = []daxmap.Range{{Off: off + 4096, Len: 512}} }}
	db, err = Open(crashed, bo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get(bk); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("first open after the crash: Get = %v, want ErrCorrupt", err)
	}
	t.Logf("first open: replayed %d, damaged %d", db.Stats().ReplayedBatches, db.Stats().DamagedKeys)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(crashed, bo)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Get(bk); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("second open, no write in between: Get = %v, want ErrCorrupt as at the first open (DamagedKeys=%d)", err, db.Stats().DamagedKeys)
	}
}
