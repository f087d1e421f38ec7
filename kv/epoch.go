package kv

import (
	"fmt"
	"math/rand/v2"
	"runtime"
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

const pinSlots = 32

type pinSlot struct {
	n [2]atomic.Int64 // pins held per epoch parity
	_ [48]byte        // pad to a cache line
}

type epochs struct {
	cur   atomic.Uint64
	slots [pinSlots]pinSlot
}

// pin registers a reader; the returned token goes to unpin.
func (e *epochs) pin() (tok uint32) {
	s := rand.Uint32() % pinSlots
	for {
		ep := e.cur.Load()
		par := uint32(ep & 1)
		e.slots[s].n[par].Add(1)
		if e.cur.Load() == ep {
			return s<<1 | par
		}
		e.slots[s].n[par].Add(-1)
	}
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
	if !e.cur.CompareAndSwap(ep, ep+1) {
		return 0, false
	}
	if ep == 0 {
		return 0, false
	}
	return ep - 1, true
}

// drain waits until no pin is held (used by Close after new pins are
// refused).
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
