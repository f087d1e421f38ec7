package kv

import (
	"errors"
	"path/filepath"
	"testing"
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
	opts := badMediaOpts(badPages(pages), pages)
	k := key(damaged[0])
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, k, value(damaged[0], 1, 50))
	db = reopen(t, db, path, opts)
	mustGet(t, db, k)
	if err := db.Delete(k); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after Delete, before reopen: %v", err)
	}
	db = reopen(t, db, path, opts)
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
	opts := badMediaOpts(badPages(pages), pages)
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
	db = reopen(t, db, path, opts)
	defer db.Close()
	if _, err := db.Get(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a damaged key, rewritten then deleted by a batch, came back after reopen: Get = %v, want ErrNotFound", err)
	}
}
