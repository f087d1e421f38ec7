package kv

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/recovery"
)

// Regression test of a review finding, since fixed; the defect was:
//
// A run's slack holds what its chunks held before: here the value of a
// longer run, since deleted, whose bytes held a header image. A bad block
// the kernel lists in that slack (TestBadPageInRunSlackNotReused's case)
// under the image's value makes the scan take the image for a Damaged
// record with a higher sequence number, which beats the run: an
// acknowledged run, every byte of which reads, is lost at the next open.
func TestRunSlackImageSparesRun(t *testing.T) {
	const chunk = 64 << 10
	path := filepath.Join(shmDir(t), "slack.pool")
	db, err := Open(path, &Options{Size: 4 * chunk, ChunkSize: chunk, DAX: DAXEmulated, NoAutoCompact: true})
	if err != nil {
		t.Fatal(err)
	}
	k := []byte("run")
	old := runValue(1, 0, chunk+30000)
	// An image 8 KiB - 64 into the run's second chunk.
	at := chunk + 8192 - 64 - recovery.HeaderSize - len(k)
	headerImage(old[at:], "stale", 1<<30, 1000)
	mustPut(t, db, k, old)
	it, _ := db.idx.lookup(k, hashKey(k))
	oldOff := it.off()
	if err := db.Delete(k); err != nil {
		t.Fatal(err)
	}
	db.reclaimAll()
	v := runValue(1, 1, chunk+4000) // ends 4 KiB into its second chunk
	mustPut(t, db, k, v)
	it, _ = db.idx.lookup(k, hashKey(k))
	runOff := it.off()
	if runOff != oldOff {
		t.Skipf("the new run took other chunks (%d, not %d)", runOff, oldOff)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	bad := runOff + chunk + 8192 // in the run's slack, under the image's value
	opts := badMediaOpts([]daxmap.Range{{Off: bad, Len: 4096}}, []int64{bad})
	opts.NoAutoCompact = true
	db = openTest(t, path, opts)
	got, err := db.Get(k)
	if err != nil || !bytes.Equal(got, v) {
		st := db.Stats()
		t.Errorf("Get(run), whose bytes all read, after a reopen with a bad block in its slack: %d bytes, %v (damaged keys %d, discarded %d)",
			len(got), err, st.DamagedKeys, st.DiscardedRecords)
	}
}
