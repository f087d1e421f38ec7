package kv

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daxkv/daxkv/internal/seam"
)

// TestRunnableMetricIsKnown checks that the runtime still publishes the
// metric yieldTurn reads, as an integer: under another name or kind the
// writers would never yield, and the latencies of loads with more
// goroutines than Ps would go back to tens of milliseconds, silently.
func TestRunnableMetricIsKnown(t *testing.T) {
	for _, d := range metrics.All() {
		if d.Name == runnableMetric {
			if d.Kind != metrics.KindUint64 {
				t.Fatalf("%s is of kind %v, want uint64", runnableMetric, d.Kind)
			}
			return
		}
	}
	t.Fatalf("the runtime does not publish %s", runnableMetric)
}

// TestYieldTurnCountsOperations checks the count yieldTurn keeps: the
// operations of the writes that succeeded (a batch counts its operations,
// so that batches look at the scheduler as often per operation as Puts
// do), not those of rejected writes.
func TestYieldTurnCountsOperations(t *testing.T) {
	db := openTest(t, t.TempDir()+"/pool", nil)
	for i := range 10 {
		if err := db.Put([]byte{byte(i)}, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	b := new(Batch)
	for i := range 300 {
		b.Put([]byte{1, byte(i), byte(i >> 8)}, []byte("v"))
	}
	if err := db.Apply(b); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete([]byte{0}); err != nil {
		t.Fatal(err)
	}
	for range 300 { // rejected: no key
		if err := db.Put(nil, []byte("v")); err == nil {
			t.Fatal("a Put without a key succeeded")
		}
	}
	if got := db.writes.Load(); got != 311 {
		t.Fatalf("writes = %d, want 311", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for range 300 {
		if err := db.Delete([]byte{1}); err == nil {
			t.Fatal("a Delete on a closed DB succeeded")
		}
	}
	if got := db.writes.Load(); got != 311 {
		t.Fatalf("writes after Close = %d, want 311", got)
	}
}

// hog runs n goroutines that only compute until the returned stop is
// called: goroutines that never block or yield.
func hog(n int) (stop func()) {
	var done atomic.Bool
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 1
			for !done.Load() {
				for i := range 1000 {
					x += i * x
				}
			}
			_ = x
		}()
	}
	return func() { done.Store(true); wg.Wait() }
}

// TestWriterYieldsToWaitingGoroutines checks when a writer yields its P:
// with two Ps and three goroutines that only compute (so that some always
// wait for a P), a run of Puts yields; with one P it never does (a
// goroutine that does not yield back would take 10 ms at every turn).
func TestWriterYieldsToWaitingGoroutines(t *testing.T) {
	var yields atomic.Int64
	opts := &Options{}
	opts.hooks = &seam.Hooks{Yield: func() { yields.Add(1) }}
	db := openTest(t, t.TempDir()+"/pool", opts)
	defer db.Close()
	val := make([]byte, 32)
	put := func(n int, until func() bool) error {
		for i := range n {
			if until() {
				return nil
			}
			if err := db.Put([]byte{byte(i), byte(i >> 8)}, val); err != nil {
				return err
			}
		}
		return nil
	}
	never := func() bool { return false }
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	stop := hog(3)
	err := put(64*yieldEvery, func() bool { return yields.Load() > 0 })
	stop()
	if err != nil {
		t.Fatal(err)
	}
	if yields.Load() == 0 {
		t.Fatalf("no yield in %d Puts beside goroutines waiting for a P", 64*yieldEvery)
	}
	runtime.GOMAXPROCS(1)
	yields.Store(0)
	stop = hog(1)
	err = put(8*yieldEvery, never)
	stop()
	if err != nil {
		t.Fatal(err)
	}
	if n := yields.Load(); n != 0 {
		t.Fatalf("%d yields with one P", n)
	}
}

// TestOneHogDoesNotStallWaits checks, with one P and a goroutine that only
// computes, that a Put followed by a Scan of its key (which waits for the
// index's applier) stays fast: a waiter that yielded its P between polls
// gave it to the other goroutine for a whole 10 ms slice each time
// (written by a review of the applier's poll; the median was 20 ms).
func TestOneHogDoesNotStallWaits(t *testing.T) {
	db := openTest(t, t.TempDir()+"/pool", nil)
	defer db.Close()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	stop := hog(1)
	defer stop()
	val := make([]byte, 32)
	var lat []time.Duration
	for i := range 200 {
		k := []byte{byte(i)}
		start := time.Now()
		if err := db.Put(k, val); err != nil {
			t.Fatal(err)
		}
		found := false
		if err := db.Scan(k, append(k, 0), func(_, _ []byte) error { found = true; return nil }); err != nil {
			t.Fatal(err)
		}
		if !found {
			t.Fatalf("Scan did not find %q just put", k)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	if med := lat[len(lat)/2]; med > 5*time.Millisecond {
		t.Fatalf("median Put and Scan %v beside a computing goroutine on one P", med)
	}
}

// TestFailedApplyIsNotCounted checks that a rejected batch (an empty key,
// or a closed DB) does not move yieldTurn's count (written by a review:
// counting every Apply passed the test above).
func TestFailedApplyIsNotCounted(t *testing.T) {
	db := openTest(t, t.TempDir()+"/pool", nil)
	bad := new(Batch)
	for i := range 300 {
		bad.Put([]byte{byte(i), byte(i >> 8)}, []byte("v"))
	}
	bad.Put(nil, []byte("v"))
	if err := db.Apply(bad); err == nil {
		t.Fatal("a batch with an empty key applied")
	}
	if got := db.writes.Load(); got != 0 {
		t.Fatalf("writes after a rejected batch = %d, want 0", got)
	}
	b := new(Batch)
	for i := range 300 {
		b.Put([]byte{byte(i), byte(i >> 8)}, []byte("v"))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Apply(b); err == nil {
		t.Fatal("Apply on a closed DB succeeded")
	}
	if got := db.writes.Load(); got != 0 {
		t.Fatalf("writes after Apply on a closed DB = %d, want 0", got)
	}
}

// TestOneHogDoesNotSlowTheApplier checks, with one P and a goroutine that
// only computes, that a Scan after a load of batches (which leaves the
// applier a backlog of tens of thousands of changes) does not wait for
// the applier's yields: each handed the P to the other goroutine for a
// whole 10 ms slice, and the Scan waited 3 s (written by a review).
func TestOneHogDoesNotSlowTheApplier(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	db := openTest(t, t.TempDir()+"/pool", nil)
	stop := hog(1)
	defer stop()
	val := make([]byte, 8)
	const n, per = 70000, 1000
	for i := 0; i < n; i += per {
		b := new(Batch)
		for j := i; j < i+per; j++ {
			b.Put(fmt.Appendf(nil, "k%08d", (j*7919)%n), val)
		}
		if err := db.Apply(b); err != nil {
			t.Fatal(err)
		}
	}
	backlog := db.idx.enqA.Load() - db.idx.appliedA.Load()
	start := time.Now()
	if err := db.Scan([]byte("k"), []byte("k0"), func(_, _ []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a Scan waited %v for the applier to apply %d changes beside a computing goroutine on one P", d, backlog)
	}
}
