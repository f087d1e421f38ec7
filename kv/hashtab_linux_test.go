//go:build linux

package kv

import (
	"syscall"
	"testing"
)

func minorFaults(t *testing.T) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Minflt
}

// TestHashTableGrowTakesNoPageFaults: a shard growing into a table made
// ahead fills memory that the preparer already faulted in. A fresh large
// table comes untouched from the kernel, and without faultIn the grow took
// one page fault per 4 KiB page of the new table. (When the heap hands the
// preparer memory that is resident anyway, the grow faults little either
// way: the test then proves nothing, but cannot fail wrongly.)
func TestHashTableGrowTakesNoPageFaults(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory takes faults of its own for every word grow writes")
	}
	tab := newHashTable(0)
	stop, done := make(chan struct{}), make(chan struct{})
	go tab.prepareTables(stop, done)
	defer func() { close(stop); <-done }()

	const pairs = 1 << 19 // the next table: 1<<20 pairs, 16 MiB, 4096 pages
	s := &tab.shards[9]
	s.tab.Store(newShardTab(pairs))
	hashAt := func(i uint64) uint64 { return 9<<(64-hashShardBits) | (i*0x9E3779B97F4A7C15)>>hashShardBits | 1 }
	var i uint64
	for ; uint64(s.n)*prepareDen <= pairs*prepareNum; i++ {
		tab.set(hashAt(i), i)
	}
	waitNextTable(t, s)
	for uint64(s.n+1)*maxLoadDen <= pairs*maxLoadNum {
		tab.set(hashAt(i), i)
		i++
	}
	before := minorFaults(t)
	tab.set(hashAt(i), i) // grows the shard
	faults := minorFaults(t) - before
	if s.tab.Load().mask+1 != 2*pairs {
		t.Fatalf("the shard did not grow: %d pairs", s.tab.Load().mask+1)
	}
	if faults > 1024 {
		t.Fatalf("the grow into a 4096-page table took %d page faults: the prepared table was not faulted in", faults)
	}
	t.Logf("%d page faults during the grow", faults)
}
