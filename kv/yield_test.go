package kv

import (
	"runtime/metrics"
	"testing"
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

// TestYieldTurnCountsKeys checks the write count yieldTurn keeps: a batch
// counts its keys, so that batches look at the scheduler as often per key
// as Puts do.
func TestYieldTurnCountsKeys(t *testing.T) {
	db := openTest(t, t.TempDir()+"/pool", nil)
	defer db.Close()
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
	if got := db.writes.Load(); got != 311 {
		t.Fatalf("writes = %d, want 311", got)
	}
}
