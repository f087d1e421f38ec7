package kv

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// BenchmarkLoadLatency loads 1M keys of 100-byte values into a new pool
// (default options: it starts at 64 MiB and grows) and reports the
// latency distribution of every durable Put from an HDR histogram
// (hdrhistogram-go, 3 significant digits): p50, p99, p99.9, p99.99 and max,
// in ns, with the load's rate. Run it with -benchtime=1x: one iteration is
// a whole load. Sub-benchmarks: both durable modes on tmpfs, one and two
// writers, and Gets of already-loaded keys from a second goroutine while one
// writer loads (the Get figures are then the ones reported).
//
// ops-over-1ms counts the operations slower than 1 ms (p99.99 of 1M is
// under 1 ms only if at most 100 are), and busy-pauses-over-1ms the
// machine's own pauses over 1 ms in as long a time (below).
//
// idle-max-ns and busy-max-ns are the machine's own noise floor, measured
// in the same run right after the load (the pool closed, nothing of ours
// running): the longest pause one goroutine sees between two clock reads
// while it spins for as long as the load took, alone (idle) or while a
// second goroutine spins on the other core (busy). A load keeps both cores
// busy (the writer, and the index's applier on the other core), so
// busy-max-ns is the floor to compare max-ns with: on a virtual machine
// it is often several milliseconds (a vCPU taken away by the host, a
// scheduler tick lost to another thread), and a max-ns close to it means
// the store added no pause of its own.
//
//	go test -run XXX -bench LoadLatency -benchtime=1x ./kv/
func BenchmarkLoadLatency(b *testing.B) {
	const keys = 1_000_000
	for _, mode := range []DAXMode{DAXEmulated, DAXOff} {
		for _, writers := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/writers=%d", mode, writers), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					loadLatency(b, mode, writers, false, keys)
				}
			})
		}
		b.Run(fmt.Sprintf("%s/get-while-loading", mode), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				loadLatency(b, mode, 1, true, keys)
			}
		})
	}
}

func loadLatency(b *testing.B, mode DAXMode, writers int, gets bool, keys int) {
	b.StopTimer()
	path := filepath.Join(shmDir(b), "pool")
	db, err := Open(path, &Options{DAX: mode})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	putH := make([]*hdrhistogram.Histogram, writers)
	for w := range putH {
		putH[w] = hdrhistogram.New(1, int64(10*time.Second), 3)
	}
	getH := hdrhistogram.New(1, int64(10*time.Second), 3)
	var loaded atomic.Int64 // keys 0..loaded-1 are in
	var wg sync.WaitGroup
	stop := make(chan struct{})
	if gets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(9, 9))
			var kb [32]byte
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := loaded.Load()
				if n == 0 {
					continue
				}
				k := benchKey(kb[:], uint64(r.Int64N(n))*0x9E3779B97F4A7C15)
				t0 := time.Now()
				err := db.View(k, func([]byte) error { return nil })
				getH.RecordValue(int64(time.Since(t0)))
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	b.StartTimer()
	start := time.Now()
	var ww sync.WaitGroup
	var next atomic.Int64
	for w := 0; w < writers; w++ {
		ww.Add(1)
		go func(h *hdrhistogram.Histogram, seed uint64) {
			defer ww.Done()
			r := rand.New(rand.NewPCG(seed, 1))
			v := benchValue(r, 100)
			var kb [32]byte
			for {
				i := next.Add(1) - 1
				if i >= int64(keys) {
					return
				}
				k := benchKey(kb[:], uint64(i)*0x9E3779B97F4A7C15)
				t0 := time.Now()
				err := db.Put(k, v)
				h.RecordValue(int64(time.Since(t0)))
				if err != nil {
					b.Error(err)
					return
				}
				if writers == 1 {
					loaded.Store(i + 1)
				}
			}
		}(putH[w], uint64(w))
	}
	ww.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(stop)
	wg.Wait()
	if err := db.Close(); err != nil { // before the idle probe: no goroutine of ours runs
		b.Fatal(err)
	}
	for _, h := range putH[1:] {
		putH[0].Merge(h)
	}
	h := putH[0]
	if gets {
		h = getH
	}
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 50}, {"p99", 99}, {"p99.9", 99.9}, {"p99.99", 99.99}} {
		b.ReportMetric(float64(h.ValueAtQuantile(q.q)), q.name+"-ns")
	}
	b.ReportMetric(float64(h.Max()), "max-ns")
	var slow int64 // operations over 1 ms (the histogram's buckets, to 0.1%)
	for _, bar := range h.Distribution() {
		if bar.From > int64(time.Millisecond) {
			slow += bar.Count
		}
	}
	b.ReportMetric(float64(slow), "ops-over-1ms")
	idle, _ := machinePause(elapsed, false)
	busy, busyOver := machinePause(elapsed, true)
	b.ReportMetric(float64(idle), "idle-max-ns")
	b.ReportMetric(float64(busy), "busy-max-ns")
	b.ReportMetric(float64(busyOver), "busy-pauses-over-1ms")
	b.ReportMetric(float64(keys)/elapsed.Seconds(), "puts/s")
	if gets {
		b.ReportMetric(float64(h.TotalCount())/elapsed.Seconds(), "gets/s")
	}
}

// machinePause spins for d and returns the longest gap between two
// consecutive clock reads, and how many gaps were over 1 ms: pauses no code
// of ours caused. With busy, a second goroutine spins meanwhile, to keep
// the other core busy too. A load of 1M Puts has p99.99 under 1 ms only if
// at most 100 of them took longer; when the machine alone pauses more often
// than that in as long a time, no store can.
func machinePause(d time.Duration, busy bool) (worst time.Duration, over1ms int) {
	if busy {
		var stop atomic.Bool
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
			}
		}()
		defer func() { stop.Store(true); wg.Wait() }()
	}
	last := time.Now()
	end := last.Add(d)
	for last.Before(end) {
		now := time.Now()
		gap := now.Sub(last)
		worst = max(worst, gap)
		if gap > time.Millisecond {
			over1ms++
		}
		last = now
	}
	return worst, over1ms
}
