package kv

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/daxkv/daxkv/daxmap"
)

// A bad block the kernel lists is never handed out again. A bad page in the
// slack of a run's last chunk (past the record's bytes, inside its extent)
// is not on the record, so the run reads whole; once the run is deleted its
// extent stays out of the allocator (it came back as whole free chunks,
// bad page included, and the next run faulted on it).
func TestBadPageInRunSlackNotReused(t *testing.T) {
	const chunk = 64 << 10
	path := filepath.Join(shmDir(t), "bad.pool")
	db, err := Open(path, &Options{Size: 4 * chunk, ChunkSize: chunk, DAX: DAXEmulated, NoAutoCompact: true})
	if err != nil {
		t.Fatal(err)
	}
	v := runValue(1, 0, chunk+100) // a two-chunk run, its second chunk nearly all slack
	mustPut(t, db, []byte("run"), v)
	it, _ := db.idx.lookup([]byte("run"), hashKey([]byte("run")))
	runOff := it.off()
	mustPut(t, db, []byte("small"), []byte("x"))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	bad := runOff + chunk + chunk/2 // in the slack of the run's last chunk
	opts := badMediaOpts([]daxmap.Range{{Off: bad, Len: 4096}}, []int64{bad})
	opts.NoAutoCompact = true
	db = openTest(t, path, opts)
	if got := mustGet(t, db, []byte("run")); !bytes.Equal(got, v) {
		t.Fatal("run reads back wrong")
	}
	if err := db.Delete([]byte("run")); err != nil {
		t.Fatal(err)
	}
	db.reclaimAll()
	for _, off := range db.al.NextChunks(1 << 20) {
		if off <= bad && bad < off+chunk {
			t.Errorf("chunk at %d, holding the known bad page at %d, is on the free-chunk stack", off, bad)
		}
	}
	// The next run takes the lowest free chunks: the bad page's.
	if err := db.Put([]byte("run2"), runValue(2, 0, chunk+chunk/2+8192)); err != nil {
		t.Fatalf("Put of a run after the one beside the bad page was deleted: %v", err)
	}
}
