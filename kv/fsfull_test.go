package kv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daxkv/daxkv/internal/fstest"
)

// The tests of a filesystem that runs out of blocks under the pool: on
// tmpfs the read fault that precedes a chunk's allocation raises SIGBUS
// there, which must come out as ErrNoSpace, not as a fault that fails the
// DB (found by a review, which wrote these tests).

// TestFilesystemFull fills a pool on a filesystem that runs out of blocks
// long before MaxSize, with single Puts, batches (which allocate every
// extent before writing any) and Compact racing the chunk preparer: every
// failed write must be an error wrapping ErrNoSpace (never a SIGBUS), and
// every acknowledged write must be readable, before and after a reopen.
func TestFilesystemFull(t *testing.T) {
	for _, mode := range []DAXMode{DAXEmulated, DAXOff} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := fstest.Small(t, 1<<20+300<<10)
			path := filepath.Join(dir, "pool")
			opts := &Options{Size: 128 << 10, ChunkSize: 64 << 10, DAX: mode, NoAutoCompact: true}
			db, err := Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			const writers = 2
			var mu sync.Mutex
			m := map[string]string{}
			var wg sync.WaitGroup
			errc := make(chan error, 8)
			deadline := time.Now().Add(2 * time.Second)
			nospace := 0
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), 11))
					for i := 0; time.Now().Before(deadline); i++ {
						k := fmt.Sprintf("w%d-%04d", w, rng.IntN(400))
						switch rng.IntN(4) {
						case 0:
							err := db.Delete([]byte(k))
							if err == nil || errors.Is(err, ErrNotFound) {
								mu.Lock()
								delete(m, k)
								mu.Unlock()
								continue
							}
							if !errors.Is(err, ErrNoSpace) {
								errc <- fmt.Errorf("delete: %v", err)
								return
							}
						case 1:
							b := db.NewBatch()
							vals := map[string]string{}
							for j := range 1 + rng.IntN(20) {
								kk := fmt.Sprintf("w%d-%04d", w, rng.IntN(400))
								v := fmt.Sprintf("%s#%d.%d#%s", kk, i, j, make([]byte, rng.IntN(8000)))
								b.Put([]byte(kk), []byte(v))
								vals[kk] = v
							}
							err := db.Apply(b)
							if err == nil {
								mu.Lock()
								for kk, v := range vals {
									m[kk] = v
								}
								mu.Unlock()
								continue
							}
							if !errors.Is(err, ErrNoSpace) {
								errc <- fmt.Errorf("apply: %v", err)
								return
							}
							mu.Lock()
							nospace++
							mu.Unlock()
						default:
							v := fmt.Sprintf("%s#%d#%s", k, i, make([]byte, rng.IntN(5000)))
							err := db.Put([]byte(k), []byte(v))
							if err == nil {
								mu.Lock()
								m[k] = v
								mu.Unlock()
								continue
							}
							if !errors.Is(err, ErrNoSpace) {
								errc <- fmt.Errorf("put: %v", err)
								return
							}
							mu.Lock()
							nospace++
							mu.Unlock()
						}
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
					err := db.Compact(ctx)
					cancel()
					if err != nil && !errors.Is(err, ErrBusy) && !errors.Is(err, ErrNoSpace) {
						errc <- fmt.Errorf("compact: %v", err)
						return
					}
				}
			}()
			wg.Wait()
			select {
			case err := <-errc:
				db.Close()
				t.Fatal(err)
			default:
			}
			t.Logf("%d writes failed with ErrNoSpace; pool %d bytes", nospace, db.Stats().PoolSize)
			check := func(db *DB, what string) {
				for k, want := range m {
					got, err := db.Get([]byte(k))
					if err != nil || string(got) != want {
						t.Fatalf("%s: Get(%q) = %.30q, %v; want %.30q", what, k, got, err, want)
					}
				}
			}
			check(db, "open")
			if err := db.Check(); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if err := db.Close(); err != nil {
				t.Fatalf("Close after the filesystem filled: %v (running out of blocks is no media failure)", err)
			}
			db2, err := Open(path, opts)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer db2.Close()
			check(db2, "reopen")
		})
	}
}

// TestFilesystemFullSinglePut: one writer, single Puts, on a tmpfs that
// fills up before MaxSize. The first failing Put must fail with an error
// wrapping ErrNoSpace, and the DB must stay writable (a Delete, then a Put
// into the freed space, must succeed): running out of blocks is not a media
// failure.
func TestFilesystemFullSinglePut(t *testing.T) {
	for _, mode := range []DAXMode{DAXEmulated, DAXOff} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := fstest.Small(t, 1<<20)
			path := filepath.Join(dir, "pool")
			opts := &Options{Size: 128 << 10, ChunkSize: 64 << 10, DAX: mode, NoAutoCompact: true}
			db, err := Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var n int
			for n = 0; ; n++ {
				err = db.Put(key(n), value(n, 0, 1000))
				if err != nil {
					break
				}
			}
			t.Logf("Put %d failed: %v", n, err)
			if !errors.Is(err, ErrNoSpace) || errors.Is(err, ErrFailed) {
				t.Fatalf("Put %d on a full filesystem = %v; want an error wrapping ErrNoSpace, not a failed DB", n, err)
			}
			if err := db.Delete(key(0)); err != nil {
				t.Fatalf("Delete after ErrNoSpace: %v", err)
			}
			if err := db.Put(key(0), value(0, 1, 1000)); err != nil {
				t.Fatalf("Put into freed space after ErrNoSpace: %v", err)
			}
		})
	}
}

// TestFilesystemFullReopen: after writes on a full tmpfs failed (however
// they fail), every acknowledged write must be there at the next Open.
func TestFilesystemFullReopen(t *testing.T) {
	for _, mode := range []DAXMode{DAXEmulated, DAXOff} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := fstest.Small(t, 1<<20)
			path := filepath.Join(dir, "pool")
			opts := &Options{Size: 128 << 10, ChunkSize: 64 << 10, DAX: mode, NoAutoCompact: true}
			db, err := Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			var n int
			for n = 0; ; n++ {
				b := db.NewBatch()
				b.Put(key(2*n), value(2*n, 0, 700))
				b.Put(key(2*n+1), value(2*n+1, 0, 700))
				if err = db.Apply(b); err != nil {
					break
				}
			}
			t.Logf("batch %d: %v", n, err)
			if err := db.Close(); err != nil {
				t.Fatalf("Close after the filesystem filled: %v", err)
			}
			db2, err := Open(path, opts)
			if err != nil {
				t.Fatalf("reopen on the full filesystem: %v", err)
			}
			defer db2.Close()
			for i := range 2 * n {
				if v, err := db2.Get(key(i)); err != nil || string(v) != string(value(i, 0, 700)) {
					t.Fatalf("acknowledged key %d after reopen: %.20q, %v", i, v, err)
				}
			}
			if err := db2.Check(); err != nil {
				t.Fatalf("Check: %v", err)
			}
		})
	}
}

// TestFilesystemFilledByOthers: another file takes every free block of
// the filesystem after the pool was created. A batch into space the pool
// already holds must still succeed, or at worst fail with ErrNoSpace; it
// must not fail the DB with a memory fault.
func TestFilesystemFilledByOthers(t *testing.T) {
	for _, mode := range []DAXMode{DAXEmulated, DAXOff} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := fstest.Small(t, 2<<20)
			path := filepath.Join(dir, "pool")
			opts := &Options{Size: 1 << 20, ChunkSize: 64 << 10, DAX: mode, NoAutoCompact: true}
			db, err := Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			mustPut(t, db, key(0), value(0, 0, 100))
			time.Sleep(100 * time.Millisecond) // let the preparer settle
			f, err := os.Create(filepath.Join(dir, "filler"))
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4096)
			for {
				if _, err := f.Write(buf); err != nil {
					break
				}
			}
			f.Close()
			st := db.Stats()
			t.Logf("pool %d bytes, allocated %d, free %d", st.PoolSize, st.AllocatedBytes, st.Free)
			for i := 1; i < 40; i++ {
				b := db.NewBatch()
				b.Put(key(2*i), value(2*i, 0, 5000))
				b.Put(key(2*i+1), value(2*i+1, 0, 5000))
				err := db.Apply(b)
				if err == nil {
					continue
				}
				if errors.Is(err, ErrNoSpace) && !errors.Is(err, ErrFailed) {
					t.Logf("batch %d: %v", i, err)
					continue
				}
				t.Fatalf("batch %d of two records, the filesystem full: %v", i, err)
			}
		})
	}
}

// TestCheckBesidePunchOnFullFilesystem: Check reads every chunk that was
// not a hole when it started. A chunk Compact punched meanwhile reads as a
// fresh page on tmpfs, and on a full one faults, which Check reported as a
// damaged pool until punches waited for it (DB.scanMu). Check is held
// after its first chunk while a Compact punches the pool's empty chunks
// and a file takes the space they gave back; then it reads on. Found by
// the torture test's pools on a full filesystem.
func TestCheckBesidePunchOnFullFilesystem(t *testing.T) {
	dir := fstest.Small(t, 3<<20)
	var db *DB
	var compacted chan error
	var punched int
	var armed atomic.Bool
	progress := func(p Progress) {
		if p.Op != "check" || p.Done != 1 || !armed.CompareAndSwap(true, false) {
			return
		}
		compacted = make(chan error, 1)
		go func() {
			res, err := db.CompactWithResult(context.Background())
			punched = res.Punched
			compacted <- err
		}()
		// The punch waits for Check (the fix); or it punches under
		// Check's feet (the defect), and a file takes the space.
		for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if db.punched.Load() > 0 {
				fstest.Fill(t, filepath.Join(dir, "filler-2"))
				return
			}
		}
	}
	opts := &Options{Size: 64 << 10, ChunkSize: 64 << 10, DAX: DAXEmulated, NoAutoCompact: true, RecoveryWorkers: 1, Progress: progress}
	db, err := Open(filepath.Join(dir, "pool"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 40
	for i := 0; i < n; i++ {
		mustPut(t, db, key(i), value(i, 1, 20<<10))
	}
	for i := n / 3; i < n; i++ { // the later chunks empty
		if err := db.Delete(key(i)); err != nil {
			t.Fatal(err)
		}
	}
	db.reclaimAll() // the deleted records' extents free before Check pins the epoch
	fstest.Fill(t, filepath.Join(dir, "filler-1"))
	armed.Store(true)
	if err := db.Check(); err != nil {
		t.Fatalf("Check beside a punch on a full filesystem: %v", err)
	}
	if compacted == nil {
		t.Fatal("Check reported no progress: the test tests nothing")
	}
	if err := <-compacted; err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if punched == 0 {
		t.Fatal("Compact punched nothing: the test tests nothing")
	}
	for i := 0; i < n/3; i++ {
		if v := mustGet(t, db, key(i)); !bytes.Equal(v, value(i, 1, 20<<10)) {
			t.Fatalf("key %d: wrong value", i)
		}
	}
}

// TestRepairOnFullFilesystemReadsNoHoles: Repair of a sparse pool on a
// full tmpfs passes over the file's holes. It read them: on tmpfs a read of
// a hole allocates a page of the damaged pool's own file, and on a full
// one it faulted, and the salvage reported every such page as a bad block
// (found by the torture test, whose Repair of a pool on its full
// filesystem crashed under qemu, where a fault's address is lost).
func TestRepairOnFullFilesystemReadsNoHoles(t *testing.T) {
	dir := fstest.Small(t, 2<<20)
	src := filepath.Join(dir, "pool")
	db, err := Open(src, &Options{Size: 1 << 20, ChunkSize: 64 << 10, DAX: DAXEmulated, NoAutoCompact: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		mustPut(t, db, key(i), value(i, 1, 3000))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	fstest.Fill(t, filepath.Join(dir, "filler"))
	before := fstest.Allocated(t, src)
	dst := filepath.Join(shmDir(t), "repaired")
	rep, err := Repair(src, dst, &Options{DAX: DAXEmulated})
	if err != nil {
		t.Fatalf("Repair: %v", err)
	}
	if len(rep.Bad) != 0 || rep.Keys != 20 {
		t.Fatalf("Repair of a sound pool on a full filesystem: %d keys, bad ranges %v; want 20 keys, none bad", rep.Keys, rep.Bad)
	}
	if after := fstest.Allocated(t, src); after != before {
		t.Fatalf("Repair grew the damaged pool's blocks from %d to %d bytes", before, after)
	}
}
