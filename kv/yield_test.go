package kv

import (
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
	put := func(n int) {
		for i := range n {
			if err := db.Put([]byte{byte(i), byte(i >> 8)}, val); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	stop := hog(3)
	put(16 * yieldEvery)
	stop()
	if yields.Load() == 0 {
		t.Fatalf("no yield in %d Puts beside goroutines waiting for a P", 16*yieldEvery)
	}
	runtime.GOMAXPROCS(1)
	yields.Store(0)
	stop = hog(1)
	put(16 * yieldEvery)
	stop()
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
