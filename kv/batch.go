package kv

import (
	"bytes"
	"runtime/debug"
	"slices"

	"github.com/daxkv/daxkv/internal/mutant"
	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/recovery"
)

// Batch collects puts and deletes applied together by DB.Apply: after a
// crash either all of them are visible or none. A Batch is not safe for
// concurrent use; it copies keys and values, so the caller may reuse its
// buffers after each call.
type Batch struct {
	ops []batchOp
}

type batchOp struct {
	key, value []byte
	del        bool
}

// NewBatch returns an empty batch for db.
func (db *DB) NewBatch() *Batch { return &Batch{} }

// Put adds key=value to the batch. An invalid key or value makes Apply fail
// without writing anything.
func (b *Batch) Put(key, value []byte) {
	b.ops = append(b.ops, batchOp{key: bytes.Clone(key), value: append(make([]byte, 0, len(value)), value...)})
}

// Delete adds the removal of key to the batch.
func (b *Batch) Delete(key []byte) {
	b.ops = append(b.ops, batchOp{key: bytes.Clone(key), del: true})
}

// Len is the number of operations added.
func (b *Batch) Len() int { return len(b.ops) }

// Reset empties the batch for reuse.
func (b *Batch) Reset() { b.ops = b.ops[:0] }

// normalize sorts the operations by key and keeps the last one of each key.
func (b *Batch) normalize() []batchOp {
	ops := slices.Clone(b.ops)
	slices.SortStableFunc(ops, func(x, y batchOp) int { return bytes.Compare(x.key, y.key) })
	out := ops[:0]
	for i := range ops {
		if i+1 < len(ops) && bytes.Equal(ops[i].key, ops[i+1].key) {
			continue
		}
		out = append(out, ops[i])
	}
	return out
}

// Apply applies every operation of b atomically: when it returns nil all of
// them are durable, and a crash at any instant leaves either all or none.
// Within the batch the last operation on a key wins. The protocol: lock the
// keys' stripes in ascending order; take one sequence number; write every
// record as pending (tombstones for deletes); flush; fence; write the commit
// entry into a log slot; fence (the commit point). Then settle: mark the
// records live and free the older versions; fence; then free the tombstones
// and clear the log slot (made durable by a later fence: the settled state
// is already correct without them). Recovery replays a committed batch whose
// records are still pending and frees an uncommitted one.
func (db *DB) Apply(b *Batch) (err error) {
	if db.readOnly {
		return ErrReadOnly
	}
	if b == nil || len(b.ops) == 0 {
		if db.closed.Load() {
			return ErrClosed
		}
		return nil
	}
	ops := b.normalize()
	for _, op := range ops {
		if err := db.checkKV(op.key, op.value); err != nil {
			return err
		}
	}
	hashes := make([]uint64, len(ops))
	idx := make([]int, len(ops))
	for i, op := range ops {
		hashes[i] = hashKey(op.key)
		idx[i] = stripeOf(hashes[i])
	}
	held := db.locks.lockSet(idx)
	defer db.locks.unlockSet(held)
	if err := db.writeErr(); err != nil {
		return err
	}
	defer db.m.Guard(debug.SetPanicOnFault(true), &err)

	slot := <-db.slots
	defer func() { db.slots <- slot }()

	offs := make([]int64, len(ops))
	sizes := make([]int64, len(ops))
	seq, err := db.nextSeq()
	if err != nil {
		return err
	}
	if mutant.On("batch-commit-first") {
		db.codec.WriteCommit(db.p, db.m.Bytes(), slot, seq, uint32(len(ops)))
	}
	undo := func(n int) {
		mem := db.m.Bytes()
		for i := 0; i < n; i++ {
			recovery.Free(db.p, mem[offs[i]:])
			db.al.Free(offs[i], sizes[i])
		}
	}
	for i, op := range ops {
		sizes[i] = recovery.RecordSize(len(op.key), len(op.value))
		off, err := db.allocate(sizes[i])
		if err != nil {
			undo(i)
			return err
		}
		offs[i] = off
		mem := db.m.Bytes() // after allocate: it may have grown the pool
		flags := uint16(recovery.FlagBatch)
		if op.del {
			flags |= recovery.FlagTombstone
		}
		db.codec.Write(db.p, mem[off:off+sizes[i]], off, recovery.TagPending, seq, flags, op.key, op.value)
	}
	db.at(seam.BatchWritten)
	if err := db.fence("batch-no-record-fence"); err != nil {
		return err // the DB has failed: the next Open decides from the media
	}
	db.at(seam.BatchDurable)
	mem := db.m.Bytes()
	if !mutant.On("batch-commit-first") {
		db.codec.WriteCommit(db.p, mem, slot, seq, uint32(len(ops)))
	}
	db.at(seam.BatchCommit)
	if err := db.fence("batch-no-commit-fence"); err != nil {
		// The commit may or may not be durable: the batch is not
		// acknowledged, and the next Open settles it either way. The DB
		// has failed, so nothing in memory can contradict that meanwhile.
		return err
	}
	db.at(seam.BatchCommitted)

	// Settle (a): puts live, older versions freed; one fence.
	olds := make([]item, len(ops))
	has := make([]bool, len(ops))
	for i, op := range ops {
		olds[i], has[i] = db.idx.get(op.key, hashes[i])
	}
	for i, op := range ops {
		if !op.del {
			recovery.SetTag(db.p, mem[offs[i]:], recovery.TagLive)
		}
		if has[i] {
			recovery.Free(db.p, mem[olds[i].off():])
		}
		if op.del && mutant.On("batch-tombstone-early") {
			recovery.Free(db.p, mem[offs[i]:])
		}
	}
	db.at(seam.BatchSettling)
	if err := db.fence("batch-no-settle-fence"); err != nil {
		return err
	}
	// The batch is durable and settled: publish it to readers at once.
	db.idx.mu.Lock()
	n := 0
	for i, op := range ops {
		switch {
		case !op.del:
			n = db.idx.putLocked(op.key, hashes[i], offs[i], olds[i], has[i])
		case has[i]:
			n = db.idx.delLocked(op.key, hashes[i], olds[i])
		}
	}
	db.idx.mu.Unlock()
	db.idx.queued(n)
	for i, op := range ops {
		if has[i] {
			db.retire(mem, olds[i].off())
		}
		if op.del {
			// Settle (b): the tombstone was never visible to readers.
			recovery.Free(db.p, mem[offs[i]:])
			db.al.Free(offs[i], sizes[i])
		}
	}
	db.at(seam.BatchSettled)
	recovery.ClearCommit(db.p, mem, slot)
	return nil
}
