package kv

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/daxkv/daxkv/internal/invariants"
	"github.com/daxkv/daxkv/internal/seam"
)

// TestCompactReadsKeysUnderAPin (a regression test from an adversarial review; it failed before the fix): moveOut collects the refs of the
// records in the chunks being emptied from one clone of the index, then
// reads each one's key (keyAt) much later, one relocate after another,
// with no pin held across the pass. keyAt's comment says "the record
// cannot be reused meanwhile", but it can be deleted and reclaimed
// meanwhile: a Delete of a key whose record is further down the list
// retires it, and any writer's periodic reclaim (or Compact's own
// reclaimAll) moves it out of limbo into the chunk's held space. keyAt then
// reads free space through a pin taken after the reclaim, which the epoch
// protocol does not cover. In invariants builds (-tags invariants, or
// -race) reclaimed extents are poisoned (0xDB): the key length no longer
// matches the ref, recordAt returns "record header does not match the
// index", and Compact fails with a spurious ErrCorrupt although the pool is
// sound. (In a plain build the stale bytes happen to be intact, so the
// defect is silent; the read is of freed memory all the same.)
//
// Interleaving, forced with the seam.Move point: Compact clones the index
// (refs of k_a < ... < k_z in the victim chunks), relocates k_a; at its
// Move point the test deletes k_z (another stripe) and reclaims twice (no
// reader pinned: the epoch passes the retirement); keyAt(ref of k_z) then
// reads the poisoned extent.
func TestCompactReadsKeysUnderAPin(t *testing.T) {
	if !invariants.Enabled {
		t.Skip("needs -tags invariants (or -race): reclaimed extents are poisoned only there")
	}
	path := filepath.Join(shmDir(t), "pool")
	opts := &Options{ChunkSize: 64 << 10, Size: 256 << 10, DAX: DAXEmulated, NoAutoCompact: true}
	var db *DB
	var fired atomic.Bool
	var deleted atomic.Int64
	deleted.Store(-1)
	opts.hooks = &seam.Hooks{At: func(p seam.Point) {
		if p != seam.Move || fired.Swap(true) {
			return
		}
		// The record being moved now is the first in key order among the
		// victims; delete the last one in key order (not yet moved).
		evac := db.al.EvacuatingChunks()
		chunk := db.m.ChunkSize()
		var inEvac []int
		for i := 0; i < 3000; i++ {
			it, ok := db.idx.lookup(key(i), hashKey(key(i)))
			if ok {
				if _, found := slices.BinarySearch(evac, it.off()/chunk); found {
					inEvac = append(inEvac, i)
				}
			}
		}
		if len(inEvac) < 3 {
			return
		}
		first := inEvac[0]
		for j := len(inEvac) - 1; j > 0; j-- {
			v := inEvac[j]
			if stripeOf(hashKey(key(v))) == stripeOf(hashKey(key(first))) {
				continue // relocate holds first's stripe
			}
			if err := db.Delete(key(v)); err != nil {
				t.Errorf("Delete: %v", err)
				return
			}
			deleted.Store(int64(v))
			db.reclaimAll()
			return
		}
	}}
	db = openTest(t, path, opts)
	const n, size = 3000, 500
	fillAndThin(t, db, n, size, 10)
	_, err := db.CompactWithResult(context.Background())
	if deleted.Load() < 0 {
		t.Skip("the interleaving was not reached")
	}
	if err != nil {
		t.Fatalf("Compact, with a key of a victim chunk deleted while it ran (key %d): %v (corrupt: %v)",
			deleted.Load(), err, errors.Is(err, ErrCorrupt))
	}
}
