package kv

import (
	"context"
	"path/filepath"
	"testing"
)

// TestCompactPunchesChunksEmptiedByDeletes (a regression test from an adversarial review; it failed before the fix): every key is deleted, so every
// heap chunk holds nothing (used 0), but Compact gives (almost) nothing
// back. Its two sources of chunks miss them: FreeChunks lists only the
// allocator's stack of WHOLE free chunks (a chunk whose records were
// deleted one by one sits as fragments on the free lists until a merge,
// which only an ErrFull or a due periodic merge triggers), and Sparse
// requires used > 0 ("hold at least one byte"). A chunk emptied by deletes
// is therefore neither free nor sparse to Compact, and its blocks stay in
// the file for good: the more completely the application empties a chunk,
// the less Compact can give it back.
func TestCompactPunchesChunksEmptiedByDeletes(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	opts := &Options{ChunkSize: 64 << 10, Size: 256 << 10, DAX: DAXEmulated, NoAutoCompact: true}
	db := openTest(t, path, opts)
	const n, size = 6000, 500
	for i := 0; i < n; i++ {
		mustPut(t, db, key(i), value(i, 1, size))
	}
	for i := 0; i < n; i++ {
		if err := db.Delete(key(i)); err != nil {
			t.Fatal(err)
		}
	}
	// One key keeps the pool from being trivially empty.
	mustPut(t, db, key(0), value(0, 1, size))
	peak := db.Stats().AllocatedBytes
	res, err := db.CompactWithResult(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st := db.Stats()
	t.Logf("peak %d KiB allocated, after Compact %d KiB (%+v); pool %d KiB", peak>>10, st.AllocatedBytes>>10, res, st.FileSize>>10)
	if st.AllocatedBytes > peak/4 {
		t.Fatalf("every key but one deleted, yet after Compact the file still occupies %d of its peak %d bytes (%d chunks punched)",
			st.AllocatedBytes, peak, res.Punched)
	}
}
