package kv

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/daxkv/daxkv/internal/invariants"
)

// Readers pin the current epoch instead of taking a lock. A pin increments
// one of pinSlots padded counters chosen at random, so concurrent readers
// rarely write the same cache line. An extent unlinked from the index is
// retired with the epoch current at that moment and reused only once every
// reader that could have seen it has unpinned:
//
//   - the epoch advances from e to e+1 only when no reader holds a pin of
//     parity (e+1)&1, that is of epoch e-1 (readers of epoch e may remain);
//   - so once the epoch reaches t+2, no reader of epoch t or earlier remains,
//     and extents retired at t can be reclaimed.
//
// A reader that reads the epoch, increments its slot and then finds the
// epoch changed backs out and retries, so it never pins a parity that an
// advance has already checked as empty.
//
// Snapshots and iterators hold their epoch for as long as they are open,
// which a slot's parity count cannot express (an hour-old pin would be
// indistinguishable from the reads of the last microsecond, and Close could
// not tell them apart). They register a hold instead: its epoch, taken
// from a slot pin that is kept until the hold is visible, caps the epoch at
// hold+1 as the pin did, so everything retired since the hold stays in
// limbo until it is released. Close waits for slot pins only (every read
// of a snapshot takes one), then drops the holds.

const pinSlots = 32

type pinSlot struct {
	n [2]atomic.Int64 // pins held per epoch parity
	_ [48]byte        // pad to a cache line
}

type epochs struct {
	cur   atomic.Uint64
	slots [pinSlots]pinSlot

	// heldMin is the lowest epoch of a hold plus one, or 0 when there is
	// none: read by every advance, written under holdMu.
	heldMin atomic.Uint64
	holdMu  sync.Mutex         // protects holds, ghosts and gone
	holds   map[*hold]struct{} // the open holds
	// ghosts are the holds still open when the DB closed: their snapshots'
	// and iterators' slices may still be read (DB.Close). gone runs when
	// the last of them is released.
	ghosts map[*hold]struct{}
	gone   func()
}

// hold is a long-lived pin (a snapshot's).
type hold struct {
	epoch uint64
	since time.Time
}

// pin registers a reader; the returned token goes to unpin.
func (e *epochs) pin() (tok uint32) {
	tok, _ = e.pinEpoch()
	return tok
}

// pinEpoch is pin, also returning the epoch pinned.
func (e *epochs) pinEpoch() (tok uint32, epoch uint64) {
	s := rand.Uint32() % pinSlots
	for {
		ep := e.cur.Load()
		par := uint32(ep & 1)
		e.slots[s].n[par].Add(1)
		if e.cur.Load() == ep {
			return s<<1 | par, ep
		}
		e.slots[s].n[par].Add(-1)
	}
}

// holdAt registers a hold of epoch, which the caller holds a slot pin of
// until this returns (so no advance past epoch+1 happened before it).
func (e *epochs) holdAt(epoch uint64, since time.Time) *hold {
	h := &hold{epoch: epoch, since: since}
	e.holdMu.Lock()
	defer e.holdMu.Unlock()
	if e.holds == nil {
		e.holds = make(map[*hold]struct{})
	}
	e.holds[h] = struct{}{}
	if m := e.heldMin.Load(); m == 0 || epoch+1 < m {
		e.heldMin.Store(epoch + 1)
	}
	return h
}

// release drops a hold; it returns false when the hold was already gone
// (the DB's Close released it, and this was one of its ghosts).
func (e *epochs) release(h *hold) bool {
	e.holdMu.Lock()
	if _, ok := e.holds[h]; !ok {
		var gone func()
		if _, ok := e.ghosts[h]; ok {
			delete(e.ghosts, h)
			if len(e.ghosts) == 0 {
				gone, e.gone = e.gone, nil
			}
		}
		e.holdMu.Unlock()
		if gone != nil {
			gone()
		}
		return false
	}
	defer e.holdMu.Unlock()
	delete(e.holds, h)
	m := uint64(0)
	for o := range e.holds {
		if m == 0 || o.epoch+1 < m {
			m = o.epoch + 1
		}
	}
	e.heldMin.Store(m)
	return true
}

// releaseAll drops every hold (Close, once no reader can use one). The
// holds still open become ghosts, until their snapshots and iterators
// release them: it returns how many there are.
func (e *epochs) releaseAll() int {
	e.holdMu.Lock()
	defer e.holdMu.Unlock()
	n := len(e.holds)
	if n > 0 {
		e.ghosts, e.holds = e.holds, nil
	}
	e.heldMin.Store(0)
	return n
}

// afterGhosts runs gone once the last ghost is released: now when none is
// left.
func (e *epochs) afterGhosts(gone func()) {
	e.holdMu.Lock()
	if len(e.ghosts) > 0 {
		e.gone, gone = gone, nil
	}
	e.holdMu.Unlock()
	if gone != nil {
		gone()
	}
}

// oldestHold returns how long the oldest hold has been held, and how many
// there are.
func (e *epochs) oldestHold(now time.Time) (time.Duration, int) {
	e.holdMu.Lock()
	defer e.holdMu.Unlock()
	var age time.Duration
	for h := range e.holds {
		age = max(age, now.Sub(h.since))
	}
	return age, len(e.holds)
}

func (e *epochs) unpin(tok uint32) {
	if n := e.slots[tok>>1].n[tok&1].Add(-1); invariants.Enabled && n < 0 {
		panic(fmt.Sprintf("daxkv: assertion failed: pin slot %d of parity %d went negative (%d)", tok>>1, tok&1, n))
	}
}

func (e *epochs) pinned(par uint64) bool {
	for i := range e.slots {
		if e.slots[i].n[par].Load() != 0 {
			return true
		}
	}
	return false
}

// tryAdvance moves the epoch forward by one if no reader of the previous
// epoch remains. It returns the highest epoch whose retired extents are now
// safe to reuse, and ok=false when it could not advance.
func (e *epochs) tryAdvance() (safe uint64, ok bool) {
	ep := e.cur.Load()
	if e.pinned((ep + 1) & 1) {
		return 0, false
	}
	// Holds are read after the pins: a snapshot keeps its slot pin until
	// its hold is registered, so a hold missed here had its pin seen above.
	// (Read before the pins, a hold registered in between, its pin dropped
	// before the scan, went unseen.)
	if m := e.heldMin.Load(); m != 0 && ep >= m && !mutantNoHold() { // ep > the oldest hold's epoch
		return 0, false
	}
	if !e.cur.CompareAndSwap(ep, ep+1) {
		return 0, false
	}
	if ep == 0 {
		return 0, false
	}
	return ep - 1, true
}

// drain waits until no slot pin is held (used by Close after new pins are
// refused). Holds are not waited for.
func (e *epochs) drain() {
	for i := 0; e.pinned(0) || e.pinned(1); i++ {
		if i < 100 {
			runtime.Gosched()
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// poisonByte fills extents reclaimed from limbo in invariants builds.
const poisonByte = 0xDB

// poison fills the extent at off, just reclaimed from limbo, with
// poisonByte (invariants builds only; installed with alloc's OnReclaim). A
// reader that could still reach it (the bug epochs exist to prevent) then
// reads a value no writer wrote, and the tests that check every value they
// read fail. The bytes are free space: nothing needs them, and recovery
// skips them (no record validates there).
func (db *DB) poison(off, size int64) {
	b := db.m.Bytes()[off : off+size]
	for i := range b {
		b[i] = poisonByte
	}
}
