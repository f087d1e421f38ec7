package kv

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"

	"github.com/daxkv/daxkv/alloc"
	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/recovery"
)

// checkKV validates a key and value before any byte is written.
func (db *DB) checkKV(key, value []byte) error {
	switch {
	case len(key) == 0:
		return ErrKeyRequired
	case len(key) > MaxKeySize:
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrKeyTooLarge, len(key), MaxKeySize)
	case len(value) > db.maxValue:
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrValueTooLarge, len(value), db.maxValue)
	}
	return nil
}

// unlockKey releases stripe s at the end of a write. The named point just
// before it is where the design claims a writer's flushes are ordered for
// the next writer of the key on another core (docs/DESIGN-NOTES.md): the
// crash suite's per-thread model makes them durable there.
func (db *DB) unlockKey(s int) {
	db.at(seam.KeyUnlock)
	db.locks.unlock(s)
}

// writeErr returns the error a write must return now: ErrClosed after
// Close, an error wrapping ErrFailed after a failed write, else nil. Writers
// call it with their stripes held, so that Close (which takes every stripe)
// and a failure recorded under a stripe are seen.
func (db *DB) writeErr() error {
	if db.closed.Load() {
		return ErrClosed
	}
	return db.failedErr()
}

// lockKey validates a write of key (and value), then takes the key's
// stripe; the caller unlocks stripe s. It returns the key's hash.
func (db *DB) lockKey(key, value []byte) (h uint64, s int, err error) {
	if db.readOnly {
		return 0, 0, ErrReadOnly
	}
	if err := db.checkKV(key, value); err != nil {
		return 0, 0, err
	}
	h = hashKey(key)
	s = stripeOf(h)
	db.locks.lock(s)
	if err := db.writeErr(); err != nil {
		db.locks.unlock(s)
		return 0, 0, err
	}
	return h, s, nil
}

// Put stores value under key. When it returns nil the pair is durable: a
// crash at any later instant keeps it (or a later write of the key). The
// protocol is: lock the key's stripe, allocate an extent, take the next
// sequence number, write header, key and value, flush them, one fence; the
// record is then durable and self-validating. Only then is the index
// updated and the older version freed (one 8-byte store and a flush, made
// durable by the next fence: until then the higher sequence number wins).
func (db *DB) Put(key, value []byte) error {
	err := db.put(key, value)
	if err == nil {
		db.yieldTurn(1)
	}
	return err
}

func (db *DB) put(key, value []byte) (err error) {
	h, s, err := db.lockKey(key, value)
	if err != nil {
		return err
	}
	defer db.unlockKey(s)
	defer db.failOnFault(&err)
	defer db.m.Guard(debug.SetPanicOnFault(true), &err)
	return db.putLocked(key, h, value, false)
}

// putLocked is Put's protocol for key (of hash h), with the key's stripe
// held and the fault guard set by the caller. dense places the record as
// a compaction's move wants it (alloc.AllocDense).
func (db *DB) putLocked(key []byte, h uint64, value []byte, dense bool) error {
	size := recovery.RecordSize(len(key), len(value))
	off, err := db.allocate(size, dense)
	if err != nil {
		return err
	}
	mem := db.m.Bytes() // after allocate: it may have grown the pool
	seq, err := db.nextSeq()
	if err != nil {
		return err
	}
	db.at(seam.PutWrite)
	if db.writeRecords && size <= maxWrittenRecord {
		if err := db.writeRecord(mem, off, size, seq, key, value); err != nil {
			return err
		}
	} else {
		db.codec.Write(db.p, mem[off:off+size], off, recovery.TagLive, seq, 0, key, value)
	}
	db.atPut(seam.PutWritten, key, h)
	if err := db.fence(); err != nil {
		// Not acknowledged: the record may or may not survive a crash, and
		// either is allowed. The DB has failed; the index keeps the old
		// version until the next Open decides from the media.
		return err
	}
	if err := db.failedErr(); err != nil {
		return err // another writer's failure: nothing in memory changes now
	}
	db.at(seam.PutDurable)
	if old, had := db.idx.replace(key, h, off); had {
		db.release(mem, old.off())
	}
	if doff, bad := db.damaged.lookup(key); bad {
		// Freed like an older version (lazily: the new record outranks
		// it meanwhile), so that a later Delete does not uncover it; its
		// extent, on a bad block, is never reused.
		recovery.Free(db.p, mem[doff:])
		db.damaged.forget(key)
	}
	db.at(seam.PutPublished)
	return nil
}

// Delete removes key. Deleting an absent key is not an error. When it
// returns nil the delete is durable: the key never comes back after a
// crash, nor does any older version of it. It costs two fences: one for the
// older versions' frees still in flight, one for its own.
func (db *DB) Delete(key []byte) error {
	err := db.delete(key)
	if err == nil {
		db.yieldTurn(1)
	}
	return err
}

func (db *DB) delete(key []byte) (err error) {
	h, s, err := db.lockKey(key, nil)
	if err != nil {
		return err
	}
	defer db.unlockKey(s)
	defer db.failOnFault(&err)
	defer db.m.Guard(debug.SetPanicOnFault(true), &err)
	mem := db.m.Bytes()
	it, ok := db.idx.lookup(key, h)
	if !ok {
		return db.deleteDamaged(mem, key)
	}
	// First make every earlier lazy free durable, the key's older versions
	// among them: otherwise a crash could keep this free and lose theirs,
	// and an older version would come back in place of the deleted one.
	db.at(seam.DeletePrefence)
	if err := db.fence(); err != nil {
		return err
	}
	recovery.Free(db.p, mem[it.off():])
	db.at(seam.DeleteFreed)
	if err := db.fence(); err != nil {
		return err
	}
	if err := db.failedErr(); err != nil {
		return err
	}
	db.at(seam.DeleteDurable)
	db.idx.remove(key, h, it)
	db.retire(mem, it.off())
	return nil
}

// fence drains db.p: everything flushed so far becomes durable. A failed
// drain fails the DB (fail.go).
func (db *DB) fence() error {
	if err := db.p.Drain(); err != nil {
		return db.fail(err)
	}
	return nil
}

// deleteDamaged deletes key when its newest record lies on a bad block: its
// readable state word is zeroed and fenced, so that the next open does not
// find it again. Deleting an absent key does nothing.
func (db *DB) deleteDamaged(mem []byte, key []byte) error {
	off, ok := db.damaged.lookup(key)
	if !ok {
		return nil
	}
	recovery.Free(db.p, mem[off:])
	if err := db.fence(); err != nil {
		return err
	}
	db.damaged.forget(key)
	return nil
}

// release frees the superseded record at off: its state word is zeroed and
// flushed, and its extent waits in limbo. No fence: until the free is
// durable the newer record wins by its higher sequence number, and the
// next operation's first fence covers it (Delete fences before it frees,
// see there). Across cores the flush is ordered too: on amd64 the stripe's
// unlock is a LOCK-prefixed instruction, which the Intel SDM lists among
// the store-fencing operations that order CLWB/CLFLUSHOPT; on arm64 every
// flush loop ends in its own DSB; the msync path's dirty set is shared.
func (db *DB) release(mem []byte, off int64) {
	recovery.Free(db.p, mem[off:])
	db.retire(mem, off)
}

// retire hands the extent of the (already freed) record at off to limbo,
// tagged with the current epoch, and now and then tries to reclaim limbo.
func (db *DB) retire(mem []byte, off int64) {
	h, ok := recovery.ReadHeader(mem, off)
	if !ok {
		panic("daxkv: assertion failed: retiring a record whose header is out of bounds")
	}
	if onBadBlock(db.media.Bad, off, db.al.SizeOf(h.Size())) {
		// A bad block in the extent's slack (past the record's bytes, so
		// the record was read whole): the extent stays out of the
		// allocator, as a damaged record's does, until the next open
		// reserves the bad block alone.
		return
	}
	db.al.Retire(off, h.Size(), db.ep.cur.Load())
	if db.retired.Add(1)%256 == 0 {
		db.reclaim()
	}
}

// reclaim advances the reader epoch when it can and returns the extents no
// reader can see any more to the free lists. It reports whether anything
// was reclaimed.
func (db *DB) reclaim() bool {
	safe, ok := db.ep.tryAdvance()
	if !ok {
		return false
	}
	return db.al.Reclaim(safe) > 0
}

// allocate returns a backed extent of size bytes, reclaiming limbo and
// growing the pool when the free space runs out. dense takes it from whole
// free chunks only (alloc.AllocDense), for a compaction's moves.
func (db *DB) allocate(size int64, dense bool) (int64, error) {
	take := db.al.Alloc
	if dense {
		take = db.al.AllocDense
	}
retry:
	for tries := 0; ; tries++ {
		off, err := take(size)
		if err == nil {
			db.notePrepare()
			// Every chunk of the extent: one, or a run's.
			chunk := db.m.ChunkSize()
			for c := off / chunk; c <= (off+db.al.SizeOf(size)-1)/chunk; c++ {
				if !db.m.Backed(c) {
					db.at(seam.FaultIn)
				}
				if err := db.m.Fault(c); err != nil {
					db.al.Free(off, size)
					// A full filesystem: what readers no longer hold
					// may fit in chunks that have their blocks.
					if errors.Is(err, ErrNoSpace) && tries < 2 && db.al.LimboBytes() > 0 {
						db.reclaim()
						continue retry
					}
					return 0, err
				}
			}
			return off, nil
		}
		if errors.Is(err, alloc.ErrTooLarge) {
			return 0, fmt.Errorf("%w: record of %d bytes", ErrValueTooLarge, size)
		}
		if !errors.Is(err, alloc.ErrFull) {
			return 0, err
		}
		// Limbo first: two advances reclaim everything no reader holds.
		if tries < 2 && db.al.LimboBytes() > 0 {
			db.reclaim()
			continue
		}
		if err := db.grow(size); err != nil {
			return 0, err
		}
	}
}

// grow extends the pool by a quarter of its size (at least one chunk and at
// least size bytes), unless another writer already grew it.
func (db *DB) grow(size int64) error {
	return db.growFrom(db.m.Size(), size, true)
}

// growAhead is grow for the chunk preparer: one step of growth before a
// writer needs it. It passes no seam point (those come from the goroutine
// of an operation).
func (db *DB) growAhead() error {
	return db.growFrom(db.m.Size(), db.m.ChunkSize(), false)
}

// growFrom grows a pool of before bytes, as grow says, unless it has grown
// since; writer says whether the caller is a writer (which passes the
// seam.Grow point).
func (db *DB) growFrom(before, size int64, writer bool) error {
	db.growMu.Lock()
	defer db.growMu.Unlock()
	if db.m.Size() != before {
		return nil
	}
	if err := db.failedErr(); err != nil {
		// A growth that failed its fdatasync must not be retried: a
		// second fdatasync may succeed without the size being durable.
		return err
	}
	chunk := db.m.ChunkSize()
	step := max(before/4, size, chunk)
	next := (before + step + chunk - 1) / chunk * chunk
	// Near MaxSize (the reservation), a quarter more may not fit where
	// what the caller needs does: grow to the reservation's last chunk.
	if limit := int64(len(db.m.Region())) / chunk * chunk; next > limit && before+size <= limit {
		next = limit
	}
	if writer {
		db.at(seam.Grow)
	}
	if err := db.m.Grow(next); err != nil {
		err = fmt.Errorf("daxkv: grow pool to %d bytes: %w", next, err)
		if syncFailed(err) {
			return db.fail(err)
		}
		return err
	}
	if r, ok := db.p.(flush.Resizer); ok {
		r.Resized(next, true)
	}
	db.al.Grow(next)
	return nil
}

// yieldEvery is how many operations the DB's writes carry out between two
// looks at the scheduler by a writer (yieldTurn).
const yieldEvery = 256

// runnableMetric counts the goroutines ready to run that wait for a P.
const runnableMetric = "/sched/goroutines/runnable:goroutines"

// yieldTurn counts n operations of a write that succeeded (a Put or a
// Delete is one, a batch counts its operations) and, when the count passes
// a multiple of yieldEvery (about every 250 µs of Puts), yields the
// writer's P if a goroutine waits for one and the process has more than
// one P.
//
// A goroutine readied onto a busy P (a writer the other one let through
// the index's lock, a reader, the chunk preparer, a GC worker) waits
// until the goroutine running there blocks or the runtime preempts it,
// which it does after 10 ms. A writer rarely blocks, so with more
// runnable goroutines than Ps (two writers and the index's applier on two
// cores) the other waited up to tens of milliseconds. Yielding bounds
// that wait. A yield costs the writer the wait for a free P, so it is done
// only when a goroutine waits that is not one of the index's own pollers
// (index.poll, which yield between tries), and the writer first asks the index's
// applier to yield after its current chunk (tens of microseconds) rather
// than at its next applyYield: yielding blindly, and waiting out the
// applier's slice, made raftstore's StoreLogs 10-20 % slower. With one P
// it does not yield: a goroutine that does not yield back (one that only
// computes) would then take a whole slice of 10 ms every 256 operations,
// where the runtime's own preemption shares the P evenly. The look costs
// about 100 ns (runtime/metrics takes the scheduler's lock), once every
// yieldEvery operations; a writer that finds another looking goes on.
func (db *DB) yieldTurn(n uint64) {
	if w := db.writes.Add(n); w/yieldEvery == (w-n)/yieldEvery || !db.sched.TryLock() {
		return
	}
	s := &db.sched.sample
	s[0].Name = runnableMetric
	metrics.Read(s[:])
	waiting := s[0].Value.Kind() == metrics.KindUint64 && s[0].Value.Uint64() > uint64(max(db.idx.polling.Load(), 0))
	db.sched.Unlock()
	if !waiting || runtime.GOMAXPROCS(0) == 1 {
		return
	}
	if db.hooks != nil && db.hooks.Yield != nil {
		db.hooks.Yield()
	}
	db.idx.yieldAsked.Store(true)
	runtime.Gosched()
}

// maxWrittenRecord bounds the records writeRecord builds in memory: a
// longer one is stored through the mapping (its copy, not a fault a page,
// is then what costs).
const maxWrittenRecord = 64 << 10

// recordBufs are writeRecord's buffers.
var recordBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// writeRecord writes a Put's record at off with one pwrite of the record
// built in memory, instead of storing it through the mapping, and
// schedules its pages for the next fence, as the store would have. Used in
// the page-cache mode on a filesystem with blocks (writeRecords), where
// every msync write-protects the pages it writes back: a store into the
// page a Put wrote before then took a write fault, and the msync a TLB
// shootdown (an interrupt of every other core running the process, a
// VM exit each in a virtual machine). A pwrite fills the same page-cache
// page the mapping reads, and leaves the mapping's page table alone.
//
// A crash part way leaves a torn record that its check rejects, as a torn
// store would. An error fails the DB, as a store's fault does (a store
// into a page that cannot be written raises SIGBUS), except the process's
// file-size limit, which a pwrite obeys and a store does not: the record is
// then stored through the mapping.
func (db *DB) writeRecord(mem []byte, off, size int64, seq uint64, key, value []byte) error {
	bp := recordBufs.Get().(*[]byte)
	defer recordBufs.Put(bp)
	if int64(cap(*bp)) < size {
		*bp = make([]byte, size)
	}
	rec := (*bp)[:size]
	db.codec.Write(copyOnly{}, rec, off, recovery.TagLive, seq, 0, key, value)
	if err := db.writeAt(rec, off); err != nil {
		if !errors.Is(err, errors.ErrUnsupported) {
			return db.fail(err)
		}
		// The file-size limit refuses the write at this offset, though
		// the file does not grow: the store it stands in for is allowed.
		db.codec.Write(db.p, mem[off:off+size], off, recovery.TagLive, seq, 0, key, value)
		return nil
	}
	db.p.Flush(mem[off : off+size])
	return nil
}

// writeAt is Map.WriteAt, after the WriteAt hook.
func (db *DB) writeAt(rec []byte, off int64) error {
	if db.hooks != nil && db.hooks.WriteAt != nil {
		if err := db.hooks.WriteAt(rec, off); err != nil {
			return err
		}
	}
	return db.m.WriteAt(rec, off)
}

// copyOnly is the Persister of a record built in memory: it copies and
// schedules nothing.
type copyOnly struct{}

func (copyOnly) Flush([]byte)         {}
func (copyOnly) Copy(dst, src []byte) { copy(dst, src) }
func (copyOnly) Drain() error         { return nil }
