package kv

import (
	"runtime"
	"sync/atomic"
)

// The chunk preparer keeps the next chunks the allocator will carve from
// faulted in and allocated (daxmap.Map.Fault) before a writer needs them,
// on a goroutine of its own, so that the first record in a fresh chunk
// does not pay for a thousand page faults and an fallocate inside a Put.
//
// It changes nothing a crash could see: faulting a chunk in reads it, and
// allocating its blocks leaves zeros, which recovery reads as free space.
// Fault serializes on the chunk's stripe (the fault layer's lock), so a
// writer that reaches the chunk while the preparer works on it waits for
// it and then finds the chunk backed: seed 002's rule (read-fault before
// allocating, under the chunk's lock) holds whoever gets there first. An
// error (a full filesystem, say) is left for the writer that needs the
// chunk, which gets it from its own Fault, at allocation, as before.
//
// When the pool is close to full (growAheadDue), it grows the pool first
// (growAhead), so that
// neither the growth (a truncate and an fdatasync) nor the fault-in of the
// chunks it adds lands inside a Put. Growth ahead is the writers' growth
// (same step, same durability), only earlier: the file may be one step
// larger than the data needs, as a bbolt file is. It is never done for a
// pool only read since Open. Its errors (MaxSize reached, a full
// filesystem) are left to the writer that needs the space; a failed
// fdatasync fails the DB, as in a writer.
//
// It wakes when the allocator starts a new bump region (a chunk taken from
// the free ones) and once at Open, so that a reopened pool is not cold.
//
// Where faulting a chunk in writes it with zeros (Map.ZeroFills: a pool on
// ext4 or XFS in the page-cache mode), a chunk ahead costs a chunk of
// writes to the device, and every msync's device flush waits for the
// writes queued before it: four chunks prepared at once after Open (16
// MiB) made the first few hundred fences of a run slow. There the preparer
// keeps one chunk ahead for each kind of bump region in use (small records,
// large ones, Compact's dense moves: Allocator.Kinds; at least
// prepZeroReserve) and wakes when a region is carved past its middle
// (Allocator.Halves) instead of when one starts: the next chunks' zeros
// are written while the second halves of the current ones are carved, and
// a pool that writes less than half a chunk after Open writes none ahead.
// The first chunk a kind of region takes after Open, but the first one's,
// is faulted in by the write that starts it, unless a half came first.
type preparer struct {
	kick  chan struct{} // buffered, 1
	stop  chan struct{} // closed by Close
	done  chan struct{} // closed when the goroutine has exited
	seen  atomic.Uint64 // the allocator's region count at the last kick
	halfs atomic.Uint64 // the allocator's half count at the last kick
	open  uint64        // the allocator's region count at Open
}

// prepReserve is how many free chunks are kept faulted in ahead, and
// prepZeroReserve how many where faulting a chunk in writes zeros.
const (
	prepReserve     = 4
	prepZeroReserve = 1
)

// prepAhead returns how many chunks the preparer keeps faulted in ahead.
func (db *DB) prepAhead() int {
	if db.m.ZeroFills() {
		return max(prepZeroReserve, db.al.Kinds())
	}
	return prepReserve
}

// startPreparer launches the preparer of a writable DB.
func (db *DB) startPreparer() {
	p := &db.prep
	p.kick = make(chan struct{}, 1)
	p.stop = make(chan struct{})
	p.done = make(chan struct{})
	p.open = db.al.Regions()
	p.seen.Store(p.open)
	p.halfs.Store(db.al.Halves())
	// The chunk the first write will carve from is faulted in before Open
	// returns, so that write does not do it; the goroutine does the rest.
	// An error is left for that write, as in the goroutine. Where a chunk
	// faulted in is written with zeros that one chunk is the reserve
	// (prepZeroReserve), and the goroutine waits for a region's middle: a
	// wake now could find the first write's region started and zero the
	// chunk after it.
	if next := db.al.NextChunks(1); len(next) == 1 {
		_ = db.m.Fault(next[0] / db.m.ChunkSize())
	}
	if !db.m.ZeroFills() {
		p.kick <- struct{}{}
	}
	go db.prepareLoop()
}

func (db *DB) prepareLoop() {
	defer close(db.prep.done)
	for {
		select {
		case <-db.prep.stop:
			return
		case <-db.prep.kick:
		}
		db.prepareChunks()
	}
}

// prepareChunks faults in the free chunks next in line. Fault itself
// guards its reads, so a fault there is an error, never a crash.
func (db *DB) prepareChunks() {
	if db.failed.Load() != nil {
		return
	}
	chunk := db.m.ChunkSize()
	next := db.al.NextChunks(prepReserve)
	if db.growAheadDue(len(next)) {
		runtime.Gosched() // as before a fault-in, below
		if db.growAhead() != nil {
			return // the writer that needs the space gets the error itself
		}
		next = db.al.NextChunks(prepReserve)
	}
	for _, off := range next[:min(len(next), db.prepAhead())] {
		// A writer this goroutine woke (by releasing the allocator's lock
		// or a chunk's stripe) is queued on this P, which the fault-in's
		// system call (milliseconds) would keep from it until the runtime
		// takes the P back: let it run first.
		runtime.Gosched()
		select {
		case <-db.prep.stop:
			return
		default:
		}
		if db.hooks != nil && db.hooks.Prepare != nil {
			db.hooks.Prepare()
		}
		if err := db.m.Fault(off / chunk); err != nil {
			return // the writer that needs the chunk gets the error itself
		}
	}
}

// growAheadDue reports whether the preparer should grow the pool now, with
// free whole chunks left: when fewer than prepReserve are, writes have
// started a region since Open, and the free space and limbo together hold
// less than prepReserve chunks (so the pool is close to full, not just
// fragmented, and not waiting on readers to give limbo back).
func (db *DB) growAheadDue(free int) bool {
	if free >= prepReserve || db.al.Regions() == db.prep.open {
		return false
	}
	if db.hooks != nil && db.hooks.NoGrowAhead {
		return false
	}
	return db.al.FreeBytes()-db.al.HeldBytes()+db.al.LimboBytes() < prepReserve*db.m.ChunkSize()
}

// notePrepare wakes the preparer when the allocator has started a new
// region since the last wake, or, where faulting a chunk in writes zeros,
// carved one past its middle: called after every allocation (two atomic
// loads when nothing changed).
func (db *DB) notePrepare() {
	if db.prep.kick == nil {
		return
	}
	if db.m.ZeroFills() {
		if h := db.al.Halves(); h != db.prep.halfs.Load() {
			db.prep.halfs.Store(h)
			db.kickPreparer()
		}
		return
	}
	if r := db.al.Regions(); r != db.prep.seen.Load() {
		db.prep.seen.Store(r)
		db.kickPreparer()
	}
}

func (db *DB) kickPreparer() {
	select {
	case db.prep.kick <- struct{}{}:
	default:
	}
}

// stopPreparer stops the preparer and waits for it: before the mapping goes.
func (db *DB) stopPreparer() {
	if db.prep.stop == nil {
		return
	}
	close(db.prep.stop)
	<-db.prep.done
}
