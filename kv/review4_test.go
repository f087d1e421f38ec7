package kv

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
