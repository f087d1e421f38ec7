package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// wlResult is one workload's figures from one child run.
type wlResult struct {
	Workload string `json:"workload"`
	Ops      int64  `json:"ops"`
	Ns       int64  `json:"ns"`
	P50      int64  `json:"p50_ns"`
	P99      int64  `json:"p99_ns"`
	P999     int64  `json:"p999_ns"`
	P9999    int64  `json:"p9999_ns"`
	Max      int64  `json:"max_ns"`
}

// childResult is what one child prints: one store, one run of the plan.
type childResult struct {
	Config          string     `json:"config"`
	Workloads       []wlResult `json:"workloads"`
	MaxRSSBytes     int64      `json:"max_rss_bytes"`
	DiskBytes       int64      `json:"disk_bytes"`        // before step 10, after a reopen and the reads
	DiskBytesLoaded int64      `json:"disk_bytes_loaded"` // at step 4, after fillrandom and overwrite
	HeapBytesPerKey float64    `json:"heap_bytes_per_key"`
}

// newHist records latencies from 1 ns to 100 s with 3 significant digits.
func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 100e9, 3) }

func summarize(name string, ops int64, elapsed time.Duration, h *hdrhistogram.Histogram) wlResult {
	return wlResult{Workload: name, Ops: ops, Ns: elapsed.Nanoseconds(),
		P50: h.ValueAtQuantile(50), P99: h.ValueAtQuantile(99), P999: h.ValueAtQuantile(99.9),
		P9999: h.ValueAtQuantile(99.99), Max: h.Max()}
}

// values hands out value-size slices of one random buffer at varying
// offsets: incompressible, and no allocation per put.
type values struct {
	buf []byte
	n   int
	rng *rand.Rand
}

func newValues(n int, seed uint64) *values {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	buf := make([]byte, n+1<<16)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	return &values{buf: buf, n: n, rng: rng}
}

func (v *values) next() []byte {
	off := v.rng.IntN(1 << 16)
	return v.buf[off : off+v.n]
}

// plan runs WORKLOADS.md's plan on one configuration.
type plan struct {
	cfg      config
	dir      string
	keys     [][]byte
	valSize  int
	opsLimit int
	seed     uint64
	res      childResult
}

func (p *plan) path(name string) string { return filepath.Join(p.dir, name) }

// timed runs fn(i) for i in [0, ops) on threads goroutines, each taking a
// contiguous share, and records every call's latency. Only the calls are
// timed: the histograms are made and the goroutines started (parked on a
// gate) before the clock starts.
func (p *plan) timed(name string, ops, threads int, fn func(t, i int) error) error {
	hs := make([]*hdrhistogram.Histogram, threads)
	errs := make([]error, threads)
	for t := range hs {
		hs[t] = newHist()
	}
	work := func(t int) {
		h := hs[t]
		for i := ops * t / threads; i < ops*(t+1)/threads; i++ {
			t0 := time.Now()
			if err := fn(t, i); err != nil {
				errs[t] = fmt.Errorf("%s op %d: %w", name, i, err)
				return
			}
			h.RecordValue(int64(time.Since(t0)))
		}
	}
	var start time.Time
	if threads == 1 {
		start = time.Now()
		work(0)
	} else {
		var ready, done sync.WaitGroup
		gate := make(chan struct{})
		for t := 0; t < threads; t++ {
			ready.Add(1)
			done.Add(1)
			go func(t int) {
				defer done.Done()
				ready.Done()
				<-gate
				work(t)
			}(t)
		}
		ready.Wait()
		start = time.Now()
		close(gate)
		done.Wait()
	}
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	for _, h := range hs[1:] {
		hs[0].Merge(h)
	}
	p.res.Workloads = append(p.res.Workloads, summarize(name, int64(ops), elapsed, hs[0]))
	return nil
}

func (p *plan) rng(stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(p.seed, stream))
}

func (p *plan) run() error {
	p.res.Config = p.cfg.name
	n := len(p.keys)
	if p.opsLimit > 0 {
		n = min(n, p.opsLimit)
		if err := p.fill("fillrandom", "main", n, 1); err != nil {
			return err
		}
		if err := p.fill("fill8", "w8", n, 8); err != nil {
			return err
		}
		p.res.MaxRSSBytes = maxRSS()
		return nil
	}

	// 1. fillbatch on a store of its own.
	{
		s, err := p.cfg.open(p.path("batch"))
		if err != nil {
			return err
		}
		vals := newValues(p.valSize, p.seed+1)
		const per = 1000
		ks := make([][]byte, 0, per)
		vs := make([][]byte, 0, per)
		h := newHist()
		start := time.Now()
		for i := 0; i < n; i += per {
			ks, vs = ks[:0], vs[:0]
			for j := i; j < min(i+per, n); j++ {
				ks = append(ks, p.keys[j])
				vs = append(vs, vals.next())
			}
			t0 := time.Now()
			if err := s.putBatch(ks, vs); err != nil {
				return fmt.Errorf("fillbatch: %w", err)
			}
			h.RecordValue(int64(time.Since(t0)))
		}
		p.res.Workloads = append(p.res.Workloads, summarize("fillbatch", int64(n), time.Since(start), h))
		if err := s.close(); err != nil {
			return err
		}
		if err := os.RemoveAll(p.path("batch")); err != nil {
			return err
		}
	}

	// 2. fillrandom.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc
	s, err := p.cfg.open(p.path("main"))
	if err != nil {
		return err
	}
	vals := newValues(p.valSize, p.seed+2)
	if err := p.timed("fillrandom", n, 1, func(_, i int) error { return s.put(p.keys[i], vals.next()) }); err != nil {
		return err
	}

	// 3. overwrite.
	r := p.rng(3)
	if err := p.timed("overwrite", n, 1, func(_, i int) error { return s.put(p.keys[r.IntN(n)], vals.next()) }); err != nil {
		return err
	}

	// 4. disk bytes after the load.
	p.res.DiskBytesLoaded, err = diskBytes(p.path("main"))
	if err != nil {
		return err
	}

	// 5. reopen after a clean close.
	if err := s.close(); err != nil {
		return err
	}
	if err := p.timed("reopen", 1, 1, func(int, int) error {
		s, err = p.cfg.open(p.path("main"))
		if err != nil {
			return err
		}
		_, err = s.get(p.keys[0])
		return err
	}); err != nil {
		return err
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	p.res.HeapBytesPerKey = max(0, float64(ms.HeapAlloc)-float64(baseHeap)) / float64(n)

	// 6, 7. readrandom on 1 and 2 goroutines.
	check := func(l int, err error) error {
		if err == nil && l != p.valSize {
			err = fmt.Errorf("value of %d bytes, want %d", l, p.valSize)
		}
		return err
	}
	r = p.rng(6)
	if err := p.timed("readrandom", n, 1, func(_, i int) error { return check(s.get(p.keys[r.IntN(n)])) }); err != nil {
		return err
	}
	rs := []*rand.Rand{p.rng(7), p.rng(70)}
	if err := p.timed("readrandom2", n, 2, func(t, i int) error { return check(s.get(p.keys[rs[t].IntN(n)])) }); err != nil {
		return err
	}

	// 8. readseq: one ordered scan.
	{
		h := newHist()
		var prev []byte
		count := 0
		var bad error
		start := time.Now()
		err := s.scan(func(k, v []byte) {
			if bad == nil && (len(v) != p.valSize || (prev != nil && bytes.Compare(prev, k) >= 0)) {
				bad = fmt.Errorf("readseq: key %q out of order or value of %d bytes", k, len(v))
			}
			prev = append(prev[:0], k...)
			count++
		})
		elapsed := time.Since(start)
		if err == nil {
			err = bad
		}
		if err == nil && count != n {
			err = fmt.Errorf("readseq visited %d keys, want %d", count, n)
		}
		if err != nil {
			return err
		}
		// One latency per key, as the scan's mean: a scan has no per-key call.
		h.RecordValues(max(1, elapsed.Nanoseconds()/int64(n)), int64(n))
		p.res.Workloads = append(p.res.Workloads, summarize("readseq", int64(n), elapsed, h))
	}

	// 9. mixed: 90% gets, 10% durable puts, 2 goroutines.
	rs = []*rand.Rand{p.rng(9), p.rng(90)}
	vs := []*values{newValues(p.valSize, p.seed+9), newValues(p.valSize, p.seed+90)}
	if err := p.timed("mixed", n, 2, func(t, i int) error {
		k := p.keys[rs[t].IntN(n)]
		if rs[t].IntN(10) == 0 {
			return s.put(k, vs[t].next())
		}
		return check(s.get(k))
	}); err != nil {
		return err
	}

	// 10. reopen after a crash: a copy of the open store's files. The
	// original is closed (untimed) before the copy opens, as PMDK must
	// (it refuses two pools with one id): no store holds two at once.
	p.res.DiskBytes, err = diskBytes(p.path("main"))
	if err != nil {
		return err
	}
	if q, ok := s.(interface{ quiesce() }); ok {
		q.quiesce()
	}
	if err := copyTree(p.path("main"), p.path("crash")); err != nil {
		return err
	}
	if err := s.close(); err != nil {
		return err
	}
	var c store
	if err := p.timed("reopen-crash", 1, 1, func(int, int) error {
		if c, err = p.cfg.open(p.path("crash")); err != nil {
			return err
		}
		_, err = c.get(p.keys[0])
		return err
	}); err != nil {
		return err
	}
	if err := c.close(); err != nil {
		return err
	}
	if err := os.RemoveAll(p.path("crash")); err != nil {
		return err
	}
	if s, err = p.cfg.open(p.path("main")); err != nil {
		return err
	}

	// 11. deleterandom.
	perm := p.rng(11).Perm(n)
	if err := p.timed("deleterandom", n, 1, func(_, i int) error { return s.del(p.keys[perm[i]]) }); err != nil {
		return err
	}
	if err := s.close(); err != nil {
		return err
	}
	if err := os.RemoveAll(p.path("main")); err != nil {
		return err
	}

	// 12. fill8.
	if err := p.fill("fill8", "w8", n, 8); err != nil {
		return err
	}
	p.res.MaxRSSBytes = maxRSS()
	return nil
}

// fill puts the first n keys into a fresh store from threads goroutines,
// one durable put each, then closes and removes it.
func (p *plan) fill(name, dir string, n, threads int) error {
	s, err := p.cfg.open(p.path(dir))
	if err != nil {
		return err
	}
	vs := make([]*values, threads)
	for t := range vs {
		vs[t] = newValues(p.valSize, p.seed+100+uint64(t))
	}
	if err := p.timed(name, n, threads, func(t, i int) error { return s.put(p.keys[i], vs[t].next()) }); err != nil {
		return err
	}
	if err := s.close(); err != nil {
		return err
	}
	return os.RemoveAll(p.path(dir))
}

func maxRSS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Maxrss * 1024
}

// diskBytes sums st_blocks × 512 over the file or directory at path.
func diskBytes(path string) (int64, error) {
	var total int64
	err := filepath.Walk(path, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && !fi.IsDir() {
			total += st.Blocks * 512
		}
		return nil
	})
	return total, err
}

// runChild is the child process's whole job: run the plan, print the
// result as one JSON object.
func runChild(cfg config, dir, keysFile string, valSize, opsLimit int, seed uint64) error {
	keys, err := readKeys(keysFile)
	if err != nil {
		return err
	}
	p := &plan{cfg: cfg, dir: dir, keys: keys, valSize: valSize, opsLimit: opsLimit, seed: seed}
	if err := p.run(); err != nil {
		return fmt.Errorf("%s: %w", cfg.name, err)
	}
	return json.NewEncoder(os.Stdout).Encode(p.res)
}

func readKeys(file string) ([][]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if len(b)%keyLen != 0 {
		return nil, fmt.Errorf("%s: %d bytes is not a whole number of %d-byte keys", file, len(b), keyLen)
	}
	keys := make([][]byte, len(b)/keyLen)
	for i := range keys {
		keys[i] = b[i*keyLen : (i+1)*keyLen : (i+1)*keyLen]
	}
	return keys, nil
}

const keyLen = 16

// writeKeys writes n keys: %016d of n distinct random integers, shuffled.
func writeKeys(file string, n int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 1))
	seen := make(map[uint64]struct{}, n)
	buf := make([]byte, 0, n*keyLen)
	for len(seen) < n {
		x := rng.Uint64N(1e16)
		if _, dup := seen[x]; dup {
			continue
		}
		seen[x] = struct{}{}
		buf = fmt.Appendf(buf, "%016d", x)
	}
	return os.WriteFile(file, buf, 0o644)
}
