package kv

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
	"time"

	"github.com/daxkv/daxkv/internal/seam"
)

// faultOf runs f with SetPanicOnFault and returns the memory fault it hit,
// if any (without it a fault kills the test binary).
func faultOf(f func()) (fault any) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() { fault = recover() }()
	f()
	return nil
}

// placeApart puts k0 (small), then a record of filler bytes, then k1, so
// that k1's record lies on a 4 KiB page that holds no byte of k0's record.
func placeApart(t *testing.T, db *DB, k0, k1 []byte) (off0, off1 int64) {
	t.Helper()
	mustPut(t, db, k0, value(0, 0, 40))
	// A record of nearly a page in the bump region pushes the next one
	// off k0's page.
	mustPut(t, db, []byte("zzzz-filler"), bytes.Repeat([]byte{'f'}, 4000))
	mustPut(t, db, k1, value(1, 0, 40))
	it0, _ := db.idx.lookup(k0, hashKey(k0))
	it1, _ := db.idx.lookup(k1, hashKey(k1))
	off0, off1 = it0.off(), it1.off()
	end0 := off0 + 64
	if off1/4096 == off0/4096 || off1/4096 == (end0-1)/4096 {
		t.Skipf("records at %d and %d share a page", off0, off1)
	}
	return off0, off1
}

// The iterator moves Next onto key 1, whose record's page then goes bad
// (a bad block); the caller does not read Key(). Prev must move back to
// key 0, whose page is intact, or at worst return an error. The turnaround
// builds its probe from the current key, a slice of the mapping: read
// outside the fault guard, Prev itself faulted (SIGSEGV / SIGBUS, which
// kills the process; caught here with SetPanicOnFault).
func TestTurnaroundReadsTheKeyUnderTheGuard(t *testing.T) {
	path := filepath.Join(shmDir(t), "p")
	db := openTest(t, path, &Options{Size: 512 << 10, ChunkSize: 64 << 10, DAX: DAXEmulated})
	_, off1 := placeApart(t, db, key(0), key(1))
	it, err := db.NewIterator(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !it.First() || !it.Next() {
		t.Fatalf("First/Next: %v", it.Error())
	}
	if err := db.m.Poison(off1 / 4096 * 4096); err != nil {
		t.Fatal(err)
	}
	var ok bool
	fault := faultOf(func() { ok = it.Prev() })
	var got []byte
	if fault == nil && ok {
		got = bytes.Clone(it.Key())
	}
	itErr := it.Error()
	it.Close()
	db.Close()
	os.Remove(path) // the poisoned page is not on the file: nothing to check
	if fault != nil {
		t.Fatalf("Prev after Next faulted inside the iterator (outside any guard): %v", fault)
	}
	if !(ok && bytes.Equal(got, key(0))) && !errors.Is(itErr, ErrCorrupt) {
		t.Fatalf("Prev = %v, key %q, Error %v", ok, got, itErr)
	}
}

// The same with the pool file truncated underneath the open DB (another
// program), the case the read path's guards exist for: positioned by
// Next, the iterator's Prev reads the current key from the truncated file;
// outside the guard it died of SIGBUS, where every other read returns
// ErrCorrupt.
func TestTurnaroundOnATruncatedPool(t *testing.T) {
	path := filepath.Join(shmDir(t), "p")
	opts := &Options{Size: 256 << 10, ChunkSize: 64 << 10, DAX: DAXEmulated}
	opts.hooks = &seam.Hooks{NoGrowAhead: true}
	db := openTest(t, path, opts)
	for i := 0; i < 20; i++ {
		mustPut(t, db, key(i), value(i, 0, 300))
	}
	it, err := db.NewIterator(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !it.First() || !it.Next() || !it.Next() {
		t.Fatalf("First/Next: %v", it.Error())
	}
	it1, _ := db.idx.lookup(key(2), hashKey(key(2)))
	cut := it1.off() / 4096 * 4096
	if err := os.Truncate(path, cut); err != nil {
		t.Fatal(err)
	}
	var ok bool
	fault := faultOf(func() { ok = it.Prev() })
	itErr := it.Error()
	it.Close()
	db.Close()
	os.Remove(path)
	if fault != nil {
		t.Fatalf("Prev after Next on a truncated pool faulted (outside any guard): %v", fault)
	}
	if ok || !errors.Is(itErr, ErrCorrupt) {
		t.Fatalf("Prev after Next on a truncated pool = %v, Error %v; want false and ErrCorrupt", ok, itErr)
	}
}

// A Close of the DB on another goroutine while an iterator turns around
// (TestCloseWithIteratorsOpen: Close does not wait for iterators, and
// their later calls must report ErrClosed "instead of touching the
// unmapped pool"). The turnaround read the current key from the mapping
// before fill pinned the epoch: a Close in between unmapped the pool under
// that read. With one P the window is hit when the goroutine is preempted
// inside it.
func TestTurnaroundRacesDBClose(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	budget := 2 * time.Second // read outside the pin, it faulted within 6-17 trials (under a second)
	if testing.Short() {
		budget = time.Second
	}
	deadline := time.Now().Add(budget)
	dir := shmDir(t)
	trials := 0
	for time.Now().Before(deadline) {
		trials++
		path := filepath.Join(dir, fmt.Sprintf("p%d", trials))
		db, err := Open(path, smallOpts(DAXOff))
		if err != nil {
			t.Fatal(err)
		}
		// Long keys: the probe's read of the key is longer.
		k0 := append(bytes.Repeat([]byte{'a'}, 200), '0')
		k1 := append(bytes.Repeat([]byte{'a'}, 200), '1')
		mustPut(t, db, k0, []byte("v0"))
		mustPut(t, db, k1, []byte("v1"))
		it, err := db.NewIterator(nil)
		if err != nil {
			t.Fatal(err)
		}
		it.First()
		faults := make(chan any, 1)
		go func() {
			faults <- faultOf(func() {
				// Every move is a turnaround: Next onto k1, Prev back.
				for {
					if !it.Next() || !it.Prev() {
						return
					}
				}
			})
		}()
		runtime.Gosched()
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		fault := <-faults
		it.Close()
		os.Remove(path)
		os.Remove(CheckpointPath(path))
		if fault != nil {
			t.Fatalf("trial %d: an iterator turning around while the DB closed read the unmapped pool: %v", trials, fault)
		}
	}
	t.Logf("%d trials, no fault", trials)
}

// Turnarounds with keys longer than 16 bytes that tie on their first 16
// (and on much more), keys that are prefixes of others, MaxKeySize keys, at
// every page size, against a sorted model.
func TestTurnaroundLongKeysModel(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 9))
	db := openTest(t, filepath.Join(shmDir(t), "pool"), &Options{Size: 4 << 20, ChunkSize: 1 << 20, DAX: DAXEmulated})
	m := map[string][]byte{}
	base := bytes.Repeat([]byte{'p'}, 16)
	for i := 0; i < 1500; i++ {
		var k []byte
		switch r.IntN(5) {
		case 0:
			k = append(slices.Clone(base), fmt.Appendf(nil, "%d", r.IntN(3000))...)
		case 1:
			k = append(bytes.Repeat([]byte{'p'}, 16+r.IntN(200)), byte(r.IntN(3)))
		case 2:
			k = bytes.Repeat([]byte{'p'}, 1+r.IntN(40))
		case 3:
			k = append(bytes.Repeat([]byte{'p'}, MaxKeySize-1-r.IntN(2)), byte(r.IntN(256)))
		default:
			k = append(slices.Clone(base), make([]byte, r.IntN(5))...)
		}
		v := fmt.Appendf(nil, "v%d-%d", i, len(k))
		if r.IntN(10) == 0 {
			v = nil
		}
		mustPut(t, db, k, v)
		m[string(k)] = v
	}
	for round := 0; round < 12; round++ {
		var lo, hi []byte
		if r.IntN(2) == 0 {
			lo = bytes.Repeat([]byte{'p'}, r.IntN(30))
		}
		if r.IntN(2) == 0 {
			hi = append(bytes.Repeat([]byte{'p'}, 16+r.IntN(30)), byte(r.IntN(3)))
		}
		w := &walkModel{im: newIterModel(m, lo, hi), i: -2}
		it, err := db.NewIterator(&IterOptions{LowerBound: lo, UpperBound: hi})
		if err != nil {
			t.Fatal(err)
		}
		for s := 0; s < 300; s++ {
			var ok bool
			switch c := r.IntN(20); {
			case c < 9:
				for n := 1 + r.IntN(1+r.IntN(600)); n > 0; n-- {
					ok = it.Next()
					w.next()
					checkAt(t, fmt.Sprintf("round %d step %d run %d", round, s, n), it, ok, w.im, w.i)
				}
			case c < 18:
				for n := 1 + r.IntN(1+r.IntN(600)); n > 0; n-- {
					ok = it.Prev()
					w.prev()
					checkAt(t, fmt.Sprintf("round %d step %d run %d", round, s, n), it, ok, w.im, w.i)
				}
			case c == 18:
				k := w.im.keys
				var sk []byte
				if len(k) > 0 {
					sk = k[r.IntN(len(k))]
				}
				ok = it.SeekGE(sk)
				w.i = w.im.seekGE(sk)
				if lo != nil && bytes.Compare(sk, lo) < 0 {
					w.i = 0
				}
				w.clamp()
			default:
				k := w.im.keys
				var sk []byte
				if len(k) > 0 {
					sk = k[r.IntN(len(k))]
				}
				if sk == nil {
					continue
				}
				ok = it.SeekLT(sk)
				w.i = w.im.seekGE(sk) - 1
				w.clamp()
			}
			checkAt(t, fmt.Sprintf("round %d step %d", round, s), it, ok, w.im, w.i)
		}
		it.Close()
	}
}
