package kv

import (
	"errors"
	"fmt"

	"github.com/daxkv/daxkv/daxmap"
)

// After a failed Drain (a fence, an msync) or fdatasync, memory and media
// may disagree: a record may be durable that the index does not hold, or
// the reverse, and on the msync path the kernel may have dropped the dirty
// state of pages it failed to write, so no later success proves them
// durable (the fsyncgate lesson of PostgreSQL; pebble also stops at the
// first failed sync). Continuing could make a later acknowledged write
// wrong after a crash: a Delete that frees only the version the index
// knows while a newer, unacknowledged batch waits in the log to be
// replayed. So the first failure is final for the open DB: every later
// write returns an error wrapping ErrFailed and the failure, reads go on
// from memory, Close reports it without marking the pool clean, and the
// next Open recovers from the media.

// failure is the first I/O failure of a write.
type failure struct{ err error }

// fail records err as the DB's failure unless one is recorded already, and
// returns the error every write returns from now on.
func (db *DB) fail(err error) error {
	db.failed.CompareAndSwap(nil, &failure{err: err})
	return db.failedErr()
}

// failedErr returns nil, or the error wrapping ErrFailed and the first
// failure.
func (db *DB) failedErr() error {
	f := db.failed.Load()
	if f == nil {
		return nil
	}
	return fmt.Errorf("%w (first failure: %w)", ErrFailed, f.err)
}

// failOnFault fails the DB when *err, set by a write path's Guard, is a
// memory fault: a write cut short by a bad block or a file truncated
// underneath may have left the media and memory apart, like a failed
// Drain. Deferred before the Guard, so that it runs after it.
func (db *DB) failOnFault(err *error) {
	if *err != nil && errors.Is(*err, daxmap.ErrFault) {
		*err = db.fail(*err)
	}
}

// syncFailed reports whether err from a daxmap call means that written data
// may not be durable (fdatasync failed), as opposed to an error that changed
// nothing on the media (no space, no address range left).
func syncFailed(err error) bool { return errors.Is(err, daxmap.ErrSync) }
