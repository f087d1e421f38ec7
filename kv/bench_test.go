package kv

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// The benchmarks use the workload of ANCHORS: 16-byte keys ("%016d" of
// distinct random integers, in random order), 100-byte random values, 1M
// keys for reads. Pools live on tmpfs (/dev/shm) when the machine has one,
// and durable puts run in the emulated mode there: CPU flushes and a fence,
// no MAP_SYNC, which is durable against a process crash only. Say so next
// to any figure quoted from them.

const benchKeys = 1_000_000

// benchKey formats n%1e16 as 16 decimal digits (what "%016d" prints)
// without fmt's allocation, so the benchmarks measure the store.
func benchKey(buf []byte, n uint64) []byte {
	n %= 1e16
	buf = buf[:16]
	for i := 15; i >= 0; i-- {
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return buf
}

func benchValue(r *rand.Rand, size int) []byte {
	v := make([]byte, size)
	for i := range v {
		v[i] = byte(r.Uint32())
	}
	return v
}

// openBenchPool opens a new 256 MiB pool in mode for a benchmark, closed
// when the benchmark ends.
func openBenchPool(b *testing.B, mode DAXMode) *DB {
	b.Helper()
	db, err := Open(filepath.Join(shmDir(b), "pool"), &Options{DAX: mode, Size: 256 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkPut measures durable Puts of new keys: each returns only once its
// record is durable (emulated: CLWB/CLFLUSHOPT + SFENCE; off: msync).
func BenchmarkPut(b *testing.B) {
	for _, mode := range []DAXMode{DAXEmulated, DAXOff} {
		for _, size := range []int{100, 1024, 4096} {
			b.Run(fmt.Sprintf("%s/value=%d", mode, size), func(b *testing.B) {
				db := openBenchPool(b, mode)
				r := rand.New(rand.NewPCG(1, 2))
				v := benchValue(r, size)
				var kb [32]byte
				b.SetBytes(int64(16 + size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := db.Put(benchKey(kb[:], r.Uint64()), v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkApply measures durable batches of 1000 puts of new keys with
// 100-byte and 4 KiB values (emulated mode); ns/op is per batch, and the
// key rate is reported as keys/s.
func BenchmarkApply(b *testing.B) {
	for _, size := range []int{100, 4096} {
		b.Run(fmt.Sprintf("value=%d", size), func(b *testing.B) { benchApply(b, size) })
	}
}

func benchApply(b *testing.B, size int) {
	db := openBenchPool(b, DAXEmulated)
	r := rand.New(rand.NewPCG(1, 2))
	v := benchValue(r, size)
	var kb [32]byte
	batch := db.NewBatch()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch.Reset()
		for j := 0; j < 1000; j++ {
			batch.Put(benchKey(kb[:], r.Uint64()), v)
		}
		if err := db.Apply(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "keys/s")
}

// BenchmarkPutParallel is BenchmarkPut (emulated, 100-byte values) from
// GOMAXPROCS goroutines.
func BenchmarkPutParallel(b *testing.B) {
	db := openBenchPool(b, DAXEmulated)
	var seed sync.Mutex
	n := uint64(0)
	b.SetBytes(116)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		seed.Lock()
		n++
		r := rand.New(rand.NewPCG(n, 3))
		seed.Unlock()
		v := benchValue(r, 100)
		var kb [32]byte
		for pb.Next() {
			if err := db.Put(benchKey(kb[:], r.Uint64()), v); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// loaded is a pool of benchKeys keys shared by the read benchmarks.
var loaded struct {
	once sync.Once
	dir  string
	path string
	keys []uint64
	err  error
}

func loadedPool(b *testing.B) (string, []uint64) {
	b.Helper()
	loaded.once.Do(func() {
		dir, err := os.MkdirTemp(benchDir(), "daxkv-bench-")
		if err != nil {
			loaded.err = err
			return
		}
		loaded.dir = dir
		loaded.path = filepath.Join(dir, "pool")
		db, err := Open(loaded.path, &Options{DAX: DAXEmulated, Size: 256 << 20})
		if err != nil {
			loaded.err = err
			return
		}
		r := rand.New(rand.NewPCG(5, 6))
		v := benchValue(r, 100)
		seen := make(map[uint64]bool, benchKeys)
		var kb [32]byte
		batch := db.NewBatch()
		for len(loaded.keys) < benchKeys {
			k := r.Uint64() % 1e16
			if seen[k] {
				continue
			}
			seen[k] = true
			loaded.keys = append(loaded.keys, k)
			batch.Put(benchKey(kb[:], k), v)
			if batch.Len() == 1000 {
				if loaded.err = db.Apply(batch); loaded.err != nil {
					return
				}
				batch.Reset()
			}
		}
		if loaded.err = db.Apply(batch); loaded.err != nil {
			return
		}
		loaded.err = db.Close()
	})
	if loaded.err != nil {
		b.Fatal(loaded.err)
	}
	return loaded.path, loaded.keys
}

func benchDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if loaded.dir != "" {
		os.RemoveAll(loaded.dir)
	}
	os.Exit(code)
}

func openLoaded(b *testing.B) (*DB, []uint64) {
	path, keys := loadedPool(b)
	db, err := Open(path, &Options{DAX: DAXEmulated})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db, keys
}

// BenchmarkGet reads random existing keys of a 1M-key pool (Get copies the
// value out).
func BenchmarkGet(b *testing.B) {
	db, keys := openLoaded(b)
	r := rand.New(rand.NewPCG(8, 9))
	var kb [32]byte
	b.SetBytes(100)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.Get(benchKey(kb[:], keys[r.IntN(len(keys))])); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetParallel is BenchmarkGet from GOMAXPROCS goroutines.
func BenchmarkGetParallel(b *testing.B) {
	db, keys := openLoaded(b)
	b.SetBytes(100)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 9))
		var kb [32]byte
		for pb.Next() {
			if _, err := db.Get(benchKey(kb[:], keys[r.IntN(len(keys))])); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGetScaling compares Gets on one goroutine and on two in one
// run: each round times b.N random Gets on one goroutine, then b.N on each
// of two, and the benchmark reports the median over 3 rounds of the
// throughput ratio ("speedup", 2.0 is perfect) and both rates. Run it with
// a fixed count: -bench GetScaling -benchtime=2000000x.
func BenchmarkGetScaling(b *testing.B) {
	db, keys := openLoaded(b)
	run := func(goroutines int, seed uint64) time.Duration {
		var wg sync.WaitGroup
		start := time.Now()
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(seed, uint64(g)))
				var kb [32]byte
				for i := 0; i < b.N; i++ {
					if _, err := db.Get(benchKey(kb[:], keys[r.IntN(len(keys))])); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	b.ResetTimer()
	var ratios, one, two []float64
	for round := uint64(0); round < 3; round++ {
		t1 := run(1, round).Seconds()
		t2 := run(2, round).Seconds()
		ratios = append(ratios, 2*t1/t2)
		one = append(one, float64(b.N)/t1)
		two = append(two, 2*float64(b.N)/t2)
	}
	b.ReportMetric(median(ratios), "speedup")
	b.ReportMetric(median(one), "gets/s-1g")
	b.ReportMetric(median(two), "gets/s-2g")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkView reads random existing keys without copying (zero
// allocations).
func BenchmarkView(b *testing.B) {
	db, keys := openLoaded(b)
	r := rand.New(rand.NewPCG(8, 9))
	var kb [32]byte
	sum := 0
	fn := func(v []byte) error { sum += int(v[0]); return nil }
	b.SetBytes(100)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := db.View(benchKey(kb[:], keys[r.IntN(len(keys))]), fn); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan visits every key of the 1M-key pool in order; ns/op is per
// key.
func BenchmarkScan(b *testing.B) {
	db, _ := openLoaded(b)
	b.SetBytes(116)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for n < b.N {
		err := db.Scan(nil, nil, func(k, v []byte) error {
			n++
			if n == b.N {
				return io.EOF
			}
			return nil
		})
		if err != nil && err != io.EOF {
			b.Fatal(err)
		}
	}
}

// BenchmarkIterate walks an iterator forward over the 1M-key pool, reading
// every key and value; ns/op is per key, and keys/s is reported.
func BenchmarkIterate(b *testing.B) {
	db, _ := openLoaded(b)
	benchWalk(b, db)
}

// benchWalk walks an iterator over db forward b.N keys (from First again
// at the end), reading every key and value, and reports keys/s.
func benchWalk(b *testing.B, db *DB) {
	b.Helper()
	it, err := db.NewIterator(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer it.Close()
	b.SetBytes(116)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	sum := 0
	for n := 0; n < b.N; {
		for ok := it.First(); ok && n < b.N; ok = it.Next() {
			sum += int(it.Key()[15]) + int(it.Value()[99])
			n++
		}
		if err := it.Error(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "keys/s")
	if sum == 0 {
		b.Fatal("read nothing")
	}
}

// BenchmarkIterateWritten is BenchmarkIterate over 1M keys written in
// random order by this process, with no reopen: the index grew by splits
// (leaves about two thirds full), where a reopened pool's index is filled
// in two passes with full leaves (fillTree). Written one Put at a time,
// records lie in the heap in write order, and every key of the walk is on
// a page of its own: a TLB miss per key. Written in batches of 1000, each
// batch's records lie in key order (Apply sorts them), so the walk moves
// forward through each batch's 192 KiB, a thousand streams whose current
// pages the TLB holds: a miss per page, not per key.
func BenchmarkIterateWritten(b *testing.B) {
	for _, batchLen := range []int{1000, 1} {
		name := "batches"
		if batchLen == 1 {
			name = "puts"
		}
		b.Run(name, func(b *testing.B) { iterateWritten(b, batchLen) })
	}
}

func iterateWritten(b *testing.B, batchLen int) {
	db := openBenchPool(b, DAXEmulated)
	r := rand.New(rand.NewPCG(5, 6))
	v := benchValue(r, 100)
	var kb [32]byte
	batch := db.NewBatch()
	for i := 0; i < benchKeys; i++ {
		k := benchKey(kb[:], r.Uint64())
		if batchLen == 1 {
			if err := db.Put(k, v); err != nil {
				b.Fatal(err)
			}
			continue
		}
		batch.Put(k, v)
		if batch.Len() == batchLen || i == benchKeys-1 {
			if err := db.Apply(batch); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
	benchWalk(b, db)
}

// BenchmarkReopenClean opens the 1M-key pool after a clean close; the
// recovery-ms metric is Stats.RecoveryTime, the whole of Open's own work,
// and ordered-ms the time from the start of Open until an iterator is
// positioned (the B-tree fills in the background after Open returns).
func BenchmarkReopenClean(b *testing.B) {
	path, _ := loadedPool(b)
	var total, ordered float64
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		db, err := Open(path, &Options{DAX: DAXEmulated, NoAutoCompact: true})
		if err != nil {
			b.Fatal(err)
		}
		s := db.Stats()
		b.StopTimer()
		it, err := db.NewIterator(nil)
		if err != nil || !it.First() {
			b.Fatal("no first key", err)
		}
		ordered += time.Since(start).Seconds()
		it.Close()
		if s.Recovered || s.Keys != benchKeys || !s.FromCheckpoint {
			b.Fatalf("recovered=%v keys=%d checkpoint=%v (%s)", s.Recovered, s.Keys, s.FromCheckpoint, s.CheckpointNote)
		}
		total += s.RecoveryTime.Seconds()
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(total/float64(b.N)*1000, "recovery-ms")
	b.ReportMetric(ordered/float64(b.N)*1000, "ordered-ms")
}

// BenchmarkReopenAfterCrash opens a copy of the 1M-key pool taken while it
// was open (no clean close: the state a crash leaves) and reports the
// recovery time Stats gives (scan, index rebuild, replay).
func BenchmarkReopenAfterCrash(b *testing.B) {
	path, _ := loadedPool(b)
	src, err := Open(path, &Options{DAX: DAXEmulated})
	if err != nil {
		b.Fatal(err)
	}
	img, err := os.ReadFile(path) // the open pool's bytes: not marked clean
	src.Close()
	if err != nil {
		b.Fatal(err)
	}
	crashed := filepath.Join(filepath.Dir(path), "crashed")
	defer os.Remove(crashed)
	var total float64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if err := os.WriteFile(crashed, img, 0o600); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		db, err := Open(crashed, &Options{DAX: DAXEmulated})
		if err != nil {
			b.Fatal(err)
		}
		s := db.Stats()
		b.StopTimer()
		if !s.Recovered || s.Keys != benchKeys {
			b.Fatalf("recovered=%v keys=%d", s.Recovered, s.Keys)
		}
		total += s.RecoveryTime.Seconds()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(total/float64(b.N)*1000, "recovery-ms")
}

// BenchmarkTreeInsert inserts 1M random 16-byte keys into the index's
// B-tree (the applier's work for a write, off the write path), a new tree
// every million; ns/op is per insert.
func BenchmarkTreeInsert(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	items := make([]item, 1<<20)
	var kb [32]byte
	for i := range items {
		items[i] = makeItem(benchKey(kb[:], r.Uint64()%1e16), int64(i)*64)
	}
	b.ResetTimer()
	for n := 0; n < b.N; {
		t := newTree()
		for i := 0; i < len(items) && n < b.N; i, n = i+1, n+1 {
			t.ReplaceOrInsert(items[i])
		}
	}
}
