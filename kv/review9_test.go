package kv

import (
	"errors"
	"path/filepath"
	"testing"
)

// Regression test of a review finding: a pool one growth step short of
// MaxSize refused to grow at all (a quarter more went past the
// reservation), so its last chunks could never be used.
func TestGrowReachesMaxSize(t *testing.T) {
	const chunk = 64 << 10
	opts := &Options{Size: 7 * chunk, MaxSize: 8 * chunk, ChunkSize: chunk, DAX: DAXEmulated, NoAutoCompact: true}
	db := openTest(t, filepath.Join(shmDir(t), "pool"), opts)
	var err error
	for n := 0; err == nil; n++ {
		err = db.Put(key(n), value(n, 0, 200))
	}
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("filling the pool: %v, want ErrNoSpace", err)
	}
	if got := db.m.Size(); got != 8*chunk {
		t.Fatalf("the full pool is %d bytes, want MaxSize %d", got, 8*chunk)
	}
}

// Regression test of a review finding: a batch checked only the operation
// that wins on each key, so an invalid Put followed by a Delete of its key
// applied, where Batch.Put says an invalid value fails the batch.
func TestBatchChecksOverriddenOps(t *testing.T) {
	if raceEnabled {
		t.Skip("moves a gigabyte")
	}
	db := openTest(t, filepath.Join(shmDir(t), "pool"), smallOpts(DAXEmulated))
	mustPut(t, db, key(1), []byte("before"))
	b := db.NewBatch()
	b.Put(key(2), []byte("in the batch"))
	b.Put(key(1), make([]byte, db.maxValue+1))
	b.Delete(key(1))
	if err := db.Apply(b); !errors.Is(err, ErrValueTooLarge) {
		t.Fatalf("Apply = %v, want ErrValueTooLarge", err)
	}
	if v := mustGet(t, db, key(1)); string(v) != "before" {
		t.Fatalf("key 1 = %q after the failed batch", v)
	}
	if _, err := db.Get(key(2)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("key 2 of the failed batch: %v, want ErrNotFound", err)
	}
}
