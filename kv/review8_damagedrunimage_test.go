package kv

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/recovery"
)

// Regression test of a review finding, since fixed; the defect was:
//
// A run's value may hold anything: here the bytes of a header of another
// key ("victim") with a high sequence number. When a bad block then falls
// inside the run's value (the run is damaged: fine, its key reads
// ErrCorrupt), the scan parses the damaged run's continuation chunks from
// their start, takes the header image (whose bytes meet the same bad
// block) for a Damaged record of "victim" that outranks the real one, and
// frees the real one: an acknowledged write of a key none of whose bytes
// lie on the bad block is lost, and the run's own key vanishes instead of
// being reported damaged.
func TestDamagedRunImageSparesOtherKey(t *testing.T) {
	const chunk = 64 << 10
	path := filepath.Join(shmDir(t), "img.pool")
	db, err := Open(path, &Options{Size: 2 * chunk, ChunkSize: chunk, DAX: DAXEmulated, NoAutoCompact: true})
	if err != nil {
		t.Fatal(err)
	}
	victim, victimVal := []byte("victim"), []byte("acknowledged value")
	mustPut(t, db, victim, victimVal)
	k := []byte("run")
	v := runValue(3, 0, 2*chunk+1000) // chunks r, r+1, r+2
	// An image 4 KiB - 64 into the run's second chunk (the run starts on a
	// chunk boundary, so the place in v is known): header and key in that
	// page, its value reaching into the next one.
	at := chunk + 4096 - 64 - recovery.HeaderSize - len(k)
	headerImage(v[at:], string(victim), 1<<30, 2000)
	mustPut(t, db, k, v)
	it, _ := db.idx.lookup(k, hashKey(k))
	runOff := it.off()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	bad := runOff + chunk + 4096 // inside the run's value, and the image's
	opts := badMediaOpts([]daxmap.Range{{Off: bad, Len: 4096}}, []int64{bad})
	opts.NoAutoCompact = true
	db = openTest(t, path, opts)
	st := db.Stats()
	got, err := db.Get(victim)
	if err != nil || !bytes.Equal(got, victimVal) {
		t.Errorf("Get(victim) after a bad block appeared inside another key's run: %q, %v (damaged keys %d, discarded %d)",
			got, err, st.DamagedKeys, st.DiscardedRecords)
	}
	if _, err := db.Get(k); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Get(run) with a bad block in its value: %v; want ErrCorrupt (the key damaged, not gone)", err)
	}
}
