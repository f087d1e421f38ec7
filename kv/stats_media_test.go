package kv

import (
	"path/filepath"
	"testing"
)

// TestReadOnlyStatsOnBadMedia: on a pool with bad blocks, a read-only
// handle's Used/Free should agree with the writable open's allocator (which
// reserves the bad ranges and damaged extents: never free).
func TestReadOnlyStatsOnBadMedia(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	pages, _, damaged, _ := mediaPool(t, path, 600)
	opts := badMediaOpts(badPages(pages), nil)
	ro := *opts
	ro.ReadOnly = true
	rdb := openTest(t, path, &ro) // read-only first: the pool as it is
	r := rdb.Stats()
	rdb.Close()
	db := openTest(t, path, opts)
	w := db.Stats()
	t.Logf("damaged keys %d (writable %d, read-only %d); bad bytes %d", len(damaged), w.DamagedKeys, r.DamagedKeys, w.BadBytes)
	t.Logf("writable  used %d free %d limbo %d", w.Used, w.Free, w.Limbo)
	t.Logf("read-only used %d free %d limbo %d", r.Used, r.Free, r.Limbo)
	if r.Used != w.Used || r.Free != w.Free {
		t.Fatalf("read-only Stats disagree with the writable open on a pool with bad blocks: used %d vs %d, free %d vs %d (read-only counts %d bad/damaged bytes as free)",
			r.Used, w.Used, r.Free, w.Free, r.Free-w.Free)
	}
}
