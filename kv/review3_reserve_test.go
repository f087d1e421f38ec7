package kv

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/recovery"
)

// TestReview3DamagedLargeRecordTailReused: a large record (extent rounded to whole
// pages) whose value meets a 512-byte bad sector is damaged; recovery
// Reserves only its record bytes, not its page-rounded extent, so the tail
// of the extent is handed out. A record written there overlaps the damaged
// one's extent at the next scan, and the overlap rule drops the (older)
// damaged record: the damaged key silently vanishes (ErrNotFound) instead
// of staying ErrCorrupt.
func TestReview3DamagedLargeRecordTailReused(t *testing.T) {
	dir := shmDir(t)
	path := filepath.Join(dir, "pool")
	big := []byte("big-key")
	db, err := Open(path, &Options{Size: 256 << 10, ChunkSize: 64 << 10, DAX: DAXEmulated})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, big, value(0, 0, 5000))
	it, ok := db.idx.lookup(big, hashKey(big))
	if !ok {
		t.Fatal("lost")
	}
	off := it.off()
	h, _ := recovery.ReadHeader(db.m.Bytes(), off)
	t.Logf("big record at %d, size %d", off, h.Size())
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	bad := []daxmap.Range{{Off: off + 4096, Len: 512}}
	opts := badMediaOpts(bad, nil)
	db, err = Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get(big); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("precondition: big key should be damaged: %v", err)
	}
	inTail := 0
	for i := 0; i < 5000; i++ {
		mustPut(t, db, key(i), value(i, 0, 40))
		it, _ := db.idx.lookup(key(i), hashKey(key(i)))
		if o := it.off(); o > off && o < off+8192 {
			inTail++
		}
	}
	t.Logf("%d small records placed inside the damaged record's page extent [%d,%d)", inTail, off, off+8192)
	db = reopen(t, db, path, opts)
	defer db.Close()
	for i := 0; i < 5000; i++ {
		if _, err := db.Get(key(i)); err != nil {
			t.Errorf("key %d: %v", i, err)
		}
	}
	if _, err := db.Get(big); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged key after reopen: Get = %v, want ErrCorrupt (never written or deleted)", err)
	}
	for i := 0; i < 5000; i++ {
		if _, err := db.Get(key(i)); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
}
