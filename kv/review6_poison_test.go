package kv

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// TestCompactLeavesAnUnreadableRecord (a regression test from an adversarial review; it failed before the fix): a page of a record's value goes bad
// without the kernel listing it (an unknown bad block, daxmap.Map.Poison;
// Media.Bad is empty, so pinnedChunk does not protect the chunk). A Get of
// that key reports ErrCorrupt and the DB stays writable: a bad record is
// that key's problem. Compact, though, picks the sparse chunk, and
// relocate hands the record's value (a slice of the mapping) to putLocked
// AFTER allocating and taking a sequence number; codec.Write copies the
// value, faults on the poisoned page, and relocate's deferred failOnFault
// turns the read fault into a failure of the whole DB: every later write
// of every key returns ErrFailed. The background compactor does the same
// on its own, so an unread latent bad block in one cold value ends all
// writes at the next auto-compaction. Compact should read (and validate)
// the record under the guard before it writes anything, and leave an
// unreadable record where it is (or return an error) without failing the
// DB.
func TestCompactLeavesAnUnreadableRecord(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	opts := &Options{Size: 512 << 10, ChunkSize: 64 << 10, DAX: DAXEmulated, NoAutoCompact: true}
	db := openTest(t, path, opts)
	// Fill chunk 0 and beyond with small keys, then a big value, then thin
	// everything so that the big value's chunk is sparse.
	for i := 0; i < 400; i++ {
		mustPut(t, db, key(i), value(i, 0, 300))
	}
	// Big fillers (kept) until a big value lands outside chunk 0.
	for j := 2000; ; j++ {
		mustPut(t, db, key(j), value(j, 0, 20000))
		if it, _ := db.idx.lookup(key(j), hashKey(key(j))); it.off()/db.m.ChunkSize() != 0 {
			if err := db.Delete(key(j)); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	big := value(1000, 0, 20000)
	mustPut(t, db, key(1000), big)
	for i := 0; i < 400; i++ {
		if err := db.Delete(key(i)); err != nil {
			t.Fatal(err)
		}
	}
	it, _ := db.idx.lookup(key(1000), hashKey(key(1000)))
	chunk := db.m.ChunkSize()
	if it.off()/chunk == 0 {
		t.Skipf("big record landed in chunk 0 at %d", it.off())
	}
	page := (it.off() + 8192) / 4096 * 4096 // inside the value, off its first and last page
	if err := db.m.Poison(page); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get(key(1000)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get of the key on the bad page: %v, want ErrCorrupt", err)
	}
	mustPut(t, db, key(1), value(1, 1, 30)) // the DB is fine after a bad read
	res, cerr := db.CompactWithResult(context.Background())
	t.Logf("Compact: %+v, %v", res, cerr)
	if err := db.Put(key(2), value(2, 1, 30)); err != nil {
		t.Fatalf("after Compact met a bad block in a record it moves, every write fails: %v (Compact returned %v)", err, cerr)
	}
}
