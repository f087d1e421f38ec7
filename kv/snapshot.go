package kv

import (
	"iter"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/google/btree"
)

// Snapshot is a read-only view of the DB at one instant: its Get, View and
// iterators see every write acknowledged before NewSnapshot returned and
// none made after. It is safe for concurrent use.
//
// A snapshot costs little to take (a copy-on-write clone of the ordered
// index) but holds the reader epoch until Close: every record it can reach
// stays out of reuse, so the space that later writes free waits in limbo
// (Stats.Limbo) and the pool grows instead. Stats.OldestPinAge shows how
// long the oldest open snapshot or iterator has been held. Close it as soon
// as it is no longer needed. The DB's Close closes it: its methods then
// return ErrClosed (and its iterators' slices read zeros; see DB.Close).
type Snapshot struct {
	db      *DB
	tree    *btree.BTreeG[item]
	damaged map[string]int64 // the keys damaged when it was taken (media.go)
	hold    *hold
	// refs counts the snapshot itself until Close, each open iterator on
	// it, and each read in progress; the last unref releases the hold.
	refs   atomic.Int32
	closed atomic.Bool // Close was called
	err    error       // why NewSnapshot failed (the DB was closed)
}

// NewSnapshot returns a snapshot of the DB as of now. On a closed DB the
// snapshot's methods return ErrClosed. It waits until the ordered index has
// applied every write acknowledged before the call (usually at once; under
// a sustained load, the applier's backlog).
func (db *DB) NewSnapshot() *Snapshot {
	s, err := db.newSnapshot()
	if err != nil {
		return &Snapshot{db: db, err: err}
	}
	return s
}

func (db *DB) newSnapshot() (*Snapshot, error) {
	tok, epoch := db.ep.pinEpoch()
	defer db.ep.unpin(tok)
	if db.closed.Load() {
		return nil, ErrClosed
	}
	// The slot pin keeps the epoch at most epoch+1 until the hold is
	// registered; then the hold does. Every record the clone reaches is
	// retired, if ever, after the pin (index.clone): it stays in limbo
	// until the hold is released.
	s := &Snapshot{db: db, hold: db.ep.holdAt(epoch, time.Now())}
	s.refs.Store(1)
	// The damaged keys before the clone: a key written anew (published,
	// then forgotten as damaged) is then in the copy, the clone or both,
	// and View consults the clone first.
	s.damaged = db.damaged.copy()
	s.tree = db.idx.clone()
	return s, nil
}

// ref takes a reference; it fails once the last one is gone.
func (s *Snapshot) ref() error {
	for {
		n := s.refs.Load()
		if n <= 0 {
			return ErrClosed
		}
		if s.refs.CompareAndSwap(n, n+1) {
			return nil
		}
	}
}

// unref drops a reference; the last releases the hold.
func (s *Snapshot) unref() {
	if s.refs.Add(-1) == 0 {
		s.db.ep.release(s.hold)
	}
}

// enter starts one read of s: a slot pin, which keeps a concurrent Close of
// the DB from unmapping the pool under it, and a reference, which keeps a
// concurrent Close of s from releasing the hold under it. leave ends it.
func (s *Snapshot) enter() (uint32, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.closed.Load() {
		return 0, ErrClosed
	}
	tok, err := s.db.enter()
	if err != nil {
		return 0, err
	}
	if err := s.ref(); err != nil {
		s.db.ep.unpin(tok)
		return 0, err
	}
	return tok, nil
}

func (s *Snapshot) leave(tok uint32) {
	s.unref()
	s.db.ep.unpin(tok)
}

// Close releases the snapshot. Iterators opened on it keep working until
// they are closed. Later calls return ErrClosed, as does every other method
// after Close.
func (s *Snapshot) Close() error {
	if s.err != nil || s.closed.Swap(true) {
		return ErrClosed
	}
	s.unref()
	return nil
}

// Get returns a copy of the value key had when the snapshot was taken, or
// an error wrapping ErrNotFound.
func (s *Snapshot) Get(key []byte) ([]byte, error) {
	var out []byte
	err := s.View(key, func(v []byte) error {
		out = append(make([]byte, 0, len(v)), v...)
		return nil
	})
	return out, err
}

// View calls fn with the value key had when the snapshot was taken, without
// copying it; the slice is valid only until fn returns, as with DB.View. A
// key whose newest record lay on a bad block when the snapshot was taken
// reads as an error wrapping ErrCorrupt, as DB.View reports it.
// Lookups go through the snapshot's ordered index (a B-tree descent), not
// the DB's hash index, which only knows the present.
func (s *Snapshot) View(key []byte, fn func(value []byte) error) (err error) {
	if err := s.db.checkKV(key, nil); err != nil {
		return err
	}
	tok, err := s.enter()
	if err != nil {
		return err
	}
	defer s.leave(tok)
	defer s.db.m.Guard(debug.SetPanicOnFault(true), &err)
	it, ok := s.tree.Get(probe(key))
	if !ok {
		if off, bad := s.damaged[string(key)]; bad {
			return damagedError(off)
		}
		return ErrNotFound
	}
	_, v, err := s.db.record(it)
	if err != nil {
		return err
	}
	return fn(v)
}

// NewIterator returns an iterator over the snapshot; opts may be nil. The
// iterator stays usable after the snapshot's Close, until its own.
func (s *Snapshot) NewIterator(opts *IterOptions) (*Iterator, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.closed.Load() || s.db.closed.Load() {
		return nil, ErrClosed
	}
	if err := s.ref(); err != nil {
		return nil, err
	}
	return newIterator(s, false, opts), nil
}

// Range is DB.Range on the snapshot.
func (s *Snapshot) Range(lower, upper []byte, errp *error) iter.Seq2[[]byte, []byte] {
	return rangeOver(func(o *IterOptions) (*Iterator, error) { return s.NewIterator(o) }, lower, upper, errp)
}
