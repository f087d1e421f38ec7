package kv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/recovery"
)

// TestBatchCommitCountsItsRecords: a batch writes its records and its
// commit entry under one fence. A power failure at that fence can keep the
// commit entry and lose a record; recovery must then drop the whole batch
// (it was never acknowledged), not replay the records it found. With every
// unit durable, the batch is replayed whole.
func TestBatchCommitCountsItsRecords(t *testing.T) {
	dir := shmDir(t)
	path := filepath.Join(dir, "pool")
	var sim *flush.Sim
	label := seam.Point("")
	var lost, whole []byte
	opts := &Options{ChunkSize: 64 << 10, DAX: DAXEmulated, NoAutoCompact: true}
	opts.hooks = &seam.Hooks{
		At: func(p seam.Point) { label = p },
		WrapPersister: func(inner flush.Persister, mapped func() []byte) flush.Persister {
			sim = flush.NewSim(flush.SimCPU, mapped)
			sim.OnDrain = func(s *flush.Sim) {
				if label != seam.BatchCommit || lost != nil {
					return
				}
				dirty := s.Dirty()
				var take []int64
				dropped := false
				for _, u := range dirty {
					if !dropped && u >= recovery.HeapStart {
						dropped = true // one line of one record stays old
						continue
					}
					take = append(take, u)
				}
				if !dropped {
					t.Error("the batch's fence found no record line dirty")
				}
				lost = s.Image(take, flush.TearLines, nil)
				whole = s.Image(dirty, flush.TearLines, nil)
			}
			return sim
		},
	}
	db := openTest(t, path, opts)
	mustPut(t, db, key(0), value(0, 0, 100))
	b := db.NewBatch()
	for i := 1; i <= 5; i++ {
		b.Put(key(i), value(i, 0, 100))
	}
	b.Delete(key(0))
	if err := db.Apply(b); err != nil {
		t.Fatal(err)
	}
	if lost == nil {
		t.Fatal("no image taken at the batch's commit fence")
	}
	db.Close()

	for _, c := range []struct {
		name    string
		img     []byte
		applied bool
	}{{"a record lost", lost, false}, {"everything durable", whole, true}} {
		p := filepath.Join(dir, "img")
		if err := os.WriteFile(p, c.img, 0o600); err != nil {
			t.Fatal(err)
		}
		rdb, err := Open(p, &Options{ChunkSize: 64 << 10, DAX: DAXEmulated, NoAutoCompact: true})
		if err != nil {
			t.Fatalf("%s: open: %v", c.name, err)
		}
		for i := 0; i <= 5; i++ {
			v, err := rdb.Get(key(i))
			present := err == nil && checkValue(i, v) == nil
			if want := (i == 0) != c.applied; present != want {
				t.Errorf("%s: key %d present %v (%v), want %v: the batch must be applied whole or not at all", c.name, i, present, err, want)
			}
		}
		if err := rdb.Check(); err != nil {
			t.Errorf("%s: Check after recovery: %v", c.name, err)
		}
		rdb.Close()
		os.Remove(p)
	}
}
