package kv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/recovery"
)

// Regression tests from the adversarial review of the renovation; each
// failed on the code before its fix.

// TestScanBoundsLongerThan64KiB: Scan's bounds are arbitrary byte strings
// (only stored keys are limited to MaxKeySize). The probe items of bounds
// kept their length in the ref's 16 bits, so a bound of 64 KiB or more got
// a wrapped length, and since the one key order trusts lengths after the
// tails, a stored key that is a prefix of the bound compared equal or
// greater: Scan(nil, end) dropped keys below end, Scan(start, nil)
// returned keys below start. (Found by the review of the renovation.)
func TestScanBoundsLongerThan64KiB(t *testing.T) {
	db := openTest(t, filepath.Join(shmDir(t), "pool"), smallOpts(DAXEmulated))
	var keys [][]byte
	for i := 0; i < 5; i++ {
		k := fmt.Appendf(nil, "key-%d-with-a-tail", i) // 17 bytes, longer than the 16-byte prefix
		keys = append(keys, k)
		mustPut(t, db, k, []byte("v"))
		short := fmt.Appendf(nil, "s%d", i)
		keys = append(keys, short)
		mustPut(t, db, short, []byte("v"))
	}
	pad := func(k []byte, n int) []byte { return append(bytes.Clone(k), make([]byte, n-len(k))...) }
	for _, tc := range []struct {
		name       string
		start, end []byte
	}{
		{"end = key-2... zero padded to 64 KiB", nil, pad([]byte("key-2-with-a-tail"), 1<<16)},
		{"end = s3 zero padded to 64 KiB", nil, pad([]byte("s3"), 1<<16)},
		{"start = key-2... zero padded to 64 KiB", pad([]byte("key-2-with-a-tail"), 1<<16), nil},
		{"start = s3 zero padded to 64 KiB + 2", pad([]byte("s3"), 1<<16+2), nil},
	} {
		var want, got []string
		for _, k := range keys {
			if (tc.start == nil || bytes.Compare(k, tc.start) >= 0) && (tc.end == nil || bytes.Compare(k, tc.end) < 0) {
				want = append(want, string(k))
			}
		}
		err := db.Scan(tc.start, tc.end, func(k, v []byte) error {
			got = append(got, string(k))
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		slices.Sort(want)
		if !slices.Equal(want, got) {
			t.Errorf("%s: Scan returned %q, want %q", tc.name, got, want)
		}
	}
}

// TestReadOnlyCheckSeesWhatWritersRefuse: a pool with a valid large record
// at an offset the allocator never produces (not page aligned) is refused
// by every writable Open as corrupt; the read-only Check that daxkv check
// runs reported it clean, since only the writable recovery validated
// extents. recovery.Check now validates every record's extent. (Found by
// the review of the renovation.)
func TestReadOnlyCheckSeesWhatWritersRefuse(t *testing.T) {
	dir := shmDir(t)
	path := filepath.Join(dir, "pool")
	db, err := Open(path, smallOpts(DAXEmulated))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		mustPut(t, db, key(i), value(i, 0, 50))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	img, sb := poolImage(t, path)
	// A large record (> alloc.SmallMax, so its extent must be page aligned)
	// placed 64 bytes into chunk 1, which is all free.
	k, v := []byte("crafted"), make([]byte, 5000)
	size := recovery.RecordSize(len(k), len(v))
	at := int64(-1)
	for off := int64(recovery.HeapStart) + 64; off+size+64 <= int64(len(img)) && at < 0; off += 4096 {
		if off/(64<<10) != (off+size+64)/(64<<10) {
			continue
		}
		free := true
		for _, b := range img[off-64 : off+size+64] {
			if b != 0 {
				free = false
				break
			}
		}
		if free {
			at = off
		}
	}
	if at < 0 {
		t.Fatal("no free spot")
	}
	t.Logf("crafted record at offset %d (not page aligned)", at)
	recovery.NewCodec(&sb).Write(nopPersister{}, img[at:at+size], at, recovery.TagLive, 1, 0, k, v)
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}

	// A writable open refuses the pool.
	if wdb, err := Open(path, smallOpts(DAXEmulated)); err == nil {
		wdb.Close()
		t.Fatal("writable open accepted the crafted pool; the premise does not hold")
	} else if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("writable open: %v, want ErrCorrupt", err)
	} else {
		t.Logf("writable Open: %v", err)
	}

	// What `daxkv check` does: a read-only open, then Check.
	ro := smallOpts(DAXEmulated)
	ro.ReadOnly = true
	rdb, err := Open(path, ro)
	if err != nil {
		t.Logf("read-only open refused it too: %v", err)
		return
	}
	defer rdb.Close()
	if err := rdb.Check(); err == nil {
		t.Errorf("read-only Check reports a pool clean that every writable Open refuses as corrupt")
	}
	rep, err := recovery.Check(img, int64(len(img))/(64<<10)*(64<<10), recovery.Scan{Workers: 1})
	if err == nil && len(rep.Problems) == 0 {
		t.Errorf("recovery.Check: no problems for the same pool (%d keys)", rep.Keys)
	}
}

// TestReadOnlyCheckOfATornSuperblockUpdate: a power failure during a
// superblock update (here the sequence-number lease, written every
// SeqLease writes) leaves the copy being written torn; the other copy
// wins, and the next writable open rewrites the torn copy. That is a crash
// leftover like a committed log slot, and the read-only check must not call
// it a problem. (Found by the review of the renovation.)
func TestReadOnlyCheckOfATornSuperblockUpdate(t *testing.T) {
	dir := shmDir(t)
	path, crashed := filepath.Join(dir, "pool"), filepath.Join(dir, "crashed")
	var sim *flush.Sim
	label := seam.Point("")
	taken := false
	opts := smallOpts(DAXEmulated)
	opts.hooks = &seam.Hooks{
		SeqLease: 4,
		At:       func(p seam.Point) { label = p },
		WrapPersister: func(inner flush.Persister, mapped func() []byte) flush.Persister {
			sim = flush.NewSim(flush.SimCPU, mapped)
			sim.OnDrain = func(s *flush.Sim) {
				if label != seam.SeqLease || taken {
					return
				}
				dirty := s.Dirty()
				if len(dirty) != 2 {
					t.Errorf("lease write: %d dirty lines %v, want the 2 of one superblock copy", len(dirty), dirty)
					return
				}
				taken = true
				// The power fails with the copy's first line written back
				// and its second (the checksum's) not.
				img := s.Image(dirty[:1], flush.TearLines, nil)
				if err := os.WriteFile(crashed, img, 0o600); err != nil {
					t.Error(err)
				}
			}
			return sim
		},
	}
	db := openTest(t, path, opts)
	for i := 0; !taken && i < 100; i++ {
		mustPut(t, db, key(i), value(i, 0, 40))
	}
	if !taken {
		t.Fatal("no lease write seen")
	}

	ro := smallOpts(DAXEmulated)
	ro.ReadOnly = true
	rdb, err := Open(crashed, ro)
	if err != nil {
		t.Fatal(err)
	}
	roErr := rdb.Check()
	rdb.Close()

	wdb, err := Open(crashed, smallOpts(DAXEmulated))
	if err != nil {
		t.Fatal(err)
	}
	wErr := wdb.Check()
	wdb.Close()
	if wErr != nil {
		t.Fatalf("writable open + Check: %v", wErr)
	}
	if roErr != nil {
		t.Errorf("read-only Check (what `daxkv check` runs) of a pool a crash left mid superblock update fails, though the next writable open settles it and checks clean: %v", roErr)
	}
}

// TestCrashCanLeaveOverlappingRecords: a Put frees the superseded record
// lazily (flushed, not fenced), and allocate reclaims limbo and reuses the
// extent at once, with no fence in between. An Apply then writes several records into the reused
// extent before its fence, one of them in the slack of the old large
// record's page-rounded extent. A power failure at that fence can keep the
// old record (its free not yet durable), the commit entry and the slack
// record, but not the records over the old one's bytes: two valid
// overlapping records in a pool that is not damaged at all. Recovery keeps
// the higher sequence number, and the read-only check must not call the
// crash image corrupt. (Found by the review of the renovation, which also
// corrected FORMAT.md's claim that only damage makes overlaps.)
func TestCrashCanLeaveOverlappingRecords(t *testing.T) {
	dir := shmDir(t)
	path, crashed := filepath.Join(dir, "pool"), filepath.Join(dir, "crashed")
	var sim *flush.Sim
	label := seam.Point("")
	var oldOff, oldSize int64 = -1, 0
	taken := false
	opts := &Options{Size: 64 << 10, MaxSize: 64 << 10, ChunkSize: 64 << 10, DAX: DAXEmulated}
	opts.hooks = &seam.Hooks{
		At: func(p seam.Point) { label = p },
		WrapPersister: func(inner flush.Persister, mapped func() []byte) flush.Persister {
			sim = flush.NewSim(flush.SimCPU, mapped)
			sim.OnDrain = func(s *flush.Sim) {
				if label != seam.BatchCommit || taken || oldOff < 0 {
					return
				}
				taken = true
				// Every line the batch wrote reaches the media except
				// those of the old record's bytes (its free among them).
				var take []int64
				for _, u := range s.Dirty() {
					if u < oldOff || u >= oldOff+oldSize {
						take = append(take, u)
					}
				}
				img := s.Image(take, flush.TearLines, nil)
				if err := os.WriteFile(crashed, img, 0o600); err != nil {
					t.Error(err)
				}
			}
			return sim
		},
	}
	db := openTest(t, path, opts)
	big := key(0)
	mustPut(t, db, big, value(0, 0, 4100)) // a 4160-byte record in an 8 KiB extent
	it, ok := db.idx.lookup(big, hashKey(big))
	if !ok {
		t.Fatal("big key not found")
	}
	off := it.off()
	// Fill the pool with 128-byte records of other keys until it is full.
	n := 1
	for ; ; n++ {
		if err := db.Put(key(n), value(n, 0, 88)); err != nil {
			if !strings.Contains(err.Error(), "space") && !strings.Contains(err.Error(), "MaxSize") {
				t.Logf("fill stopped at %d: %v", n, err)
			}
			break
		}
	}
	t.Logf("big record at %d; pool full after %d small records", off, n-1)
	// Room for the big key's new, small version: delete one small key.
	if err := db.Delete(key(1)); err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, big, value(0, 1, 88)) // releases the big record: freed lazily, retired
	oldOff, oldSize = off, recovery.RecordSize(len(big), 4100)
	b := db.NewBatch()
	for i := 0; i < 40; i++ {
		b.Put(key(100000+i), value(100000+i, 0, 88))
	}
	if err := db.Apply(b); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !taken {
		t.Fatal("no crash image taken")
	}

	img, err := os.ReadFile(crashed)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := recovery.Check(img, 64<<10, recovery.Scan{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recovery.Check of the crash image: problems %q", rep.Problems)

	// The image is a legitimate crash: a writable open recovers it to the
	// state before the (unacknowledged) batch, and checks clean.
	wimg := filepath.Join(dir, "w")
	if err := os.WriteFile(wimg, img, 0o600); err != nil {
		t.Fatal(err)
	}
	wdb, err := Open(wimg, &Options{ChunkSize: 64 << 10, DAX: DAXEmulated})
	if err != nil {
		t.Fatal(err)
	}
	v, err := wdb.Get(big)
	if err != nil || checkValue(0, v) != nil || len(v) != 88 {
		t.Errorf("writable open: big key = %d bytes, %v", len(v), err)
	}
	if _, err := wdb.Get(key(100000)); err == nil {
		t.Errorf("writable open: a record of the uncommitted batch is visible")
	}
	if err := wdb.Check(); err != nil {
		t.Errorf("writable open + Check: %v", err)
	}
	wdb.Close()

	ro := &Options{ChunkSize: 64 << 10, DAX: DAXEmulated, ReadOnly: true}
	rdb, err := Open(crashed, ro)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if err := rdb.Check(); err != nil {
		t.Errorf("read-only Check (daxkv check) of a legitimate crash image: %v", err)
	}
}
