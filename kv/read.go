package kv

import (
	"bytes"
	"runtime"
	"runtime/debug"

	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/recovery"
)

// Get returns a copy of the value stored under key, or an error wrapping
// ErrNotFound.
func (db *DB) Get(key []byte) ([]byte, error) {
	var out []byte
	err := db.View(key, func(v []byte) error {
		out = append(make([]byte, 0, len(v)), v...)
		return nil
	})
	return out, err
}

// View calls fn with the value stored under key, without copying it. The
// slice points into the pool mapping and is valid only until fn returns
// (like database/sql's RawBytes): fn must not retain it or write to it. The
// record cannot be reused while fn runs, whatever writers do meanwhile. View
// returns ErrNotFound for an absent key, an error wrapping ErrCorrupt (with
// the offset) for a key whose newest record lies on a bad block (see
// Stats.DamagedKeys), and otherwise what fn returns.
//
// fn may call the DB: reads nest and always complete; writes (Put, Delete,
// Apply, even of the same key) complete too and never deadlock, and leave
// the slice fn holds intact until fn returns. Only Close must not be called
// from fn: it waits for every reader, fn's own among them.
func (db *DB) View(key []byte, fn func(value []byte) error) (err error) {
	if err := db.checkKV(key, nil); err != nil {
		return err
	}
	tok, err := db.enter()
	if err != nil {
		return err
	}
	defer db.ep.unpin(tok)
	defer db.m.Guard(debug.SetPanicOnFault(true), &err)
	db.at(seam.ReadLookup)
	// A damaged key is looked up first: a writer makes it whole by
	// publishing its new record, then forgetting the damage, so this order
	// never sees neither.
	if off, bad := db.damaged.lookup(key); bad {
		return damagedError(off)
	}
	it, ok := db.idx.lookup(key, hashKey(key))
	if !ok {
		return ErrNotFound
	}
	_, v, err := db.record(it)
	if err != nil {
		return err
	}
	return fn(v)
}

// Has reports whether key is present.
func (db *DB) Has(key []byte) (bool, error) {
	err := db.View(key, func([]byte) error { return nil })
	if err == ErrNotFound {
		return false, nil
	}
	return err == nil, err
}

// record returns the key and value of the record an index item points to,
// checking the header against the item so that a damaged header can never
// send a read outside the record.
func (db *DB) record(it item) (key, value []byte, err error) {
	return db.recordAt(db.m.Bytes(), it.ref)
}

// recordAt is record for an item's ref, in the view mem.
func (db *DB) recordAt(mem []byte, ref uint64) (key, value []byte, err error) {
	off := int64(ref >> refKeyBits)
	k, v, ok := recovery.KeyValue(mem, off, int(ref&(1<<refKeyBits-1)))
	if !ok || len(v) > db.maxValue {
		return nil, nil, recordMismatch(off)
	}
	return k, v, nil
}

func recordMismatch(off int64) error {
	return &recovery.CorruptError{Off: off, Reason: "record header does not match the index"}
}

// decodePage appends the keys and values of the records refs point to
// (index items' refs) to keys and vals, in the view mem, and returns them
// with the first error (a record that does not match its ref, or a memory
// fault: see decodeGuarded). Records lie in the pool in write order, so in
// key order each is a likely cache miss: the callers prefetch the first
// line of every record while they walk the ordered index (prefetchRecord),
// so that the misses are in flight together and overlap the walk, and
// decodePage prefetches the last line of each record for the caller's read
// of its value. A record handed out has been read page by page under the
// caller's fault guard: its header's line here, and one byte of every
// further page a record spans (a bad block the kernel knows of, or a
// truncated file, inside it is an error here, not a fault in the caller's
// hands later; a latent error in a line not read, which persistent memory
// reports per line, is not). Loading each record's last line too, as this
// once did, cost a third of the iterators' speed. sink is what the loads
// summed, for the caller to keep.
func (db *DB) decodePage(mem []byte, refs []uint64, keys, vals [][]byte) (_, _ [][]byte, sink byte, err error) {
	n := len(keys)
	long := false
	for _, ref := range refs {
		off := int64(ref >> refKeyBits)
		k, v, ok := recovery.KeyValue(mem, off, int(ref&(1<<refKeyBits-1)))
		if !ok || len(v) > db.maxValue {
			return keys, vals, sink, recordMismatch(off)
		}
		keys = append(keys, k)
		vals = append(vals, v)
		end := off + recovery.HeaderSize + int64(len(k)+len(v))
		a := off/pageSize*pageSize + pageSize
		if a >= end {
			flush.Prefetch(mem, uint64(end-1))
			continue
		}
		long = true
		for ; a < end; a += pageSize {
			flush.Prefetch(mem, uint64(a))
		}
	}
	if !long {
		return keys, vals, sink, nil
	}
	// The records past their first page, read page by page: the loads
	// that can fault, after the prefetches, so that their misses overlap.
	for i, ref := range refs {
		off := int64(ref >> refKeyBits)
		end := off + recovery.HeaderSize + int64(len(keys[n+i])+len(vals[n+i]))
		for a := off/pageSize*pageSize + pageSize; a < end; a += pageSize {
			sink += mem[a]
		}
	}
	return keys, vals, sink, nil
}

// pageSize is the step at which decodePage reads a long record: the
// smallest page a mapping has.
const pageSize = 4096

// prefetchRecord prefetches the first line of the record at off, for a
// walk of the ordered index, and the first line of the next page too when
// a record of span bytes (the caller's estimate, see recordSpan) from off
// would run into it. decodePage reads a byte of every page a record spans;
// a page not touched yet costs a walk of the page tables before its miss
// (two-dimensional in a virtual machine), and prefetched here that walk
// overlaps the other records' instead of stalling decodePage. Measured on
// BenchmarkIterate (records of 140 bytes, one in thirty crossing a page):
// the loads of the second pages had been a tenth of its time.
func prefetchRecord(mem []byte, off, span uint64) {
	flush.Prefetch(mem, off)
	if next, ok := nextPage(off, span); ok {
		flush.Prefetch(mem, next)
	}
}

// nextPage returns the start of the page after off's when a record of span
// bytes from off would run into it.
func nextPage(off, span uint64) (uint64, bool) {
	if span == 0 || (off+span-1)/pageSize == off/pageSize {
		return 0, false
	}
	return off - off%pageSize + pageSize, true
}

// maxSpan caps recordSpan: a record longer than a page crosses into the
// next whatever its start, and decodePage prefetches its later pages.
const maxSpan = pageSize

// recordSpan returns the mean length in the pool of the records whose keys
// and values are given (0 for none), at most maxSpan: the estimate the next
// walk's prefetchRecord uses.
func recordSpan(keys, vals [][]byte) uint64 {
	if len(keys) == 0 {
		return 0
	}
	sum := 0
	for i, k := range keys {
		sum += len(k) + len(vals[i])
	}
	return uint64(min(recovery.HeaderSize+sum/len(keys), maxSpan))
}

// decodeGuarded is decodePage under the fault guard, in the view
// db.m.Bytes(). After an error it decodes again one record at a time, each
// under its own guard, so that the records before the first bad one are
// still returned with the error (the fast pass cannot tell which record a
// fault hit).
func (db *DB) decodeGuarded(refs []uint64, keys, vals [][]byte) (_, _ [][]byte, err error) {
	k0, v0 := len(keys), len(vals)
	mem := db.m.Bytes()
	var sink byte
	err = func() (err error) {
		defer db.m.Guard(debug.SetPanicOnFault(true), &err)
		keys, vals, sink, err = db.decodePage(mem, refs, keys, vals)
		return err
	}()
	runtime.KeepAlive(sink) // keeps the page loads
	if err == nil {
		return keys, vals, nil
	}
	keys, vals = keys[:k0], vals[:v0]
	for i := range refs {
		var k, v [][]byte
		err = func() (err error) {
			defer db.m.Guard(debug.SetPanicOnFault(true), &err)
			k, v, _, err = db.decodePage(mem, refs[i:i+1], keys, vals)
			return err
		}()
		if err != nil {
			return keys, vals, err
		}
		keys, vals = k, v
	}
	return keys, vals, nil // the fault is gone (it does not come back)
}

// scanBatch is how many index items a Scan copies per index lock hold.
const scanBatch = 128

// Scan calls fn for every key in [start, end) in ascending byte order, with
// its value. A nil start means from the first key, a nil end means to the
// last. The key and value slices point into the pool mapping and are valid
// only until fn returns. An error returned by fn stops the scan and is
// returned unchanged. Scan sees every key present for its whole duration;
// keys written or deleted while it runs may or may not be seen. Writers are
// not blocked while fn runs, and fn may call the DB as View's may. Keys
// whose newest record lies on a bad block are passed over (Stats counts
// them; Get returns their error).
func (db *DB) Scan(start, end []byte, fn func(key, value []byte) error) error {
	if end != nil && start != nil && bytes.Compare(start, end) >= 0 {
		if db.closed.Load() {
			return ErrClosed
		}
		return nil
	}
	var buf [scanBatch]uint64
	var last []byte
	from := start
	exclusive := false // from was already visited
	span := uint64(0)  // the last step's mean record length
	for {
		n, err := db.scanStep(from, exclusive, end, buf[:], &last, &span, fn)
		if err != nil || n < scanBatch {
			return err
		}
		from, exclusive = last, true
	}
}

// scanStep visits up to len(buf) keys from from (skipping from itself when
// exclusive) under one pin. The last key visited is copied into *last, and
// the records' mean length into *span, for the next step's prefetches.
func (db *DB) scanStep(from []byte, exclusive bool, end []byte, buf []uint64, last *[]byte, span *uint64, fn func(key, value []byte) error) (n int, err error) {
	tok, err := db.enter()
	if err != nil {
		return 0, err
	}
	defer db.ep.unpin(tok)
	defer db.m.Guard(debug.SetPanicOnFault(true), &err)
	// The index hands out every change queued before this pin: a record
	// retired before it could otherwise be found and already reused.
	n = db.idx.ascend(from, exclusive, end, buf, *span)
	var ks, vs [scanBatch][]byte
	keys, vals, derr := db.decodeGuarded(buf[:n], ks[:0], vs[:0])
	if len(keys) > 0 {
		*span = recordSpan(keys, vals)
	}
	for i := range keys { // the records before a bad one are still visited
		if err := fn(keys[i], vals[i]); err != nil {
			return n, err
		}
	}
	if derr != nil {
		return n, derr
	}
	if n > 0 {
		*last = append((*last)[:0], keys[n-1]...)
	}
	return n, nil
}
