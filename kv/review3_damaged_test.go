package kv

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/internal/seam"
)

// TestReview3DamagedPutThenDeleteResurrects: a damaged key is written anew
// (Put makes it whole), the pool is reopened, then the key is deleted.
// The damaged record was never freed (Put only forgets it in memory and
// recovery Reserves damaged losers), so after the next reopen it is the
// key's newest record again: a deleted key comes back as ErrCorrupt.
func TestReview3DamagedPutThenDeleteResurrects(t *testing.T) {
	dir := shmDir(t)
	path := filepath.Join(dir, "pool")
	pages, _, damaged, _ := mediaPool(t, path, 600)
	opts := &Options{ChunkSize: 64 << 10, DAX: DAXEmulated}
	opts.hooks = &seam.Hooks{
		Poison: pages,
		Media: func(m *daxmap.Media) {
			m.Bad = []daxmap.Range{{Off: pages[0], Len: 4096}, {Off: pages[1], Len: 4096}}
		},
	}
	k := key(damaged[0])
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, k, value(damaged[0], 1, 50))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, db, k)
	if err := db.Delete(k); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after Delete, before reopen: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Get(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a once-damaged key, rewritten and then deleted, came back after reopen: Get = %v, want ErrNotFound (DamagedKeys=%d)", err, db.Stats().DamagedKeys)
	}
}

// TestReview3DamagedBatchPutThenDeleteResurrects: same through Apply.
func TestReview3DamagedBatchPutThenDeleteResurrects(t *testing.T) {
	dir := shmDir(t)
	path := filepath.Join(dir, "pool")
	pages, _, damaged, _ := mediaPool(t, path, 600)
	opts := &Options{ChunkSize: 64 << 10, DAX: DAXEmulated}
	opts.hooks = &seam.Hooks{
		Poison: pages,
		Media: func(m *daxmap.Media) {
			m.Bad = []daxmap.Range{{Off: pages[0], Len: 4096}, {Off: pages[1], Len: 4096}}
		},
	}
	k := key(damaged[0])
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Put then Delete in the same session (no reopen in between).
	mustPut(t, db, k, value(damaged[0], 1, 50))
	b := new(Batch)
	b.Delete(k)
	if err := db.Apply(b); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Get(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a damaged key, rewritten then deleted by a batch, came back after reopen: Get = %v, want ErrNotFound", err)
	}
}
