package kv

import (
	"sync/atomic"

	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/mutant"
	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/recovery"
)

// The crash suite's mutation gate (package internal/mutant). With the
// "mutants" build tag, one named mutant at a time breaks one durability
// site of the write path, and the crash suite must catch every one. The
// write path has no branch for them: it passes named points (db.at, and
// atPut and atBatch where a reordering mutant needs the operation), and the
// active mutant acts there. mutantPersister drops the flushes, or the
// Drain, that follow a point; the reordering mutants do a store early.
// Without the tag mutant.Enabled is a constant false and all of this
// compiles away.

// mutantFlushes: flushes are dropped from the first point to the second.
var mutantFlushes = map[mutant.Name][2]seam.Point{
	mutant.PutNoFlush:    {seam.PutWrite, seam.PutWritten},
	mutant.FreeNoFlush:   {seam.PutDurable, seam.PutPublished},
	mutant.DeleteNoFlush: {seam.DeletePrefence, seam.DeleteFreed},
	// The records' flushes: the commit entry's are not dropped.
	mutant.BatchNoRecordFlush: {seam.BatchBegin, seam.BatchWritten},
}

// mutantFences: the Drain that follows the point is dropped.
var mutantFences = map[mutant.Name]seam.Point{
	mutant.PutNoFence:         seam.PutWritten,
	mutant.DeleteNoPrefence:   seam.DeletePrefence,
	mutant.DeleteNoFence:      seam.DeleteFreed,
	mutant.BatchNoCommitFence: seam.BatchCommit,
	mutant.BatchNoSettleFence: seam.BatchSettling,
	mutant.SuperblockNoFence:  seam.Superblock,
	mutant.SwitchNoDrain:      seam.Switch,
}

// mutantState is what the active mutant has armed, shared by every
// Persister of one DB (SwitchMode makes a new one). The crash suite runs one
// operation at a time.
type mutantState struct {
	dropFlushes atomic.Bool // drop every flush until cleared
	dropDrain   atomic.Bool // drop the next Drain
}

// mutantAt arms the active mutant at point p.
func (db *DB) mutantAt(p seam.Point) {
	for name, span := range mutantFlushes {
		if mutant.On(name) {
			switch p {
			case span[0]:
				db.mut.dropFlushes.Store(true)
			case span[1]:
				db.mut.dropFlushes.Store(false)
			}
		}
	}
	for name, at := range mutantFences {
		if mutant.On(name) && p == at {
			db.mut.dropDrain.Store(true)
		}
	}
}

// atPut is db.at for a point of Put that a reordering mutant needs the key
// at: put-free-early frees the key's old version before the new record is
// durable.
func (db *DB) atPut(p seam.Point, key []byte, h uint64) {
	db.at(p)
	if mutant.Enabled && p == seam.PutWritten && mutant.On(mutant.PutFreeEarly) {
		if old, ok := db.idx.lookup(key, h); ok {
			recovery.Free(db.p, db.m.Bytes()[old.off():])
		}
	}
}

// atBatch is db.at for a point of Apply that a reordering mutant needs the
// batch at: batch-commit-short rewrites the commit entry with one record
// fewer than the batch wrote, batch-tombstone-early frees the tombstones in
// the settling fence.
func (db *DB) atBatch(p seam.Point, a *applyState) {
	db.at(p)
	if !mutant.Enabled {
		return
	}
	mem := db.m.Bytes()
	switch {
	case p == seam.BatchCommit && mutant.On(mutant.BatchCommitShort):
		db.codec.WriteCommit(db.p, mem, a.slot, a.seq, uint32(len(a.cs)-1))
	case p == seam.BatchSettling && mutant.On(mutant.BatchTombstoneEarly):
		for _, c := range a.cs {
			if c.del {
				recovery.Free(db.p, mem[c.off:])
			}
		}
	}
}

// mutantPersister wraps the store's Persister in mutant builds and drops
// what the armed mutant says.
type mutantPersister struct {
	flush.Persister
	st *mutantState
}

func (p mutantPersister) Flush(b []byte) {
	if !p.st.dropFlushes.Load() {
		p.Persister.Flush(b)
	}
}

func (p mutantPersister) Copy(dst, src []byte) {
	if p.st.dropFlushes.Load() {
		copy(dst, src)
		return
	}
	p.Persister.Copy(dst, src)
}

func (p mutantPersister) Drain() error {
	if p.st.dropDrain.CompareAndSwap(true, false) {
		return nil
	}
	return p.Persister.Drain()
}

// Resized forwards to the wrapped Persister; grow-unsynced claims that a
// new file size was not made durable.
func (p mutantPersister) Resized(size int64, durable bool) {
	if r, ok := p.Persister.(flush.Resizer); ok {
		r.Resized(size, durable && !mutant.On(mutant.GrowUnsynced))
	}
}

// mutantNoHold reports whether held snapshots are to be ignored by the
// epoch (the mutant SnapshotNoHold).
func mutantNoHold() bool { return mutant.Enabled && mutant.On(mutant.SnapshotNoHold) }
