package kv

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

// iterModel is the expected content of an iterator: sorted keys with their
// values, restricted to [lo, hi).
type iterModel struct {
	keys [][]byte
	vals map[string][]byte
}

func newIterModel(m map[string][]byte, lo, hi []byte) *iterModel {
	im := &iterModel{vals: m}
	for k := range m {
		kb := []byte(k)
		if lo != nil && bytes.Compare(kb, lo) < 0 || hi != nil && bytes.Compare(kb, hi) >= 0 {
			continue
		}
		im.keys = append(im.keys, kb)
	}
	slices.SortFunc(im.keys, bytes.Compare)
	return im
}

// seekGE returns the index of the first key >= k (len when none).
func (im *iterModel) seekGE(k []byte) int {
	return sort.Search(len(im.keys), func(i int) bool { return bytes.Compare(im.keys[i], k) >= 0 })
}

// tieKeys returns keys that share their first 16 bytes in groups (and keys
// that are prefixes of others), plus short ones: the orders the inline
// prefix of an index item must get right.
func tieKeys(r *rand.Rand, n int) [][]byte {
	var out [][]byte
	prefixes := [][]byte{[]byte("0123456789abcdef"), []byte("0123456789abcdeg"), {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, bytes.Repeat([]byte{0xff}, 16)}
	for len(out) < n {
		switch r.IntN(4) {
		case 0: // a 16-byte prefix and a tail (or none)
			p := prefixes[r.IntN(len(prefixes))]
			tail := make([]byte, r.IntN(4))
			for i := range tail {
				tail[i] = byte(r.IntN(3)) * 0x7f
			}
			out = append(out, append(slices.Clone(p), tail...))
		case 1: // a short key, maybe a prefix of a prefix
			p := prefixes[r.IntN(len(prefixes))]
			out = append(out, slices.Clone(p[:1+r.IntN(15)]))
		default:
			out = append(out, fmt.Appendf(nil, "k%05d", r.IntN(5000)))
		}
	}
	return out
}

// checkAt compares the iterator's position with the model's index i
// (-1 or len: not valid).
func checkAt(t *testing.T, what string, it *Iterator, ok bool, im *iterModel, i int) {
	t.Helper()
	want := i >= 0 && i < len(im.keys)
	if ok != want || it.Valid() != want {
		t.Fatalf("%s: returned %v, Valid %v; want %v (model index %d of %d)", what, ok, it.Valid(), want, i, len(im.keys))
	}
	if err := it.Error(); err != nil {
		t.Fatalf("%s: Error() = %v", what, err)
	}
	if !want {
		return
	}
	if !bytes.Equal(it.Key(), im.keys[i]) {
		t.Fatalf("%s: key %q, want %q", what, it.Key(), im.keys[i])
	}
	if !bytes.Equal(it.Value(), im.vals[string(im.keys[i])]) {
		t.Fatalf("%s: value of %q is wrong", what, it.Key())
	}
}

// TestIteratorModel drives iterators with random bounds through random
// moves (First, Last, SeekGE, SeekLT at keys present and absent and at the
// bounds, Next and Prev across page boundaries and turnarounds) and checks
// every position against a sorted model. The keys tie on their first 16
// bytes in groups.
func TestIteratorModel(t *testing.T) {
	for _, mode := range []DAXMode{DAXEmulated, DAXOff} {
		t.Run(mode.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(21, uint64(mode)))
			db := openTest(t, filepath.Join(shmDir(t), "pool"), smallOpts(mode))
			m := map[string][]byte{}
			for _, k := range tieKeys(r, 1500) {
				v := fmt.Appendf(nil, "v-%x-%d", k, r.IntN(100))
				if err := db.Put(k, v); err != nil {
					t.Fatal(err)
				}
				m[string(k)] = v
			}
			all := newIterModel(m, nil, nil)
			pick := func() []byte { // a key present, absent, or a bound's edge
				switch r.IntN(4) {
				case 0:
					return all.keys[r.IntN(len(all.keys))]
				case 1:
					return append(slices.Clone(all.keys[r.IntN(len(all.keys))]), 0)
				case 2:
					k := slices.Clone(all.keys[r.IntN(len(all.keys))])
					k[len(k)-1]++
					return k
				}
				return tieKeys(r, 1)[0]
			}
			for round := 0; round < 60; round++ {
				var lo, hi []byte
				if r.IntN(3) > 0 {
					lo = pick()
				}
				if r.IntN(3) > 0 {
					hi = pick()
				}
				im := newIterModel(m, lo, hi)
				it, err := db.NewIterator(&IterOptions{LowerBound: lo, UpperBound: hi})
				if err != nil {
					t.Fatal(err)
				}
				i := -2 // unpositioned
				for step := 0; step < 400; step++ {
					var ok bool
					var what string
					switch op := r.IntN(10); {
					case op == 0:
						ok, i, what = it.First(), 0, "First"
					case op == 1:
						ok, i, what = it.Last(), len(im.keys)-1, "Last"
					case op == 2:
						k := pick()
						ok, what = it.SeekGE(k), fmt.Sprintf("SeekGE(%q)", k)
						i = im.seekGE(k)
					case op == 3:
						k := pick()
						ok, what = it.SeekLT(k), fmt.Sprintf("SeekLT(%q)", k)
						i = im.seekGE(k) - 1
					case op < 7:
						ok, what = it.Next(), "Next"
						switch {
						case i == -2 || i == -1:
							i = 0
						case i < len(im.keys):
							i++
						}
					default:
						ok, what = it.Prev(), "Prev"
						switch {
						case i == -2 || i == len(im.keys):
							i = len(im.keys) - 1
						case i >= 0:
							i--
						}
					}
					if i >= len(im.keys) {
						i = len(im.keys)
					}
					if i < 0 {
						i = -1
					}
					checkAt(t, fmt.Sprintf("round %d step %d [%q,%q) %s", round, step, lo, hi, what), it, ok, im, i)
				}
				if err := it.Close(); err != nil {
					t.Fatal(err)
				}
				if err := it.Close(); !errors.Is(err, ErrClosed) {
					t.Fatalf("second Close = %v, want ErrClosed", err)
				}
			}
		})
	}
}

// TestIteratorFullScans walks every key forward and backward in pages of
// every size, and checks All and Range.
func TestIteratorFullScans(t *testing.T) {
	db := openTest(t, filepath.Join(shmDir(t), "pool"), smallOpts(DAXEmulated))
	const n = 3000
	for i := 0; i < n; i++ {
		if err := db.Put(key(i), value(i, 0, 40)); err != nil {
			t.Fatal(err)
		}
	}
	it, err := db.NewIterator(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		if !bytes.Equal(it.Key(), key(i)) || !bytes.Equal(it.Value(), value(i, 0, 40)) {
			t.Fatalf("forward %d: key %q", i, it.Key())
		}
		i++
	}
	if i != n || it.Error() != nil {
		t.Fatalf("forward saw %d keys, error %v", i, it.Error())
	}
	for ok := it.Last(); ok; ok = it.Prev() {
		i--
		if !bytes.Equal(it.Key(), key(i)) {
			t.Fatalf("backward %d: key %q", i, it.Key())
		}
	}
	if i != 0 {
		t.Fatalf("backward stopped at %d", i)
	}
	var rangeErr error
	got := 0
	for k, v := range db.Range(key(100), key(200), &rangeErr) {
		if !bytes.Equal(k, key(100+got)) || !bytes.Equal(v, value(100+got, 0, 40)) {
			t.Fatalf("Range: key %q at %d", k, got)
		}
		got++
	}
	if got != 100 || rangeErr != nil {
		t.Fatalf("Range saw %d keys, error %v", got, rangeErr)
	}
	got = 0
	for range db.Range(nil, nil, &rangeErr) {
		if got++; got == 5 {
			break
		}
	}
	if got != 5 || rangeErr != nil || db.Stats().OpenSnapshots != 1 {
		t.Fatalf("Range with a break: %d keys, error %v, %d snapshots open (want only the test's iterator)", got, rangeErr, db.Stats().OpenSnapshots)
	}
	it.Close()
	db.Close()
	rangeErr = nil
	for range db.Range(nil, nil, &rangeErr) {
		t.Fatal("Range on a closed DB yielded")
	}
	if !errors.Is(rangeErr, ErrClosed) {
		t.Fatalf("Range on a closed DB: error %v, want ErrClosed", rangeErr)
	}
}

// TestIteratorSnapshotIsolation opens an iterator and a snapshot, then
// overwrites, deletes and adds keys from concurrent writers: neither sees
// any of it, and every extent they pin stays out of reuse (poisoned on
// reuse in invariants builds, and the values are checked byte for byte).
// After both are closed, the writes' freed extents are reused.
func TestIteratorSnapshotIsolation(t *testing.T) {
	db := openTest(t, filepath.Join(shmDir(t), "pool"), smallOpts(DAXEmulated))
	const n = 2000
	for i := 0; i < n; i++ {
		if err := db.Put(key(i), value(i, 0, 64)); err != nil {
			t.Fatal(err)
		}
	}
	it, err := db.NewIterator(nil)
	if err != nil {
		t.Fatal(err)
	}
	snap := db.NewSnapshot()
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for v := 1; v <= 3; v++ {
				for i := w; i < n; i += 2 {
					var err error
					switch {
					case i%7 == 0 && v == 3:
						err = db.Delete(key(i))
					default:
						err = db.Put(key(i), value(i, v, 64))
					}
					if err == nil {
						err = db.Put(key(n+i*3+v), value(n+i*3+v, 0, 64))
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}
		}(w)
	}
	// Read while the writers run, and after.
	check := func(when string) {
		i := 0
		for ok := it.First(); ok; ok = it.Next() {
			if !bytes.Equal(it.Key(), key(i)) || !bytes.Equal(it.Value(), value(i, 0, 64)) {
				t.Fatalf("%s: iterator at %d: key %q value %q", when, i, it.Key(), it.Value())
			}
			i++
		}
		if i != n || it.Error() != nil {
			t.Fatalf("%s: iterator saw %d keys (want %d), error %v", when, i, n, it.Error())
		}
		for j := 0; j < n; j += 13 {
			v, err := snap.Get(key(j))
			if err != nil || !bytes.Equal(v, value(j, 0, 64)) {
				t.Fatalf("%s: snapshot Get(%d) = %q, %v", when, j, v, err)
			}
		}
		if _, err := snap.Get(key(n + 1)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: snapshot sees a key written after it: %v", when, err)
		}
	}
	check("during writes")
	wg.Wait()
	check("after writes")
	s := db.Stats()
	if s.Limbo == 0 || s.OpenSnapshots != 2 || s.OldestPinAge <= 0 {
		t.Fatalf("with a snapshot and an iterator open: Limbo %d, OpenSnapshots %d, OldestPinAge %v", s.Limbo, s.OpenSnapshots, s.OldestPinAge)
	}
	// Every overwritten version is still pinned: nothing reclaimed yet.
	if s.Limbo < int64(n)*64 {
		t.Fatalf("Limbo %d bytes: the pinned versions (%d of at least 64 bytes) were reclaimed", s.Limbo, n)
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := snap.Get(key(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get on a closed snapshot: %v", err)
	}
	// New writes now reclaim the limbo.
	before := db.Stats()
	for i := 0; i < 3000; i++ {
		if err := db.Put(key(i%n), value(i%n, 9, 64)); err != nil {
			t.Fatal(err)
		}
	}
	after := db.Stats()
	if after.Limbo >= before.Limbo/4 || after.OpenSnapshots != 0 || after.OldestPinAge != 0 {
		t.Fatalf("after Close: Limbo %d -> %d, OpenSnapshots %d, OldestPinAge %v: the extents were not released",
			before.Limbo, after.Limbo, after.OpenSnapshots, after.OldestPinAge)
	}
	if after.PoolSize != before.PoolSize {
		t.Fatalf("pool grew from %d to %d although limbo could be reused", before.PoolSize, after.PoolSize)
	}
}

// TestSnapshotAcrossGrowth holds a snapshot and an iterator in the middle
// of a page while the pool grows several times underneath them.
func TestSnapshotAcrossGrowth(t *testing.T) {
	db := openTest(t, filepath.Join(shmDir(t), "pool"), smallOpts(DAXOff))
	for i := 0; i < 500; i++ {
		if err := db.Put(key(i), value(i, 0, 100)); err != nil {
			t.Fatal(err)
		}
	}
	snap := db.NewSnapshot()
	defer snap.Close()
	it, err := snap.NewIterator(&IterOptions{LowerBound: key(100), UpperBound: key(400)})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if !it.SeekGE(key(250)) || !bytes.Equal(it.Key(), key(250)) {
		t.Fatalf("SeekGE: %q", it.Key())
	}
	size := db.Stats().PoolSize
	for i := 0; db.Stats().PoolSize < 8*size; i++ {
		if err := db.Put(key(i%500), value(i%500, 1+i/500, 100)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 251; i < 400; i++ {
		if !it.Next() || !bytes.Equal(it.Key(), key(i)) || !bytes.Equal(it.Value(), value(i, 0, 100)) {
			t.Fatalf("after growth, Next to %d: %q (%v)", i, it.Key(), it.Error())
		}
	}
	if it.Next() {
		t.Fatalf("Next past the upper bound: %q", it.Key())
	}
	if v, err := snap.Get(key(3)); err != nil || !bytes.Equal(v, value(3, 0, 100)) {
		t.Fatalf("snapshot Get after growth: %q, %v", v, err)
	}
}

// TestCloseWithIteratorsOpen closes the DB under open iterators and
// snapshots (one of them in use on another goroutine): Close returns
// without waiting for them, and every later call on them reports ErrClosed
// instead of touching the unmapped pool.
func TestCloseWithIteratorsOpen(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	db := openTest(t, path, smallOpts(DAXEmulated))
	for i := 0; i < 1000; i++ {
		if err := db.Put(key(i), value(i, 0, 32)); err != nil {
			t.Fatal(err)
		}
	}
	idle, _ := db.NewIterator(nil)
	idle.First()
	snap := db.NewSnapshot()
	onSnap, _ := snap.NewIterator(nil)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a reader on its own goroutine, until the DB is closed
		defer close(done)
		it, err := db.NewIterator(nil)
		if err != nil {
			return
		}
		defer it.Close()
		for {
			for ok := it.First(); ok; ok = it.Next() {
			}
			if it.Error() != nil {
				return
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	time.Sleep(10 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close with iterators open: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the open iterators")
	}
	close(stop)
	<-done
	for _, it := range []*Iterator{idle, onSnap} {
		if it.Next() || it.First() || it.SeekGE(key(5)) || it.Valid() || it.Key() != nil {
			t.Fatal("an iterator moved after the DB was closed")
		}
		if !errors.Is(it.Error(), ErrClosed) {
			t.Fatalf("Error after the DB's Close: %v", it.Error())
		}
		if err := it.Close(); err != nil {
			t.Fatalf("iterator Close after the DB's: %v", err)
		}
	}
	if _, err := snap.Get(key(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("snapshot Get after the DB's Close: %v", err)
	}
	if _, err := snap.NewIterator(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("snapshot NewIterator after the DB's Close: %v", err)
	}
	snap.Close()
	if _, err := db.NewIterator(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewIterator after Close: %v", err)
	}
	if _, err := db.NewSnapshot().Get(key(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewSnapshot after Close: %v", err)
	}
}

// TestIterationAllocatesNothing: a full forward pass and View allocate
// nothing per key (a page costs none either, once the iterator's buffers
// have grown).
func TestIterationAllocatesNothing(t *testing.T) {
	db := openTest(t, filepath.Join(shmDir(t), "pool"), smallOpts(DAXEmulated))
	for i := 0; i < 2000; i++ {
		if err := db.Put(key(i), value(i, 0, 100)); err != nil {
			t.Fatal(err)
		}
	}
	it, err := db.NewIterator(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	sum := 0
	pass := func() {
		for ok := it.First(); ok; ok = it.Next() {
			sum += len(it.Key()) + int(it.Value()[0])
		}
	}
	pass()
	if a := testing.AllocsPerRun(5, pass); a != 0 {
		t.Fatalf("a pass over 2000 keys allocated %v times", a)
	}
	k := key(77)
	fn := func(v []byte) error { sum += int(v[0]); return nil }
	if a := testing.AllocsPerRun(100, func() { db.View(k, fn) }); a != 0 {
		t.Fatalf("View allocated %v times", a)
	}
}
