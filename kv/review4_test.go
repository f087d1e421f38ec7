package kv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daxkv/daxkv/recovery"
)

// Regression tests for the defects an adversarial review of snapshots,
// iterators and the lock-free read path found.

// reviewFor is how long each race hunt below runs.
func reviewFor() time.Duration {
	if testing.Short() {
		return 500 * time.Millisecond
	}
	return 2 * time.Second
}

// A hold registered while tryAdvance was between reading the holds and
// scanning the pins went unseen: the epoch advanced past hold+1, and the
// extents the snapshot reaches became reusable. tryAdvance now reads the
// holds after the pins.
func TestHoldRacesAdvance(t *testing.T) {
	var e epochs
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			e.tryAdvance()
		}
	}()
	defer func() { stop.Store(true); wg.Wait() }()
	deadline := time.Now().Add(reviewFor())
	for i := 0; time.Now().Before(deadline); i++ {
		tok, ep := e.pinEpoch()
		h := e.holdAt(ep, time.Now())
		e.unpin(tok)
		for j := 0; j < 200; j++ {
			if c := e.cur.Load(); c > ep+1 {
				t.Fatalf("attempt %d: a hold at epoch %d, yet the epoch advanced to %d", i, ep, c)
			}
		}
		e.release(h)
	}
}

// Range ended by the DB's Close reported a nil error, which reads as the
// end of the range.
func TestRangeEndedByCloseReportsIt(t *testing.T) {
	db := openTest(t, filepath.Join(shmDir(t), "p"), smallOpts(DAXOff))
	for i := range 100 {
		mustPut(t, db, key(i), value(i, 0, 16))
	}
	var err error
	n := 0
	for range db.Range(nil, nil, &err) {
		if n++; n == 10 {
			if cerr := db.Close(); cerr != nil {
				t.Fatalf("Close: %v", cerr)
			}
		}
	}
	if n != 10 || !errors.Is(err, ErrClosed) {
		t.Fatalf("Range stopped after %d keys with error %v, want 10 and ErrClosed", n, err)
	}
}

// After the DB's Close an iterator still said Valid and handed out a key
// in the unmapped pool, which faults when read.
func TestIteratorNotValidAfterDBClose(t *testing.T) {
	db := openTest(t, filepath.Join(shmDir(t), "p"), smallOpts(DAXOff))
	for i := range 10 {
		mustPut(t, db, key(i), value(i, 0, 16))
	}
	it, err := db.NewIterator(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if !it.First() {
		t.Fatal("First")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var fault any
	k := it.Key()
	if k != nil {
		func() {
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			defer func() { fault = recover() }()
			_ = bytes.Clone(k)
		}()
	}
	if it.Valid() || k != nil || it.Value() != nil || !errors.Is(it.Error(), ErrClosed) {
		t.Fatalf("after the DB's Close: Valid %v, Key %d bytes (reading it: %v), Error %v", it.Valid(), len(k), fault, it.Error())
	}
}

// churnBatches applies, until the test ends, batches that write every one
// of n keys with the next version.
func churnBatches(t *testing.T, db *DB, n int) {
	b := db.NewBatch()
	for i := range n {
		b.Put(key(i), value(i, 0, 16))
	}
	if err := db.Apply(b); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for v := 1; !stop.Load(); v++ {
			b.Reset()
			for i := range n {
				b.Put(key(i), value(i, v, 16))
			}
			if err := db.Apply(b); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	t.Cleanup(func() { stop.Store(true); wg.Wait() })
}

func versionOf(v []byte) int {
	var ki, vi int
	fmt.Sscanf(string(v), "k=%d v=%d|", &ki, &vi)
	return vi
}

// A snapshot taken while the applier was part way through a batch (it
// applies changes in chunks of 16) held half of it. The clone now applies
// the queue itself up to a batch boundary.
func TestSnapshotHoldsWholeBatches(t *testing.T) {
	db := openTest(t, filepath.Join(shmDir(t), "p"), smallOpts(DAXOff))
	const n = 64
	churnBatches(t, db, n)
	deadline := time.Now().Add(reviewFor())
	for time.Now().Before(deadline) {
		s := db.NewSnapshot()
		seen := map[int]int{}
		for i := range n {
			v, err := s.Get(key(i))
			if err != nil {
				t.Fatal(err)
			}
			seen[versionOf(v)]++
		}
		s.Close()
		if len(seen) > 1 {
			t.Fatalf("one snapshot holds a batch in part: keys per version %v", seen)
		}
	}
}

// Lock-free Gets saw a batch in part: its hash updates were published one
// shard at a time, so a Get could find one key new and a later Get another
// key old. Lookups now retry while a batch is being published.
func TestGetSeesWholeBatches(t *testing.T) {
	db := openTest(t, filepath.Join(shmDir(t), "p"), smallOpts(DAXOff))
	const n = 500
	churnBatches(t, db, n)
	deadline := time.Now().Add(reviewFor())
	for time.Now().Before(deadline) {
		first := versionOf(mustGet(t, db, key(0))) // published first ...
		last := versionOf(mustGet(t, db, key(n-1)))
		if last < first { // ... so the last key could lag behind it
			t.Fatalf("Get(key 0) saw batch version %d, then Get(key %d) version %d: a batch visible in part", first, n-1, last)
		}
		runtime.Gosched()
	}
}

// A damaged key (its newest record on a bad block): DB.Get reports
// ErrCorrupt, and a snapshot reported ErrNotFound (the tree never held it),
// "absent" for a key that exists. Snapshots now copy the damaged keys.
func TestSnapshotReportsDamagedKeys(t *testing.T) {
	dir := shmDir(t)
	path := filepath.Join(dir, "pool")
	pages, _, damaged, _ := mediaPool(t, path, 600)
	opts := badMediaOpts(badPages(pages), pages)
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	k := key(damaged[0])
	_, dbErr := db.Get(k)
	s := db.NewSnapshot()
	defer s.Close()
	_, snapErr := s.Get(k)
	if !errors.Is(dbErr, ErrCorrupt) || !errors.Is(snapErr, ErrCorrupt) {
		t.Fatalf("damaged key %d: DB.Get = %v, Snapshot.Get = %v", damaged[0], dbErr, snapErr)
	}
}

// A bad block under the middle of a large value: DB.Get reports
// ErrCorrupt, but the iterator handed out the value after touching only its
// first and last line, and the caller's read of it faulted (a signal that
// kills the process; here turned into a panic by SetPanicOnFault so that
// the test can report it). decodePage now reads a byte of every page.
func TestIteratorReadsLongRecordsWhole(t *testing.T) {
	dir := shmDir(t)
	db := openTest(t, filepath.Join(dir, "p"), &Options{Size: 512 << 10, ChunkSize: 64 << 10, DAX: DAXEmulated})
	big := value(1, 0, 20000)
	mustPut(t, db, key(1), big)
	it0, _ := db.idx.lookup(key(1), hashKey(key(1)))
	page := (it0.off() + 8192) / 4096 * 4096 // inside the value, off its first and last page
	if err := db.m.Poison(page); err != nil {
		t.Fatal(err)
	}
	_, getErr := db.Get(key(1))
	it, err := db.NewIterator(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	ok := it.First()
	var fault any
	if ok {
		func() {
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			defer func() { fault = recover() }()
			_ = bytes.Clone(it.Value())
		}()
	}
	if fault != nil || ok || !errors.Is(getErr, ErrCorrupt) || !errors.Is(it.Error(), ErrCorrupt) {
		t.Fatalf("DB.Get: %v; iterator: First()=%v, Error()=%v, reading Value(): %v", getErr, ok, it.Error(), fault)
	}
}

// The pool file truncated underneath an open DB (the case the read path's
// guards exist for), at a page boundary inside the key of a record with an
// empty value: decode touches the record's first byte and its value's last
// byte (none here), so the iterator hands out a key that runs past the end
// of the file, and the caller's read of it faulted (SIGBUS), where DB.Get
// and DB.Scan (fn runs under the guard) return ErrCorrupt. Now the iterator
// reports ErrCorrupt too.
func TestIteratorKeyOnTruncatedPool(t *testing.T) {
	dir := shmDir(t)
	path := filepath.Join(dir, "p")
	db := openTest(t, path, smallOpts(DAXOff))
	long := bytes.Repeat([]byte{'k'}, MaxKeySize)
	mustPut(t, db, long, nil)
	it0, _ := db.idx.lookup(long, hashKey(long))
	cut := (it0.off() + 4096) / 4096 * 4096 // the key crosses it, the header is before it
	if it0.off()+recovery.HeaderSize > cut || it0.off()+recovery.HeaderSize+MaxKeySize <= cut {
		t.Skipf("record at %d does not cross a page boundary in its key", it0.off())
	}
	if err := os.Truncate(path, cut); err != nil {
		t.Fatal(err)
	}
	_, getErr := db.Get(long)
	scanErr := db.Scan(nil, nil, func(k, v []byte) error { _ = bytes.Clone(k); return nil })
	it, err := db.NewIterator(nil)
	if err != nil {
		t.Fatal(err)
	}
	ok := it.First()
	itErr := it.Error()
	var fault any
	if ok {
		func() {
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			defer func() { fault = recover() }()
			_ = bytes.Clone(it.Key())
		}()
	}
	it.Close()
	db.Close()
	os.Remove(path) // nothing for the cleanup's Check to reopen
	if fault != nil || ok || !errors.Is(itErr, ErrCorrupt) || !errors.Is(getErr, ErrCorrupt) || !errors.Is(scanErr, ErrCorrupt) {
		t.Fatalf("DB.Get: %v; DB.Scan: %v; iterator: First()=%v, Error()=%v, reading Key(): %v", getErr, scanErr, ok, itErr, fault)
	}
}

// A bad record in the middle of a page: Scan and the iterator hand out the
// keys before it, then stop with an error wrapping ErrCorrupt.
func TestBadRecordEndsIterationAfterTheGoodOnes(t *testing.T) {
	path := filepath.Join(shmDir(t), "p")
	db := openTest(t, path, &Options{Size: 512 << 10, ChunkSize: 64 << 10, DAX: DAXEmulated})
	putOneLarge(t, db, 20, 12)
	it0, _ := db.idx.lookup(key(12), hashKey(key(12)))
	if err := db.m.Poison((it0.off() + 8192) / 4096 * 4096); err != nil {
		t.Fatal(err)
	}
	seen := 0
	err := db.Scan(nil, nil, func(k, v []byte) error { seen++; return nil })
	if seen != 12 || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Scan visited %d keys (want the 12 before the bad one), error %v", seen, err)
	}
	it, err := db.NewIterator(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	seen = 0
	for ok := it.First(); ok; ok = it.Next() {
		if !bytes.Equal(it.Key(), key(seen)) {
			t.Fatalf("iterator at %d: key %q", seen, it.Key())
		}
		seen++
	}
	if seen != 12 || !errors.Is(it.Error(), ErrCorrupt) {
		t.Fatalf("the iterator visited %d keys (want 12), error %v", seen, it.Error())
	}
	if it.SeekGE(key(15)) || !errors.Is(it.Error(), ErrCorrupt) {
		t.Fatal("the error is not sticky")
	}
	db.Close()
	os.Remove(path) // the poisoned page is not on the file: nothing to check
}
