package kv

import (
	"bytes"
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// bigValue is the value of key i in the gigabyte tests: 16 KiB, derived
// from i so that a wrong record never passes.
func bigValue(i int, buf []byte) []byte {
	b := buf[:16<<10]
	for j := 0; j < len(b); j += 8 {
		b[j] = byte(i)
		b[j+1] = byte(i >> 8)
		b[j+2] = byte(j)
	}
	return b
}

// loadGigabyte writes 1 GiB (65,536 values of 16 KiB) and deletes nine
// keys in ten; it returns the keys kept and the peak AllocatedBytes.
func loadGigabyte(t *testing.T, db *DB) (kept []int, peak int64) {
	t.Helper()
	buf := make([]byte, 16<<10)
	const n = 1 << 16
	for i := 0; i < n; i++ {
		mustPut(t, db, key(i), bigValue(i, buf))
	}
	peak = db.Stats().AllocatedBytes
	for i := 0; i < n; i++ {
		if i%10 == 0 {
			kept = append(kept, i)
		} else if err := db.Delete(key(i)); err != nil {
			t.Fatal(err)
		}
	}
	return kept, max(peak, db.Stats().AllocatedBytes)
}

func checkBig(t *testing.T, db *DB, kept []int) {
	t.Helper()
	buf := make([]byte, 16<<10)
	for _, i := range kept {
		if v := mustGet(t, db, key(i)); !bytes.Equal(v, bigValue(i, buf)) {
			t.Fatalf("key %d: wrong value (%d bytes)", i, len(v))
		}
	}
}

// TestCompactGigabyte: 1 GiB written, 90% deleted, one Compact: the file's
// blocks fall below 20% of their peak and every remaining key reads back,
// before and after a reopen.
func TestCompactGigabyte(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("writes 1 GiB")
	}
	path := filepath.Join(shmDir(t), "pool")
	opts := &Options{DAX: DAXEmulated, NoAutoCompact: true}
	db := openTest(t, path, opts)
	kept, peak := loadGigabyte(t, db)
	start := time.Now()
	res, err := db.CompactWithResult(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	after := db.Stats().AllocatedBytes
	t.Logf("peak %d MiB allocated; Compact took %v: %+v; after %d MiB (%.1f%%)",
		peak>>20, time.Since(start).Round(time.Millisecond), res, after>>20, 100*float64(after)/float64(peak))
	if after >= peak/5 {
		t.Fatalf("after Compact the file occupies %d bytes, not below 20%% of the peak %d", after, peak)
	}
	checkBig(t, db, kept)
	db.Close()
	db = openTest(t, path, opts)
	checkBig(t, db, kept)
}

// TestAutoCompactGigabyte: the same, through the background policy alone,
// within 30 s.
func TestAutoCompactGigabyte(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("writes 1 GiB")
	}
	db := openTest(t, filepath.Join(shmDir(t), "pool"), &Options{DAX: DAXEmulated})
	kept, peak := loadGigabyte(t, db)
	start := time.Now()
	for db.Stats().AllocatedBytes >= peak/5 {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("after 30 s the file occupies %d bytes (peak %d, %d chunks punched)",
				db.Stats().AllocatedBytes, peak, db.Stats().ChunksPunched)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("peak %d MiB; below 20%% after %v without a call (%d chunks punched)",
		peak>>20, time.Since(start).Round(100*time.Millisecond), db.Stats().ChunksPunched)
	checkBig(t, db, kept)
}

// TestGetLatencyUnderCompactAndGrowth: readers Get the kept keys, the very
// records Compact moves and whose chunks it punches, while a writer makes
// the pool grow; Get never waits for either (a Get takes no lock a move or
// a punch holds): its p99 stays under 1 ms. The figures are printed.
func TestGetLatencyUnderCompactAndGrowth(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("timing")
	}
	path := filepath.Join(shmDir(t), "pool")
	opts := &Options{ChunkSize: 1 << 20, DAX: DAXEmulated, NoAutoCompact: true}
	db := openTest(t, path, opts)
	const n, size = 100_000, 400
	kept := fillAndThin(t, db, n, size, 10)
	h := hdrhistogram.New(1, int64(10*time.Second), 3)
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var gets atomic.Int64
	for r := 0; r < 1; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs := rand.New(rand.NewPCG(uint64(r), 1))
			local := hdrhistogram.New(1, int64(10*time.Second), 3)
			for {
				select {
				case <-stop:
					mu.Lock()
					h.Merge(local)
					mu.Unlock()
					return
				default:
				}
				i := kept[rs.IntN(len(kept))]
				t0 := time.Now()
				v, err := db.Get(key(i))
				local.RecordValue(int64(time.Since(t0)))
				if err != nil || !bytes.Equal(v, value(i, 1, size)) {
					t.Errorf("Get(%d) during compaction: %v", i, err)
					return
				}
				gets.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() { // growth: new keys past the free space
		defer wg.Done()
		for i := n; i < n+60_000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := db.Put(key(i), value(i, 1, size)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	res, err := db.CompactWithResult(context.Background())
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	p99, mx := time.Duration(h.ValueAtQuantile(99)), time.Duration(h.Max())
	t.Logf("Get during Compact (%d moved, %d chunks punched) and growth: %d gets, p50 %v, p99 %v, p99.9 %v, max %v",
		res.Moved, res.Punched, gets.Load(), time.Duration(h.ValueAtQuantile(50)), p99, time.Duration(h.ValueAtQuantile(99.9)), mx)
	if res.Moved == 0 || res.Punched == 0 {
		t.Fatalf("Compact did nothing to wait on: %+v", res)
	}
	if p99 > time.Millisecond {
		t.Errorf("Get p99 %v during compaction, want at most 1 ms", p99)
	}
}
