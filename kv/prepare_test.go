package kv

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daxkv/daxkv/internal/seam"
)

// waitPrepared waits until the chunks the preparer keeps ahead (prepAhead
// of them) are backed, and fails the test after a few seconds.
func waitPrepared(t *testing.T, db *DB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		next := db.al.NextChunks(db.prepAhead())
		ready := len(next) > 0
		for _, off := range next {
			ready = ready && db.m.Backed(off/db.m.ChunkSize())
		}
		if ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the chunks next in line %v are not backed after 5 s", next)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPreparerWarmsAtOpen: a new pool and a reopened one both have the
// chunks next in line faulted in shortly after Open, so the first writes
// after Open do not fault a chunk in themselves.
func TestPreparerWarmsAtOpen(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	opts := &Options{Size: 1 << 20, ChunkSize: 64 << 10, DAX: DAXEmulated}
	db := openTest(t, path, opts)
	waitPrepared(t, db)
	for i := 0; i < 300; i++ {
		mustPut(t, db, key(i), bytes.Repeat([]byte{byte(i)}, 500))
	}
	waitPrepared(t, db)
	db.Close()
	db = openTest(t, path, opts)
	waitPrepared(t, db)
	for i := 0; i < 300; i++ {
		if v := mustGet(t, db, key(i)); !bytes.Equal(v, bytes.Repeat([]byte{byte(i)}, 500)) {
			t.Fatalf("key %d: %d bytes", i, len(v))
		}
	}
}

// TestPutRacesPreparer: writers fill fresh chunks (a pool of 64 KiB
// chunks that grows many times) while the preparer, and a second preparer
// driven by the test, fault the same chunks in; both paths take the
// chunk's lock in the fault layer, so every Put succeeds and every value
// is intact after a reopen. Run it with -race.
func TestPutRacesPreparer(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	var prepared atomic.Int64
	opts := &Options{Size: 128 << 10, ChunkSize: 64 << 10, DAX: DAXEmulated}
	opts.hooks = &seam.Hooks{Prepare: func() { prepared.Add(1) }}
	db := openTest(t, path, opts)
	stop := make(chan struct{})
	var extra sync.WaitGroup
	extra.Add(1)
	go func() {
		defer extra.Done()
		for {
			select {
			case <-stop:
				return
			default:
				db.prepareChunks()
			}
		}
	}()
	const writers, each = 4, 400
	val := func(w, i int) []byte { return bytes.Repeat([]byte{byte(w*31 + i)}, 700+i%300) }
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := db.Put(fmt.Appendf(nil, "w%d-%05d", w, i), val(w, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(stop)
	extra.Wait()
	if prepared.Load() == 0 {
		t.Fatal("the preparer never ran")
	}
	if s := db.Stats(); s.PoolSize <= 128<<10 {
		t.Fatalf("the pool never grew (%d bytes): the test did not reach fresh chunks", s.PoolSize)
	}
	db.Close()
	db = openTest(t, path, opts)
	for w := 0; w < writers; w++ {
		for i := 0; i < each; i++ {
			if v := mustGet(t, db, fmt.Appendf(nil, "w%d-%05d", w, i)); !bytes.Equal(v, val(w, i)) {
				t.Fatalf("writer %d key %d: %d bytes, want %d", w, i, len(v), len(val(w, i)))
			}
		}
	}
}

// TestCloseStopsPreparer: Close waits for the preparer before it unmaps,
// even while the preparer is stalled mid-round, and a closed DB's preparer
// is gone.
func TestCloseStopsPreparer(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	release := make(chan struct{})
	var stalled atomic.Bool
	opts := &Options{Size: 1 << 20, ChunkSize: 64 << 10, DAX: DAXEmulated}
	opts.hooks = &seam.Hooks{Prepare: func() {
		if stalled.CompareAndSwap(false, true) {
			<-release
		}
	}}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	for !stalled.Load() {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while the preparer was mid-round", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	select {
	case <-db.prep.done:
	default:
		t.Fatal("the preparer still runs after Close")
	}
}

// TestAtHookStaysOnTheCallersGoroutine: the crash suite's At hook records
// the last point in a variable its workload goroutine also writes; the
// preparer, on a goroutine of its own, must never call At (-race catches
// it otherwise).
func TestAtHookStaysOnTheCallersGoroutine(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	label := "open"
	opts := smallOpts(DAXEmulated)
	opts.hooks = &seam.Hooks{At: func(p seam.Point) { label = string(p) }}
	db := openTest(t, path, opts)
	for i := 0; i < 200; i++ { // fresh chunks: the preparer wakes
		label = "op"
		mustPut(t, db, key(i), bytes.Repeat([]byte{1}, 900))
	}
	_ = label
}

// TestLoadLeavesNoWorkToWriters: while one writer loads a pool that grows
// many times, the preparer grows the pool and faults every chunk in ahead
// of the writer, so no Put extends the file (seam.Grow) or faults a chunk
// in itself (seam.FaultIn): the two stalls of milliseconds that the tail
// latency benchmark used to show, at every growth and at the first Put.
func TestLoadLeavesNoWorkToWriters(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	var grows, faults atomic.Int64
	opts := &Options{Size: 4 << 20, ChunkSize: 1 << 20, DAX: DAXEmulated}
	opts.hooks = &seam.Hooks{At: func(p seam.Point) {
		switch p {
		case seam.Grow:
			grows.Add(1)
		case seam.FaultIn:
			faults.Add(1)
		}
	}}
	db := openTest(t, path, opts)
	v := bytes.Repeat([]byte{7}, 100)
	const n = 60_000
	for i := 0; i < n; i++ {
		mustPut(t, db, key(i), v)
		if i%5000 == 0 {
			// The preparer has a chunk and more in reserve, tens of
			// thousands of Puts ahead; a pause now and then keeps a slow
			// (race-detector) run from outrunning it by chance.
			time.Sleep(2 * time.Millisecond)
		}
	}
	st := db.Stats()
	if st.FileSize < 3*opts.Size {
		t.Fatalf("the pool is %d bytes: the load did not grow it several times", st.FileSize)
	}
	if g, f := grows.Load(), faults.Load(); g != 0 || f != 0 {
		t.Errorf("%d Puts grew the pool %d times and faulted %d chunks in themselves, want 0 and 0", n, g, f)
	}
}

// TestPreparerGrowthRacesSwitchMode: the preparer grows the pool on its own
// goroutine, holding no key stripe, while SwitchMode replaces the mapping
// and the Persister; growMu keeps the two apart (-race reports the
// Persister read otherwise), and every value is intact after a reopen.
func TestPreparerGrowthRacesSwitchMode(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	opts := &Options{Size: 128 << 10, ChunkSize: 64 << 10, DAX: DAXEmulated}
	db := openTest(t, path, opts)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		modes := []DAXMode{DAXOff, DAXEmulated}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := db.SwitchMode(t.Context(), modes[i%2]); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	v := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 300+i%700) }
	const n = 3000
	for i := 0; i < n; i++ {
		mustPut(t, db, key(i), v(i))
	}
	close(stop)
	wg.Wait()
	db.Close()
	db = openTest(t, path, opts)
	for i := 0; i < n; i++ {
		if got := mustGet(t, db, key(i)); !bytes.Equal(got, v(i)) {
			t.Fatalf("key %d: %d bytes back", i, len(got))
		}
	}
}

// TestZeroFillPreparesAtHalf: where faulting a chunk in writes it with
// zeros (a pool on ext4 or XFS), the preparer keeps one chunk ahead and
// prepares it when the current region is carved past its middle, not when
// the region starts or the pool opens: writes of less than half a chunk
// after Open write no zeros ahead (four chunks of them used to be queued
// in front of the first fences).
func TestZeroFillPreparesAtHalf(t *testing.T) {
	path := filepath.Join(diskDir(t), "pool")
	var prepared atomic.Int64
	opts := &Options{Size: 1 << 20, ChunkSize: 64 << 10, DAX: DAXOff}
	opts.hooks = &seam.Hooks{Prepare: func() { prepared.Add(1) }}
	db := openTest(t, path, opts)
	if !db.m.ZeroFills() {
		t.Skip("the temporary directory's filesystem is not one Fault writes zeros on")
	}
	chunk := db.m.ChunkSize()
	backed := func() (n int) {
		for c := int64(1); c < int64(len(db.m.Bytes()))/chunk; c++ {
			if db.m.Backed(c) {
				n++
			}
		}
		return n
	}
	// A quarter of the first region: the preparer has nothing to do but
	// the chunk Open faulted in.
	val := bytes.Repeat([]byte{7}, 400)
	i := 0
	for ; int64(i)*512 < chunk/4; i++ {
		mustPut(t, db, key(i), val)
	}
	time.Sleep(200 * time.Millisecond) // time for a preparer that would
	if n := backed(); n != 1 {
		t.Fatalf("%d chunks past chunk 0 backed after a quarter of one was written, want 1", n)
	}
	// Past the middle: the next chunk is prepared before the region ends.
	for ; int64(i)*512 < chunk*5/8; i++ {
		mustPut(t, db, key(i), val)
	}
	next := db.al.NextChunks(1)
	if len(next) != 1 {
		t.Fatal("no free chunk left")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !db.m.Backed(next[0] / chunk) {
		if time.Now().After(deadline) {
			t.Fatalf("the next chunk %d is not backed 5 s after the region passed its middle", next[0]/chunk)
		}
		time.Sleep(time.Millisecond)
	}
	if n := backed(); n != 2 {
		t.Errorf("%d chunks past chunk 0 backed, want 2 (one ahead)", n)
	}
	if prepared.Load() == 0 {
		t.Error("the preparer never ran")
	}
}

// mixedLoad runs a single writer that mixes small records (the small bump
// region) with, every third Put, large ones (over alloc.SmallMax: the large
// bump region) through a pool that grows several times, waiting for the
// preparer after each of its wakes, and returns how many times a
// Put grew the pool itself (seam.Grow) or faulted a chunk in itself
// (seam.FaultIn).
func mixedLoad(t *testing.T, dir string, mode DAXMode, smallLen, large, n int) (grows, faults int64, db *DB) {
	path := filepath.Join(dir, "pool")
	var g, f atomic.Int64
	cur := 0
	opts := &Options{Size: 4 << 20, ChunkSize: 1 << 20, DAX: mode}
	opts.hooks = &seam.Hooks{At: func(p seam.Point) {
		switch p {
		case seam.Grow:
			g.Add(1)
		case seam.FaultIn:
			f.Add(1)
			t.Logf("fault-in at put %d", cur)
		}
	}}
	db = openTest(t, path, opts)
	small := bytes.Repeat([]byte{7}, smallLen)
	big := bytes.Repeat([]byte{9}, large)
	// Whenever the preparer has been woken (notePrepare), the writer
	// waits for it to finish (the chunks it keeps ahead are backed), so
	// that what the writer is left to do depends on which chunks it
	// prepares, not on how fast the machine is.
	woken := func() uint64 {
		if db.m.ZeroFills() {
			return db.al.Halves()
		}
		return db.al.Regions()
	}
	waitPrepared(t, db)
	last := woken()
	for i := 0; i < n; i++ {
		cur = i
		v := small
		if i%3 == 2 {
			v = big
		}
		mustPut(t, db, key(i), v)
		if w := woken(); w != last {
			last = w
			waitPrepared(t, db)
		}
	}
	if st := db.Stats(); st.FileSize < 2*opts.Size {
		t.Fatalf("the pool is %d bytes: the load did not grow it", st.FileSize)
	}
	return g.Load(), f.Load(), db
}

// TestMixedRegionsLeaveWritersNoFaultIn: a writer of small and large
// records carves two bump regions at once (small, large). On a pool whose
// chunks are written with zeros the preparer keeps a chunk ahead for each
// region being carved: with one for all (an adversarial review's finding)
// the first region to end took it, and the other one started on a chunk
// nobody had prepared, which the Put then wrote with zeros itself, once
// every ~400 Puts. It must leave writers no more to do than on tmpfs.
func TestMixedRegionsLeaveWritersNoFaultIn(t *testing.T) {
	g0, f0, _ := mixedLoad(t, shmDir(t), DAXEmulated, 3900, 4200, 4000)
	t.Logf("tmpfs (DAXEmulated): %d grows, %d fault-ins in Puts", g0, f0)
	g, f, db := mixedLoad(t, diskDir(t), DAXOff, 3900, 4200, 4000)
	if !db.m.ZeroFills() {
		t.Skip("not a ZeroFills filesystem")
	}
	t.Logf("ext4 (DAXOff, ZeroFills): %d grows, %d fault-ins in Puts", g, f)
	if g > g0 || f > f0 {
		t.Errorf("on a ZeroFills pool, Puts grew the pool %d times and faulted %d chunks in themselves; want at most %d and %d (as on tmpfs)", g, f, g0, f0)
	}
}

// TestSingleRegionLeavesWritersNoFaultIn: the same with only small records
// (one bump region) through several growths: no Put grows the pool or
// faults a chunk in itself.
func TestSingleRegionLeavesWritersNoFaultIn(t *testing.T) {
	g, f, db := mixedLoad(t, diskDir(t), DAXOff, 100, 100, 30000)
	if !db.m.ZeroFills() {
		t.Skip("not a ZeroFills filesystem")
	}
	t.Logf("ext4 small only: %d grows, %d fault-ins", g, f)
	if g != 0 || f != 0 {
		t.Errorf("Puts grew the pool %d times and faulted %d chunks in themselves; want 0 and 0", g, f)
	}
}
