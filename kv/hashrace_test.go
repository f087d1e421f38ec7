package kv

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHashTableReadersRaceGrowth: lock-free readers look up a stable set
// of hashes, all in one shard and crowded onto a few home slots, while one
// writer inserts and deletes churn hashes in the same shard (growth,
// backward shifts, wrap-around). A reader must always find every stable
// hash with its ref, and never find a hash that was never present.
func TestHashTableReadersRaceGrowth(t *testing.T) {
	tab := newHashTable(0)
	const shardTop = uint64(5) << (64 - hashShardBits)
	mk := func(i uint64, home uint64) uint64 { return shardTop | i<<20 | home }
	var stable []uint64
	for i := range uint64(40) {
		h := mk(i+1, 6+i%3) // crowded onto home slots 6..8 (mask 7 at first)
		stable = append(stable, h)
		tab.set(h, h^0xabcdef)
	}
	absent := mk(1<<30, 6)
	var stop atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				h := stable[n%len(stable)]
				ref, ok := tab.load(h)
				if !ok || ref != h^0xabcdef {
					errc <- fmt.Errorf("load(%#x) = %#x, %v; want %#x", h, ref, ok, h^0xabcdef)
					return
				}
				if _, ok := tab.load(absent); ok {
					errc <- fmt.Errorf("found an absent hash")
					return
				}
			}
		}()
	}
	r := rand.New(rand.NewPCG(1, 1))
	var churn []uint64
	end := time.Now().Add(3 * time.Second)
	for round := 0; time.Now().Before(end); round++ {
		// grow the shard with churn
		for range 200 {
			h := mk(1000+r.Uint64N(1<<20), r.Uint64N(16))
			tab.set(h, 1)
			churn = append(churn, h)
		}
		// delete all churn, shifting stable entries back
		r.Shuffle(len(churn), func(i, j int) { churn[i], churn[j] = churn[j], churn[i] })
		for _, h := range churn {
			tab.del(h)
		}
		churn = churn[:0]
		select {
		case err := <-errc:
			stop.Store(true)
			wg.Wait()
			t.Fatal(err)
		default:
		}
	}
	stop.Store(true)
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
}
