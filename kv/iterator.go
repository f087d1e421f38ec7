package kv

import (
	"bytes"
	"iter"
	"runtime/debug"
)

// IterOptions bounds an iterator. The zero value (or a nil *IterOptions)
// iterates over every key.
type IterOptions struct {
	// LowerBound is the smallest key the iterator visits (inclusive); nil
	// means unbounded.
	LowerBound []byte
	// UpperBound is the first key past the iterator's range (exclusive);
	// nil means unbounded.
	UpperBound []byte
}

// Iterator visits the keys of one snapshot in byte order, forward and
// backward, in pebble's vocabulary: position it with First, Last, SeekGE or
// SeekLT, then move with Next and Prev while they return true; Valid says
// whether it is positioned on a key, and Error, once a move returns false,
// whether it stopped on an error rather than at the end.
//
// The iterator sees the DB as it was when the iterator (or the snapshot it
// was opened on) was created; writes made after are invisible to it. Key
// and Value point into the pool mapping and are valid until the next
// positioning call, the iterator's Close or the DB's Close; they must not
// be written to. Every record handed out has been read page by page under
// a fault guard (a bad block the kernel knows of, or a truncated file, is
// an error, not a fault); a block that goes bad, or a truncation by another
// program, after the move faults when the slice is read, as any mapped
// memory does, and so does, on persistent memory, a latent error in a line
// of the record that was not read (its header's line, and one byte of each
// further page, are). An Iterator is not safe for concurrent use; many may
// be open at once. It holds the reader epoch until Close, as a Snapshot does
// (see Stats.OldestPinAge): close every iterator. The DB's Close closes
// open iterators; their methods then report ErrClosed, and a key or value
// slice one handed out reads zeros, never faults, until it is closed (see
// DB.Close).
//
// Records lie in the pool in write order, not key order, so each key is a
// likely cache miss. The iterator reads keys in pages (small after a seek,
// growing while it moves on in one direction), prefetching each record as
// its walk of the ordered index passes its key (and the record's second
// page, when a record of the last page's mean length would reach it) and
// decoding the page after the walk, so that the misses overlap each other
// and the walk.
type Iterator struct {
	snap *Snapshot
	own  bool // the snapshot is the iterator's own (DB.NewIterator)
	db   *DB

	lower, upper       []byte // copied from the options
	lowerIt, upperIt   item
	hasLower, hasUpper bool

	state iterState
	dir   int      // +1 forward, -1 backward: the page's order
	page  []uint64 // the current page's refs, in dir's order
	edge  item     // the page's last item, when it filled the page
	keys  [][]byte
	vals  [][]byte
	pos   int    // the current entry of page
	more  bool   // the tree may hold keys past the page, in dir
	want  int    // the next page's size
	mem   []byte // the mapping, during a walk (for its prefetches)
	span  uint64 // the last page's mean record length (recordSpan)

	// The tree visitors' state, and the visitors themselves (method values
	// made once, so that a page costs no allocation).
	from      item
	exclusive bool
	fwd, bwd  func(item) bool

	err     error
	pending error // a bad record just past the page: err once a move gets there
	closed  bool
}

type iterState uint8

const (
	iterUnpositioned iterState = iota
	iterValid
	iterBefore // moved backward past the first key
	iterAfter  // moved forward past the last key
)

const (
	firstPage = 8   // entries read after a seek
	maxPage   = 256 // entries read per page when moving on
)

// NewIterator returns an iterator over a snapshot of the DB taken now; opts
// may be nil. It returns ErrClosed on a closed DB.
func (db *DB) NewIterator(opts *IterOptions) (*Iterator, error) {
	s, err := db.newSnapshot()
	if err != nil {
		return nil, err
	}
	return newIterator(s, true, opts), nil
}

func newIterator(s *Snapshot, own bool, opts *IterOptions) *Iterator {
	it := &Iterator{snap: s, own: own, db: s.db, want: firstPage}
	if opts != nil {
		if opts.LowerBound != nil {
			it.lower = bytes.Clone(opts.LowerBound)
			it.lowerIt, it.hasLower = probe(it.lower), true
		}
		if opts.UpperBound != nil {
			it.upper = bytes.Clone(opts.UpperBound)
			it.upperIt, it.hasUpper = probe(it.upper), true
		}
	}
	it.fwd, it.bwd = it.visitForward, it.visitBackward
	return it
}

// First moves to the first key (at or after LowerBound).
func (it *Iterator) First() bool {
	if it.hasLower {
		return it.seek(+1, it.lowerIt, false)
	}
	return it.seekEnd(+1)
}

// Last moves to the last key (before UpperBound).
func (it *Iterator) Last() bool {
	if it.hasUpper {
		return it.seek(-1, it.upperIt, true)
	}
	return it.seekEnd(-1)
}

// SeekGE moves to the first key at or after key (and at or after
// LowerBound).
func (it *Iterator) SeekGE(key []byte) bool {
	if it.hasLower && bytes.Compare(key, it.lower) < 0 {
		return it.First()
	}
	return it.seek(+1, probe(key), false)
}

// SeekLT moves to the last key before key (and before UpperBound).
func (it *Iterator) SeekLT(key []byte) bool {
	if it.hasUpper && bytes.Compare(key, it.upper) > 0 {
		return it.Last()
	}
	return it.seek(-1, probe(key), true)
}

// Next moves to the next key. On an iterator not yet positioned, or moved
// backward past the first key, it moves to the first key.
func (it *Iterator) Next() bool { return it.step(+1) }

// Prev moves to the previous key. On an iterator not yet positioned, or
// moved forward past the last key, it moves to the last key.
func (it *Iterator) Prev() bool { return it.step(-1) }

// Valid reports whether the iterator is positioned on a key (never after
// the DB's Close).
func (it *Iterator) Valid() bool {
	return it.state == iterValid && !it.db.closed.Load() // an error or Close unpositions it
}

// Key returns the current key (see Iterator for how long it stays valid),
// or nil when the iterator is not Valid.
func (it *Iterator) Key() []byte {
	if !it.Valid() {
		return nil
	}
	return it.keys[it.pos]
}

// Value returns the current value (see Iterator for how long it stays
// valid), or nil when the iterator is not Valid.
func (it *Iterator) Value() []byte {
	if !it.Valid() {
		return nil
	}
	return it.vals[it.pos]
}

// Error returns the error that stopped the iterator: ErrClosed after its
// Close or the DB's, an error wrapping ErrCorrupt (with the offset) for a
// damaged record (the iterator stops at it, having handed out the keys
// before it; the error is sticky), or nil. Keys whose newest record lies on
// a bad block the kernel reported are passed over, as Scan passes them.
func (it *Iterator) Error() error {
	if it.err == nil && (it.closed || it.db.closed.Load()) {
		return ErrClosed
	}
	return it.err
}

// Close releases the iterator's snapshot hold. Later calls return
// ErrClosed.
func (it *Iterator) Close() error {
	if it.closed {
		return ErrClosed
	}
	it.closed, it.state = true, iterUnpositioned
	it.page, it.keys, it.vals = nil, nil, nil
	if it.own {
		return it.snap.Close()
	}
	it.snap.unref()
	return nil
}

// All returns the iterator's keys and values from First on, for a range
// loop; Key and Value's lifetime rules apply to the yielded slices. After
// the loop, Error tells an error from the end.
func (it *Iterator) All() iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		for ok := it.First(); ok; ok = it.Next() {
			if !yield(it.keys[it.pos], it.vals[it.pos]) {
				return
			}
		}
	}
}

// Range returns the keys in [lower, upper) of a snapshot taken when the
// loop starts, with their values, for a range loop (nil bounds are
// unbounded). The slices are valid until the loop's next iteration. The
// snapshot is released when the loop ends. After the loop, *errp holds the
// error that stopped it, or nil at the end (or after a break); with a nil
// errp errors are dropped, so pass one:
//
//	var err error
//	for k, v := range db.Range(lo, hi, &err) {
//		...
//	}
//	if err != nil { ... }
func (db *DB) Range(lower, upper []byte, errp *error) iter.Seq2[[]byte, []byte] {
	return rangeOver(db.NewIterator, lower, upper, errp)
}

func rangeOver(open func(*IterOptions) (*Iterator, error), lower, upper []byte, errp *error) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		setErr := func(err error) {
			if errp != nil {
				*errp = err
			}
		}
		it, err := open(&IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			setErr(err)
			return
		}
		defer it.Close()
		for k, v := range it.All() {
			if !yield(k, v) {
				setErr(nil)
				return
			}
		}
		setErr(it.Error()) // ErrClosed when the DB's Close ended the loop
	}
}

// usable reports whether the iterator may move, setting the state when it
// may not.
func (it *Iterator) usable() bool {
	if it.closed || it.err != nil {
		return false
	}
	if it.db.closed.Load() {
		it.state = iterUnpositioned
		return false
	}
	return true
}

// step moves one key in dir.
func (it *Iterator) step(dir int) bool {
	if !it.usable() {
		return false
	}
	switch it.state {
	case iterUnpositioned:
		if dir > 0 {
			return it.First()
		}
		return it.Last()
	case iterBefore:
		if dir > 0 {
			return it.First()
		}
		return false
	case iterAfter:
		if dir < 0 {
			return it.Last()
		}
		return false
	}
	if dir == it.dir {
		it.pos++
		if it.pos < len(it.page) {
			return true
		}
		if !it.more {
			if it.pending != nil {
				it.err, it.pending = it.pending, nil
				it.state = iterUnpositioned
				return false
			}
			it.setEnd(dir)
			return false
		}
		it.want = min(2*it.want, maxPage)
		return it.fill(dir, it.edge, true, true, false)
	}
	// Turning around: read the other way from the current key.
	it.want = firstPage
	return it.fill(dir, item{}, true, true, true)
}

func (it *Iterator) setEnd(dir int) {
	if dir > 0 {
		it.state = iterAfter
	} else {
		it.state = iterBefore
	}
}

// seek reads a first page in dir from key (skipping key itself when
// exclusive).
func (it *Iterator) seek(dir int, key item, exclusive bool) bool {
	if !it.usable() {
		return false
	}
	it.want = firstPage
	return it.fill(dir, key, true, exclusive, false)
}

// seekEnd reads a first page from the first (dir > 0) or last key.
func (it *Iterator) seekEnd(dir int) bool {
	if !it.usable() {
		return false
	}
	it.want = firstPage
	return it.fill(dir, item{}, false, false, false)
}

// fill reads the next page in dir, from from when hasFrom (skipping from
// itself when exclusive) or from the end of the tree, decodes its records
// and positions the iterator on the page's first entry. With current, from
// is the current key's (see probeCurrent).
func (it *Iterator) fill(dir int, from item, hasFrom, exclusive, current bool) bool {
	tok, err := it.db.enter()
	if err != nil {
		it.state = iterUnpositioned
		return false
	}
	defer it.db.ep.unpin(tok)
	if current {
		if from, err = it.probeCurrent(); err != nil {
			it.err, it.state = err, iterUnpositioned
			return false
		}
	}
	it.page, it.pending = it.page[:0], nil
	it.from, it.exclusive = from, exclusive && hasFrom
	it.more = true // until a visitor meets a bound
	it.mem = it.db.m.Bytes()
	t := it.snap.tree
	switch {
	case dir > 0 && hasFrom:
		t.AscendGreaterOrEqual(from, it.fwd)
	case dir > 0:
		t.Ascend(it.fwd)
	case hasFrom:
		t.DescendLessOrEqual(from, it.bwd)
	default:
		t.Descend(it.bwd)
	}
	it.mem = nil
	it.dir, it.pos = dir, 0
	it.more = it.more && len(it.page) == it.want
	if len(it.page) == 0 {
		it.setEnd(dir)
		return false
	}
	if err := it.decode(); err != nil {
		it.err = err
		it.state = iterUnpositioned
		return false
	}
	it.state = iterValid
	return true
}

// probeCurrent returns a search item for the current key. The key is a
// slice of the mapping: it is read under the caller's pin, which keeps the
// DB's Close from unmapping it, and under the fault guard, so that a bad
// block or a truncated file is an error (a key longer than 16 bytes costs
// the probe two allocations: its tail and the tail's header, see item).
func (it *Iterator) probeCurrent() (x item, err error) {
	defer it.db.m.Guard(debug.SetPanicOnFault(true), &err)
	return probe(it.keys[it.pos]), nil
}

// visitForward collects items in ascending order up to the page size and
// the upper bound.
func (it *Iterator) visitForward(x item) bool {
	if it.exclusive {
		if !lessItem(it.from, x) {
			return true
		}
		it.exclusive = false // only the first item visited can be from
	}
	if it.hasUpper && !lessItem(x, it.upperIt) {
		it.more = false
		return false
	}
	return it.add(x)
}

// visitBackward collects items in descending order up to the page size and
// the lower bound.
func (it *Iterator) visitBackward(x item) bool {
	if it.exclusive {
		if !lessItem(x, it.from) {
			return true
		}
		it.exclusive = false
	}
	if it.hasLower && lessItem(x, it.lowerIt) {
		it.more = false
		return false
	}
	return it.add(x)
}

// add puts x's ref on the page and prefetches its record; it notes x as the
// page's edge and ends the walk when the page is full.
func (it *Iterator) add(x item) bool {
	it.page = append(it.page, x.ref)
	prefetchRecord(it.mem, x.ref>>refKeyBits, it.span)
	if len(it.page) < it.want {
		return true
	}
	it.edge = x
	return false
}

// decode turns the page's refs into key and value slices
// (decodeGuarded). When a record is bad the page ends before it, and the
// error waits in pending until a move goes past the page's end.
func (it *Iterator) decode() error {
	var err error
	it.keys, it.vals, err = it.db.decodeGuarded(it.page, it.keys[:0], it.vals[:0])
	if len(it.keys) > 0 {
		it.span = recordSpan(it.keys, it.vals)
	}
	if err != nil {
		it.page = it.page[:len(it.keys)]
		it.more, it.pending = false, err
		if len(it.page) == 0 {
			return err
		}
	}
	return nil
}
