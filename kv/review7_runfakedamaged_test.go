package kv

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/recovery"
)

// A run's value may hold anything, record images included (a stored pool
// file, a backup). The scan never parses a verified run's bytes: a header
// image in them whose extent meets a known bad block in the run's slack
// (so that it would be taken as a Damaged record, unverified, with a
// higher sequence number) used to make recovery drop the run and free it
// on the media.
func TestRunValueBytesNotTakenForRecords(t *testing.T) {
	const chunk = 64 << 10
	path := filepath.Join(shmDir(t), "fake.pool")
	db, err := Open(path, &Options{Size: 2 * chunk, ChunkSize: chunk, DAX: DAXEmulated, NoAutoCompact: true})
	if err != nil {
		t.Fatal(err)
	}
	k := []byte("run")
	// The record ends 8 KiB into its second chunk: 24 + 3 + len(v) = 72 KiB.
	v := runValue(7, 0, chunk+8192-recovery.HeaderSize-len(k))
	// Bytes that look like a header 4 KiB into the second chunk (the run
	// starts on a chunk boundary, so the place in v is known): live tag, a
	// high sequence number, a 4-byte key, and a length reaching 16 KiB into
	// the chunk, past the record's end, into its slack.
	at := chunk + 4096 - recovery.HeaderSize - len(k)
	headerImage(v[at:], "fake", 1<<30, 16384-4096+512-recovery.HeaderSize-4)
	mustPut(t, db, k, v)
	it, _ := db.idx.lookup(k, hashKey(k))
	runOff := it.off()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	bad := runOff + chunk + 16384 // in the slack of the run's last chunk, not on the record
	opts := badMediaOpts([]daxmap.Range{{Off: bad, Len: 4096}}, []int64{bad})
	opts.NoAutoCompact = true
	db = openTest(t, path, opts)
	got, err := db.Get(k)
	if err != nil || !bytes.Equal(got, v) {
		t.Fatalf("a run whose every byte is readable, after a reopen with a bad block in its slack: %d bytes, %v (damaged keys %d, discarded %d)",
			len(got), err, db.Stats().DamagedKeys, db.Stats().DiscardedRecords)
	}
}
