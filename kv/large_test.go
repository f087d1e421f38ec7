package kv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/recovery"
)

// runValue is a value of n bytes that tells its key and version apart in
// every 4 KiB page (a page of another value, or of another version, reads
// differently).
func runValue(k, v, n int) []byte {
	b := make([]byte, n)
	for p := 0; p < n; p += 4096 {
		copy(b[p:], fmt.Sprintf("key %d version %d page %d|", k, v, p/4096))
	}
	for i := range b {
		if b[i] == 0 {
			b[i] = byte('a' + (i*7+k+v)%26)
		}
	}
	return b
}

// crashImage copies the pool file of the open db at path to a new path: in
// the page-cache and emulated modes the file holds everything written, as a
// crash of the process would leave it, not cleanly closed.
func crashImage(t *testing.T, path string) string {
	t.Helper()
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "crashed.pool")
	if err := os.WriteFile(out, img, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// Values longer than half a chunk get runs of whole chunks: they round-trip
// through Put, Get, a batch, overwrites and deletes, a scan after a crash,
// the checkpoint after a clean close, and a read-only open, and their
// chunks are reused once they are freed.
func TestLargeValues(t *testing.T) {
	for _, mode := range []DAXMode{DAXOff, DAXEmulated} {
		t.Run(mode.String(), func(t *testing.T) {
			const chunk = 64 << 10
			path := filepath.Join(shmDir(t), "large.pool")
			opts := smallOpts(mode)
			db := openTest(t, path, opts)
			if got := db.Stats().MaxValueSize; got != recovery.MaxValue {
				t.Fatalf("MaxValueSize %d, want %d", got, recovery.MaxValue)
			}
			sizes := []int{chunk/2 - 100, chunk/2 + 1, chunk - 24 - 16, chunk, 3*chunk + 5, 7 * chunk}
			model := map[string][]byte{}
			for i, n := range sizes {
				k, v := fmt.Sprintf("big-%d", i), runValue(i, 0, n)
				mustPut(t, db, []byte(k), v)
				model[k] = v
				mustPut(t, db, key(i), value(i, 0, 100)) // small records between the runs
				model[string(key(i))] = value(i, 0, 100)
			}
			// Overwrite one run with a longer value and one with a short one,
			// delete one, and write two more in a batch.
			model["big-2"] = runValue(2, 1, 5*chunk)
			mustPut(t, db, []byte("big-2"), model["big-2"])
			model["big-4"] = []byte("short now")
			mustPut(t, db, []byte("big-4"), model["big-4"])
			if err := db.Delete([]byte("big-5")); err != nil {
				t.Fatal(err)
			}
			delete(model, "big-5")
			b := db.NewBatch()
			for i := 10; i < 12; i++ {
				k, v := fmt.Sprintf("big-%d", i), runValue(i, 0, 2*chunk+i)
				b.Put([]byte(k), v)
				model[k] = v
			}
			b.Delete([]byte("big-1"))
			delete(model, "big-1")
			if err := db.Apply(b); err != nil {
				t.Fatal(err)
			}
			sameAsModel(t, db, model)
			if err := db.Check(); err != nil {
				t.Fatal(err)
			}

			// After a crash: the scan finds the runs.
			crashed := crashImage(t, path)
			cdb := openTest(t, crashed, opts)
			sameAsModel(t, cdb, model)
			if cdb.Stats().FromCheckpoint {
				t.Fatal("a crashed pool opened from a checkpoint")
			}
			cdb.Close()

			// After a clean close: the checkpoint lists them.
			db = reopen(t, db, path, opts)
			if st := db.Stats(); !st.FromCheckpoint {
				t.Fatalf("clean reopen scanned: %s", st.CheckpointNote)
			}
			sameAsModel(t, db, model)
			db.Close()
			ro := *opts
			ro.ReadOnly = true
			rdb := openTest(t, path, &ro)
			sameAsModel(t, rdb, model)
			rdb.Close()

			// Freed runs come back: rewriting the same sizes does not grow
			// the pool without bound.
			db = openTest(t, path, opts)
			before := db.Stats().PoolSize
			for round := range 6 {
				for i := 10; i < 12; i++ {
					k, v := fmt.Sprintf("big-%d", i), runValue(i, round+1, 2*chunk+i)
					mustPut(t, db, []byte(k), v)
					model[k] = v
				}
			}
			if after := db.Stats().PoolSize; after > before+8*chunk {
				t.Fatalf("pool grew from %d to %d bytes rewriting two 3-chunk values", before, after)
			}
			sameAsModel(t, db, model)
		})
	}
}

// A run's head lies in the pool's first heap chunk never: runs start past
// chunk 0, and the codec refuses a run header anywhere else.
func TestRunHeaderPlacement(t *testing.T) {
	const chunk = 64 << 10
	path := filepath.Join(shmDir(t), "place.pool")
	db := openTest(t, path, smallOpts(DAXEmulated))
	mustPut(t, db, []byte("run"), runValue(1, 0, 2*chunk))
	it, ok := db.idx.lookup([]byte("run"), hashKey([]byte("run")))
	if !ok {
		t.Fatal("run not indexed")
	}
	if off := it.off(); off%chunk != 0 || off < chunk {
		t.Fatalf("run at %d, not at a chunk boundary past chunk 0", off)
	}
	mem := db.m.Bytes()
	h, ok := db.codec.Decode(mem, it.off(), it.off()+chunk)
	if !ok || h.Flags&recovery.FlagRun == 0 {
		t.Fatalf("run record decodes %v with flags %#x", ok, h.Flags)
	}
	// The same bytes one chunk later, or past the pool's end, do not
	// validate.
	if _, ok := db.codec.Decode(mem[:it.off()+h.Size()-1], it.off(), it.off()+chunk); ok {
		t.Fatal("a run whose bytes end past mem validates")
	}
	if !bytes.Equal(mustGet(t, db, []byte("run")), runValue(1, 0, 2*chunk)) {
		t.Fatal("run reads back wrong")
	}
}

// With default options (4 MiB chunks), a 256 MiB value, 1,000 values of
// 3 MiB, and the largest key with the largest value (1 GiB), round-trip through Put, Get, a clean reopen (the checkpoint)
// and a reopen that scans the pool (the checkpoint removed; the crash case
// of runs is TestLargeValues' and the crash suite's).
func TestLargeValuesDefaultOptions(t *testing.T) {
	if testing.Short() {
		t.Skip("writes about 5.5 GiB")
	}
	cases := []struct {
		name       string
		count, len int
		keyLen     int
	}{
		{"256MiB", 1, 256 << 20, 0},
		{"1000x3MiB", 1000, 3 << 20, 0},
		{"largest", 1, recovery.MaxValue, MaxKeySize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if raceEnabled && c.len == recovery.MaxValue {
				t.Skip("1 GiB under the race detector: run without -race")
			}
			path := filepath.Join(shmDir(t), "big.pool")
			opts := &Options{DAX: DAXEmulated}
			db := openTest(t, path, opts)
			// One value buffer, stamped per key: 1,000 distinct 3 MiB values
			// without 3 GiB of test memory.
			v := runValue(0, 0, c.len)
			stamp := func(i int) []byte {
				copy(v, fmt.Sprintf("value %06d|", i))
				copy(v[len(v)-16:], fmt.Sprintf("|end %06d|", i))
				return v
			}
			keyOf := func(i int) []byte {
				if c.keyLen == 0 {
					return key(i)
				}
				return bytes.Repeat([]byte{'k'}, c.keyLen)
			}
			for i := range c.count {
				mustPut(t, db, keyOf(i), stamp(i))
			}
			if c.len == recovery.MaxValue {
				if err := db.Put(keyOf(0), make([]byte, c.len+1)); !errors.Is(err, ErrValueTooLarge) {
					t.Fatalf("a value one byte over the limit: %v", err)
				}
			}
			verify := func(db *DB, when string) {
				t.Helper()
				for i := range c.count {
					got, err := db.Get(keyOf(i))
					if err != nil || !bytes.Equal(got, stamp(i)) {
						t.Fatalf("%s: Get(%d): %d bytes, %v", when, i, len(got), err)
					}
				}
			}
			verify(db, "before reopen")
			db = reopen(t, db, path, opts)
			if st := db.Stats(); !st.FromCheckpoint {
				t.Fatalf("clean reopen scanned: %s", st.CheckpointNote)
			}
			verify(db, "after a clean reopen")
			db.Close()
			if err := os.Remove(CheckpointPath(path)); err != nil {
				t.Fatal(err)
			}
			db = openTest(t, path, opts)
			if st := db.Stats(); st.FromCheckpoint {
				t.Fatal("opened from a removed checkpoint")
			}
			verify(db, "after a scan")
			st := db.Stats()
			t.Logf("%s: pool of %d MiB, scanned at open in %v", c.name, st.PoolSize>>20, st.RecoveryTime)
		})
	}
}

// Repair of a pool whose runs have unlisted poisoned pages (found as they
// fault): inside a run's value, the run's key is reported damaged; in the
// first chunk of a run (its header), the run cannot be seen at all and the
// page is reported bad; every other key is saved whole.
func TestRepairPoisonedRuns(t *testing.T) {
	const chunk = 64 << 10
	dir := shmDir(t)
	path := filepath.Join(dir, "src.pool")
	opts := &Options{ChunkSize: chunk, DAX: DAXEmulated, NoAutoCompact: true}
	db := openTest(t, path, opts)
	offs := map[string]int64{}
	for i := range 4 {
		k := fmt.Sprintf("run-%d", i)
		mustPut(t, db, []byte(k), runValue(i, 0, 3*chunk+100))
		it, _ := db.idx.lookup([]byte(k), hashKey([]byte(k)))
		offs[k] = it.off()
		mustPut(t, db, key(i), value(i, 0, 200))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	poison := []int64{offs["run-1"] + 2*chunk + 8192, offs["run-2"]}
	popts := &Options{ChunkSize: chunk, DAX: DAXEmulated}
	popts.hooks = &seam.Hooks{Poison: poison}
	rep, err := Repair(path, filepath.Join(dir, "repaired"), popts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Keys != 6 || len(rep.Damaged) != 1 || string(rep.Damaged[0]) != "run-1" || len(rep.Bad) != 2 {
		t.Fatalf("repair: %d keys, damaged %q, bad %v; want 6 keys, run-1 damaged, 2 bad pages", rep.Keys, rep.Damaged, rep.Bad)
	}
	out := openTest(t, filepath.Join(dir, "repaired"), nil)
	for i := range 4 {
		mustGet(t, out, key(i))
	}
	for _, i := range []int{0, 3} {
		if got := mustGet(t, out, []byte(fmt.Sprintf("run-%d", i))); !bytes.Equal(got, runValue(i, 0, 3*chunk+100)) {
			t.Fatalf("run-%d repaired wrong", i)
		}
	}
}
