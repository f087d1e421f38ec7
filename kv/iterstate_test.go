package kv

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Valid, Key, Value and Error after every way an iterator stops: its own
// Close while positioned, a sticky decode error (also after Close), the
// DB's Close, a snapshot's Close under an iterator.
func TestIteratorStateAfterStops(t *testing.T) {
	check := func(what string, it *Iterator, wantErr error) {
		t.Helper()
		if it.Valid() || it.Key() != nil || it.Value() != nil {
			t.Fatalf("%s: Valid %v Key %q Value %q", what, it.Valid(), it.Key(), it.Value())
		}
		if !errors.Is(it.Error(), wantErr) {
			t.Fatalf("%s: Error %v, want %v", what, it.Error(), wantErr)
		}
		if it.Next() || it.Prev() || it.First() || it.Last() || it.SeekGE(key(3)) || it.SeekLT(key(3)) || it.Valid() {
			t.Fatalf("%s: a move succeeded", what)
		}
	}
	path := filepath.Join(shmDir(t), "p")
	db := openTest(t, path, &Options{Size: 512 << 10, ChunkSize: 64 << 10, DAX: DAXEmulated})
	putOneLarge(t, db, 20, 12)
	it, _ := db.NewIterator(nil)
	it.SeekGE(key(5))
	it.Close()
	check("own Close while positioned", it, ErrClosed)

	snap := db.NewSnapshot()
	its, _ := snap.NewIterator(nil)
	its.SeekGE(key(5))
	snap.Close()
	if !its.Valid() || !its.Next() || string(its.Key()) != string(key(6)) {
		t.Fatalf("iterator after its snapshot's Close: %v %q %v", its.Valid(), its.Key(), its.Error())
	}

	it0, _ := db.idx.lookup(key(12), hashKey(key(12)))
	if err := db.m.Poison((it0.off() + 8192) / 4096 * 4096); err != nil {
		t.Fatal(err)
	}
	ite, _ := db.NewIterator(nil)
	for ok := ite.SeekGE(key(11)); ok; ok = ite.Next() {
	}
	check("after a bad record", ite, ErrCorrupt)
	// Turn around at the bad record: Prev after the error is refused too.
	ite2, _ := db.NewIterator(nil)
	ite2.SeekGE(key(10))
	ite2.Next()
	if ite2.Next() || ite2.Valid() {
		t.Fatal("moved onto the bad record")
	}
	check("moved onto a bad record", ite2, ErrCorrupt)
	ite2.Close()
	if ite2.Valid() || !errors.Is(ite2.Error(), ErrCorrupt) {
		t.Fatalf("after Close of a failed iterator: %v %v", ite2.Valid(), ite2.Error())
	}

	itd, _ := db.NewIterator(nil)
	itd.SeekLT(key(5))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); db.Close() }()
	wg.Wait()
	check("DB's Close", itd, ErrClosed)
	check("snapshot iterator after the DB's Close", its, ErrClosed)
	ite.Close()
	itd.Close()
	its.Close()
	os.Remove(path)
}
