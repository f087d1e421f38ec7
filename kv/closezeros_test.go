package kv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/daxkv/daxkv/internal/seam"
)

// zeroOrFault reads the slices and returns the panic a fault caused, or
// nil, and whether every byte read was zero.
func zeroOrFault(bs ...[]byte) (fault any, zero bool) {
	zero = true
	fault = faultOf(func() {
		for _, b := range bs {
			zero = zero && bytes.Count(b, []byte{0}) == len(b)
		}
	})
	return fault, zero
}

// The DB's Close with iterators and a snapshot open: the keys and values
// they handed out read zeros instead of faulting, until the last of them
// is closed; then the pool's address range is given back.
func TestSlicesOfOpenIteratorsReadZerosAfterClose(t *testing.T) {
	db := openTest(t, filepath.Join(shmDir(t), "p"), smallOpts(DAXEmulated))
	for i := 0; i < 100; i++ {
		mustPut(t, db, key(i), value(i, 0, 40))
	}
	it, _ := db.NewIterator(nil)
	it.First()
	k, v := it.Key(), it.Value()
	snap := db.NewSnapshot()
	onSnap, _ := snap.NewIterator(nil)
	onSnap.Last()
	k2, v2 := onSnap.Key(), onSnap.Value()
	if !bytes.Equal(k, key(0)) || !bytes.Equal(k2, key(99)) {
		t.Fatalf("keys %q and %q", k, k2)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		if fault, zero := zeroOrFault(k, v, k2, v2); fault != nil || !zero {
			t.Fatalf("%s: reading slices handed out before the DB's Close: fault %v, all zeros %v", when, fault, zero)
		}
	}
	check("after the DB's Close")
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	check("after one iterator's Close")
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}
	check("after the snapshot's Close, its iterator still open")
	if err := onSnap.Close(); err != nil {
		t.Fatal(err)
	}
	if fault, _ := zeroOrFault(k[:1]); fault == nil {
		t.Fatal("the pool's range is still mapped after the last iterator's Close")
	}
}

// With no snapshot or iterator open, the DB's Close gives the pool's
// range back at once: a slice kept past its iterator's Close faults.
func TestCloseWithNothingOpenGivesTheRangeBack(t *testing.T) {
	db := openTest(t, filepath.Join(shmDir(t), "p"), smallOpts(DAXEmulated))
	mustPut(t, db, key(1), value(1, 0, 40))
	it, _ := db.NewIterator(nil)
	it.First()
	k := it.Key()
	it.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if fault, _ := zeroOrFault(k[:1]); fault == nil {
		t.Fatal("the pool's range is still mapped after the DB's Close")
	}
}

// gone reports whether the pool range a slice of it lies in was given
// back: reading its first byte faults.
func gone(b []byte) bool {
	fault, _ := zeroOrFault(b[:1])
	return fault != nil
}

// A read-only DB, and a DB failed by a write error, keep the same rule:
// an open iterator's slices read zeros after Close (which reports
// ErrFailed for the failed one), until the iterator is closed.
func TestOpenIteratorsOfReadOnlyAndFailedDBsReadZeros(t *testing.T) {
	for _, kind := range []string{"read-only", "failed"} {
		t.Run(kind, func(t *testing.T) {
			path := filepath.Join(shmDir(t), "p")
			db := openTest(t, path, smallOpts(DAXEmulated))
			for i := 0; i < 50; i++ {
				mustPut(t, db, key(i), value(i, 0, 40))
			}
			want := error(nil)
			if kind == "read-only" {
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				o := smallOpts(DAXEmulated)
				o.ReadOnly = true
				db = openTest(t, path, o)
			}
			it, _ := db.NewIterator(nil)
			it.First()
			k, v := it.Key(), it.Value()
			if kind == "failed" {
				db.fail(errors.New("an injected write error"))
				want = ErrFailed
			}
			if err := db.Close(); !errors.Is(err, want) {
				t.Fatalf("Close: %v, want %v", err, want)
			}
			if fault, zero := zeroOrFault(k, v); fault != nil || !zero {
				t.Fatalf("after Close: fault %v, all zeros %v", fault, zero)
			}
			it.Close()
			if !gone(k) {
				t.Fatal("the range is still mapped after the iterator's Close")
			}
		})
	}
}

// The last iterator closed inside the DB's Close, after its holds became
// ghosts and before the zero pages (at the checkpoint seam): the range
// still goes back.
func TestLastIteratorClosedInsideClose(t *testing.T) {
	o := smallOpts(DAXEmulated)
	var it *Iterator
	fired := false
	o.hooks = &seam.Hooks{At: func(p seam.Point) {
		if p == seam.Checkpoint && it != nil {
			fired = true
			it.Close()
		}
	}}
	db := openTest(t, filepath.Join(shmDir(t), "p"), o)
	for i := 0; i < 50; i++ {
		mustPut(t, db, key(i), value(i, 0, 40))
	}
	it, _ = db.NewIterator(nil)
	it.First()
	k := it.Key()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if !fired {
		t.Fatal("Close did not reach the checkpoint seam")
	}
	if !gone(k) {
		t.Fatal("the range is still mapped: the last ghost's release was lost")
	}
}

// The DB's Close racing goroutines that open and close iterators and
// snapshots and read what they hand out: no read of an open iterator's
// slices faults, and once all are closed the range is given back.
func TestCloseRacesIteratorsAndSnapshots(t *testing.T) {
	dir := shmDir(t)
	for round := 0; round < 60; round++ {
		path := filepath.Join(dir, fmt.Sprintf("p%d", round))
		db := openTest(t, path, smallOpts(DAXEmulated))
		for i := 0; i < 20; i++ {
			mustPut(t, db, key(i), value(i, 0, 40))
		}
		probe, _ := db.NewIterator(nil)
		probe.First()
		k0 := probe.Key()
		probe.Close()
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := 0; g < 3; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				<-start
				for n := 0; n < 200; n++ {
					switch (g + n) % 3 {
					case 0:
						it, err := db.NewIterator(nil)
						if err != nil {
							return
						}
						it.First()
						k := it.Key()
						time.Sleep(time.Duration(n%4) * 50 * time.Microsecond) // open across the Close, often
						if fault, _ := zeroOrFault(k); fault != nil {
							t.Errorf("a fault reading an open iterator's key: %v", fault)
						}
						it.Close()
					case 1:
						s := db.NewSnapshot()
						it, err := s.NewIterator(nil)
						s.Close()
						if err == nil {
							it.Last()
							if fault, _ := zeroOrFault(it.Value()); fault != nil {
								t.Errorf("a fault reading an open iterator's value: %v", fault)
							}
							it.Close()
						}
					case 2:
						s := db.NewSnapshot()
						s.Get(key(n % 20))
						s.Close()
					}
				}
			}(g)
		}
		close(start)
		time.Sleep(time.Duration(round%8) * 200 * time.Microsecond)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if !gone(k0) {
			t.Fatalf("round %d: the range is still mapped with every iterator and snapshot closed", round)
		}
		os.Remove(path)
		os.Remove(CheckpointPath(path))
	}
}
