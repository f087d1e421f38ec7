package kv

import (
	"bytes"
	"runtime/debug"
	"slices"

	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/recovery"
)

// Batch collects puts and deletes applied together by DB.Apply: after a
// crash either all of them are visible or none. A Batch is not safe for
// concurrent use; it copies keys and values, so the caller may reuse its
// buffers after each call.
type Batch struct {
	ops []batchEntry
	// data holds every key and value added, back to back: one buffer
	// rather than two allocations per operation, kept across Reset.
	data []byte
}

// batchEntry is an operation as added: its key and value as offsets into
// Batch.data.
type batchEntry struct {
	off     int // the key at data[off:off+keyLen], the value right after it
	keyLen  int
	valLen  int
	del     bool
	ordinal int // position in the batch: the later of two ops on a key wins
}

// batchOp is an operation ready to apply.
type batchOp struct {
	key, value []byte
	del        bool
}

// NewBatch returns an empty batch for db.
func (db *DB) NewBatch() *Batch { return &Batch{} }

// Put adds key=value to the batch. An invalid key or value makes Apply fail
// without writing anything.
func (b *Batch) Put(key, value []byte) {
	// The bytes first: when key or value are a mapping's bytes and a copy
	// faults (Repair reads a damaged pool), no operation is left pointing
	// at bytes the next Put would write.
	off := len(b.data)
	b.data = append(append(b.data, key...), value...)
	b.ops = append(b.ops, batchEntry{off: off, keyLen: len(key), valLen: len(value), ordinal: len(b.ops)})
}

// Delete adds the removal of key to the batch.
func (b *Batch) Delete(key []byte) {
	off := len(b.data)
	b.data = append(b.data, key...)
	b.ops = append(b.ops, batchEntry{off: off, keyLen: len(key), del: true, ordinal: len(b.ops)})
}

// Len is the number of operations added.
func (b *Batch) Len() int { return len(b.ops) }

// Reset empties the batch for reuse, keeping its buffers.
func (b *Batch) Reset() {
	b.ops = b.ops[:0]
	b.data = b.data[:0]
}

func (b *Batch) key(e *batchEntry) []byte { return b.data[e.off : e.off+e.keyLen : e.off+e.keyLen] }

// value returns a Put's value (nil for a Delete).
func (b *Batch) value(e *batchEntry) []byte {
	if e.del {
		return nil
	}
	vo := e.off + e.keyLen
	return b.data[vo : vo+e.valLen : vo+e.valLen]
}

// normalize appends to out the operations sorted by key, only the last one
// of each key kept. Its slices point into b.data: Apply is done with them
// before the caller can touch b again. Operations added in strictly
// ascending key order (a log's appends, a sorted load) are taken as they
// are, without a copy or a sort.
func (b *Batch) normalize(out []batchOp) []batchOp {
	es := b.ops
	sorted := true
	for i := 1; i < len(es) && sorted; i++ {
		sorted = bytes.Compare(b.key(&es[i-1]), b.key(&es[i])) < 0
	}
	if !sorted {
		es = slices.Clone(es)
		slices.SortFunc(es, func(x, y batchEntry) int {
			if c := bytes.Compare(b.key(&x), b.key(&y)); c != 0 {
				return c
			}
			return x.ordinal - y.ordinal
		})
	}
	for i := range es {
		e := &es[i]
		if !sorted && i+1 < len(es) && bytes.Equal(b.key(e), b.key(&es[i+1])) {
			continue
		}
		out = append(out, batchOp{key: b.key(e), value: b.value(e), del: e.del})
	}
	return out
}

// Apply applies every operation of b atomically: when it returns nil all of
// them are durable, and a crash at any instant leaves either all or none.
// Within the batch the last operation on a key wins. The protocol: lock the
// keys' stripes in ascending order; take one sequence number; write every
// record as pending (tombstones for deletes) and flush; write the commit
// entry (the sequence number and the count of records) into a log slot and
// flush; fence (the commit point: recovery counts a commit only when all
// its records are found, so the records need no fence of their own). Then
// settle: mark the
// records live and free the older versions; fence; then free the tombstones
// and clear the log slot (made durable by a later fence: the settled state
// is already correct without them). Recovery replays a committed batch whose
// records are still pending and frees an uncommitted one.
func (db *DB) Apply(b *Batch) error {
	err := db.apply(b)
	if err == nil && b != nil {
		db.yieldTurn(uint64(len(b.ops)))
	}
	return err
}

func (db *DB) apply(b *Batch) (err error) {
	if db.readOnly {
		return ErrReadOnly
	}
	if b == nil || len(b.ops) == 0 {
		if db.closed.Load() {
			return ErrClosed
		}
		return nil
	}
	a, err := db.newApply(b)
	if err != nil {
		return err
	}
	defer db.putApply(a)
	held := db.locks.lockSet(a.stripes)
	defer func() {
		db.at(seam.KeyUnlock) // see unlockKey
		db.locks.unlockSet(held)
	}()
	if err := db.writeErr(); err != nil {
		return err
	}
	defer db.failOnFault(&err)
	defer db.m.Guard(debug.SetPanicOnFault(true), &err)
	a.slot = <-db.slots
	defer func() { db.slots <- a.slot }()
	if a.seq, err = db.nextSeq(); err != nil {
		return err
	}
	db.atBatch(seam.BatchBegin, a)
	if err := db.writePending(a); err != nil {
		return err
	}
	db.at(seam.BatchWritten)
	mem := db.m.Bytes()
	db.codec.WriteCommit(db.p, mem, a.slot, a.seq, uint32(len(a.cs)))
	db.atBatch(seam.BatchCommit, a)
	if err := db.fence(); err != nil {
		// The commit may or may not be durable: the batch is not
		// acknowledged, and the next Open settles it either way. The DB
		// has failed, so nothing in memory can contradict that meanwhile.
		return err
	}
	db.at(seam.BatchCommitted)

	// Settle (a): puts live, older versions freed; one fence.
	db.idx.touch(a.cs[:min(len(a.cs), touchAhead)])
	for i := range a.cs {
		if j := i + touchAhead; j < len(a.cs) {
			db.idx.touch(a.cs[j : j+1])
		}
		c := &a.cs[i]
		c.old, c.had = db.idx.lookup(c.key, c.h)
		c.skip = c.del && !c.had
		if !c.del {
			recovery.SetTag(db.p, mem[c.off:], recovery.TagLive)
		}
		if c.had {
			recovery.Free(db.p, mem[c.old.off():])
		}
		if off, bad := db.damaged.lookup(c.key); bad {
			recovery.Free(db.p, mem[off:]) // else it could win again at a later open
		}
	}
	db.atBatch(seam.BatchSettling, a)
	if err := db.fence(); err != nil {
		return err
	}
	if err := db.failedErr(); err != nil {
		return err
	}
	// The batch is durable and settled: publish it to readers at once.
	db.idx.apply(a.cs)
	for _, c := range a.cs {
		db.damaged.forget(c.key)
	}
	for i, c := range a.cs {
		if c.had {
			db.retire(mem, c.old.off())
		}
		if c.del {
			// Settle (b): the tombstone was never visible to readers.
			recovery.Free(db.p, mem[c.off:])
			db.al.Free(c.off, a.sizes[i])
		}
	}
	db.at(seam.BatchSettled)
	recovery.ClearCommit(db.p, mem, a.slot)
	return nil
}

// touchAhead is how many keys ahead of its lookups a batch's settle
// touches their hash slots (index.touch): enough for the cache misses of
// the slots to overlap, few enough that the lines are still cached when
// their lookups come.
const touchAhead = 16

// applyState is one Apply in flight: its changes in key order (one per
// key), their record sizes and the stripes they need, its log slot and
// its sequence number.
type applyState struct {
	ops     []batchOp // the batch, normalized
	cs      []change
	values  [][]byte
	sizes   []int64
	stripes []int
	slot    int
	seq     uint64
}

// newApply validates b's operations and prepares their changes, before any
// lock is taken. The state comes from db.applies, and goes back there
// (putApply) when Apply is done with it.
func (db *DB) newApply(b *Batch) (*applyState, error) {
	// Every operation is checked, also those a later one on the same key
	// overrides: an invalid one fails the batch, as Put says.
	for i := range b.ops {
		e := &b.ops[i]
		if err := db.checkKV(b.key(e), b.value(e)); err != nil {
			return nil, err
		}
	}
	a, _ := db.applies.Get().(*applyState)
	if a == nil {
		a = new(applyState)
	}
	a.ops = b.normalize(a.ops[:0])
	n := len(a.ops)
	a.cs = slices.Grow(a.cs[:0], n)[:n]
	a.values = slices.Grow(a.values[:0], n)[:n]
	a.sizes = slices.Grow(a.sizes[:0], n)[:n]
	a.stripes = slices.Grow(a.stripes[:0], n)[:n]
	for i, op := range a.ops {
		h := hashKey(op.key)
		a.cs[i] = change{key: op.key, h: h, del: op.del}
		a.values[i] = op.value
		a.sizes[i] = recovery.RecordSize(len(op.key), len(op.value))
		a.stripes[i] = stripeOf(h)
	}
	return a, nil
}

// putApply gives a's slices back for the next Apply, holding no key or
// value of the batch (they point into its buffer). A state grown for a
// very large batch is dropped instead, so that one such batch does not
// keep its size for good.
func (db *DB) putApply(a *applyState) {
	if cap(a.cs) > maxPooledApply {
		return
	}
	clear(a.ops[:cap(a.ops)])
	clear(a.cs[:cap(a.cs)])
	clear(a.values[:cap(a.values)])
	*a = applyState{ops: a.ops[:0], cs: a.cs[:0], values: a.values[:0], sizes: a.sizes[:0], stripes: a.stripes[:0]}
	db.applies.Put(a)
}

// maxPooledApply bounds the operations of an applyState kept for reuse.
const maxPooledApply = 4096

// writePending allocates and writes every record of a as pending
// (tombstones for deletes), flushed but not fenced. When an allocation
// fails, the extents taken so far are given back and nothing is left.
//
// Every extent is allocated before the first record is written: an
// allocation takes the allocator's lock, a locked instruction, which on
// x86 waits for the non-temporal stores before it to drain. Interleaved,
// each record's copy waited for the one before it; in two loops the copies
// stream back to back until the batch's fence. (In a profile of batches of
// 64 records of 256 bytes the allocator's lock fell from a fifth of Apply
// to a twentieth, but the batches were not measurably faster: the wait
// moved to the fence.)
func (db *DB) writePending(a *applyState) error {
	for i := range a.cs {
		off, err := db.allocate(a.sizes[i], false)
		if err != nil {
			for j := 0; j < i; j++ {
				db.al.Free(a.cs[j].off, a.sizes[j])
			}
			return err
		}
		a.cs[i].off = off
	}
	mem := db.m.Bytes() // after every allocate: one may have grown the pool
	for i := range a.cs {
		c := &a.cs[i]
		flags := uint16(recovery.FlagBatch)
		if c.del {
			flags |= recovery.FlagTombstone
		}
		db.codec.Write(db.p, mem[c.off:c.off+a.sizes[i]], c.off, recovery.TagPending, a.seq, flags, c.key, a.values[i])
	}
	return nil
}
