package kv

import (
	"bytes"
	"path/filepath"
	"testing"
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
