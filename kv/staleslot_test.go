package kv

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/recovery"
)

// TestStaleSlotWordsCannotCommitAPartialBatch: a release before this one
// cleared only a log slot's sequence word, leaving the count and check
// words of the batch that used it; and a pool written with its floor (before
// the sequence lease) can hand a number out again after a crash, when
// nothing on the media carries it any more. A batch of 3 records that got
// the reused number and the same slot writes check, count and seq, each its
// own 8-byte store, under the one fence that also covers its records: a
// crash that keeps only the new seq word left a slot that validated with
// the stale count 2, and with 2 of the 3 records durable recovery committed
// a partial batch. The open now clears every slot whole (and ClearCommit
// clears all three words). Found by a review, which wrote this test.
func TestStaleSlotWordsCannotCommitAPartialBatch(t *testing.T) {
	dir := shmDir(t)
	path := filepath.Join(dir, "pool")

	// Session 1: legacy floor (an old release). Put, a 2-record batch,
	// deletes of both its keys, then power off (durable image only).
	var sim1 *flush.Sim
	o1 := &Options{ChunkSize: 64 << 10, DAX: DAXEmulated, NoAutoCompact: true}
	o1.hooks = &seam.Hooks{
		LegacyFloor: true,
		WrapPersister: func(inner flush.Persister, mapped func() []byte) flush.Persister {
			sim1 = flush.NewSim(flush.SimCPU, mapped)
			return sim1
		},
	}
	db1, err := Open(path, o1)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db1, key(0), value(0, 0, 100))
	b0 := db1.NewBatch()
	b0.Put(key(1), value(1, 0, 100))
	b0.Put(key(2), value(2, 0, 100))
	if err := db1.Apply(b0); err != nil {
		t.Fatal(err)
	}
	// The batch took slot 0 (the first free) and sequence number s0; the
	// slot is cleared now. A release before this one cleared only its
	// sequence word: put its count and check words back, as it left them.
	slot0 := 0
	s0 := db1.seq.Load()
	for _, k := range [][]byte{key(1), key(2)} {
		if err := db1.Delete(k); err != nil {
			t.Fatal(err)
		}
	}
	img1 := sim1.Durable()
	db1.Close()
	off := recovery.LogOffset + slot0*recovery.LogSlotSize
	if binary.LittleEndian.Uint64(img1[off:]) != 0 || binary.LittleEndian.Uint64(img1[off+8:]) != 0 {
		t.Fatal("the batch's slot is not cleared whole")
	}
	db1.codec.WriteCommit(nopPersister{}, img1, slot0, s0, 2)
	binary.LittleEndian.PutUint64(img1[off:], 0)
	if err := os.WriteFile(path, img1, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("session 1: batch seq %d in slot %d", s0, slot0)

	// Session 2: the current release opens the crashed pool and applies a
	// 3-record batch; at its one fence, the image keeps two records and the
	// new seq word of the slot only.
	var sim2 *flush.Sim
	label := seam.Point("")
	var partial []byte
	var seq1 uint64
	slot1 := -1
	o2 := &Options{ChunkSize: 64 << 10, DAX: DAXEmulated, NoAutoCompact: true}
	o2.hooks = &seam.Hooks{
		At: func(p seam.Point) { label = p },
		WrapPersister: func(inner flush.Persister, mapped func() []byte) flush.Persister {
			sim2 = flush.NewSim(flush.SimCPU, mapped)
			sim2.OnDrain = func(s *flush.Sim) {
				if label != seam.BatchCommit || partial != nil {
					return
				}
				m := mapped()
				for sl := 0; sl < recovery.LogSlots; sl++ {
					off := recovery.LogOffset + sl*recovery.LogSlotSize
					if q := binary.LittleEndian.Uint64(m[off:]); q != 0 {
						slot1, seq1 = sl, q
					}
				}
				slotLine := int64(recovery.LogOffset + slot1*recovery.LogSlotSize)
				var take []int64
				var heap []int64
				for _, u := range s.Dirty() {
					switch {
					case u == slotLine:
					case u >= recovery.HeapStart:
						heap = append(heap, u)
					default:
						take = append(take, u)
					}
				}
				// every record line but the last one (of the last record)
				// (under the old protocol the records were fenced before the
				// slot was written: none is dirty here)
				if len(heap) > 0 {
					heap = heap[:len(heap)-1]
				}
				take = append(take, heap...)
				img := s.Image(take, flush.TearLines, nil)
				// the slot's seq word made it, its count and check words did not
				copy(img[slotLine:slotLine+8], m[slotLine:slotLine+8])
				partial = img
			}
			return sim2
		},
	}
	db2, err := Open(path, o2)
	if err != nil {
		t.Fatal(err)
	}
	b1 := db2.NewBatch()
	for i := 3; i <= 5; i++ {
		b1.Put(key(i), value(i, 0, 100))
	}
	if err := db2.Apply(b1); err != nil {
		t.Fatal(err)
	}
	db2.Close()
	if partial == nil {
		t.Fatal("no image at the batch's fence")
	}
	t.Logf("session 2: batch seq %d in slot %d", seq1, slot1)
	if seq1 != s0 || slot1 != slot0 {
		t.Skipf("sequence number or slot not reused (seq %d vs %d, slot %d vs %d)", seq1, s0, slot1, slot0)
	}

	p := filepath.Join(dir, "img")
	if err := os.WriteFile(p, partial, 0o600); err != nil {
		t.Fatal(err)
	}
	rdb, err := Open(p, &Options{ChunkSize: 64 << 10, DAX: DAXEmulated, NoAutoCompact: true})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer rdb.Close()
	var present []int
	for i := 3; i <= 5; i++ {
		v, err := rdb.Get(key(i))
		switch {
		case err == nil && checkValue(i, v) == nil:
			present = append(present, i)
		case err != nil && !errors.Is(err, ErrNotFound):
			t.Errorf("key %d: %v", i, err)
		}
	}
	if len(present) != 0 && len(present) != 3 {
		t.Errorf("batch applied partially after a crash at its commit fence: keys %v of [3 4 5] present", present)
	}
}
