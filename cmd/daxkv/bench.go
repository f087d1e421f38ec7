package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/kv"
)

// benchWorkloads are db_bench's names, in the order they run.
var benchWorkloads = []string{"fillseq", "fillrandom", "overwrite", "readrandom", "readseq", "mixed", "deleterandom"}

type benchResult struct {
	Workload  string  `json:"workload"`
	Ops       int     `json:"ops"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	MBPerSec  float64 `json:"mb_per_sec"`
	P50       int64   `json:"p50_ns"`
	P99       int64   `json:"p99_ns"`
	P999      int64   `json:"p999_ns"`
	Max       int64   `json:"max_ns"`
}

type benchOptions struct {
	num, valueSize, threads int
	workloads               string
	quiet                   bool
}

func newBenchCommand(g *globals) *cobra.Command {
	o := benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench [POOL]",
		Short: "Measure daxkv alone with db_bench-style workloads",
		Long: `Run db_bench-style workloads on daxkv: fillseq and fillrandom (each on a
new pool), overwrite, readrandom, readseq, mixed (90% reads, 10% writes)
and deleterandom, with --num keys of 16 bytes and --value-size values,
split over --threads goroutines. Every write is durable. It prints ops/s,
MB/s and the p50/p99/p99.9 latency of every operation (an HDR histogram);
--json prints the same as JSON. The pool is removed afterwards. Without a
pool it uses one on /dev/shm when the machine has one. Comparisons with
other stores live in the repository's bench/ directory.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.num < 1 || o.valueSize < 0 || o.threads < 1 {
				return fmt.Errorf("%w: --num and --threads must be at least 1, --value-size at least 0", errUsage)
			}
			path := g.pool
			if len(args) == 1 {
				path = args[0]
			}
			if path == "" {
				path = strings.TrimSuffix(defaultDemoPool(), "demo.pool") + "bench.pool"
			}
			if _, err := os.Lstat(path); err == nil {
				return fmt.Errorf("bench %s: the pool exists; bench makes and removes its own: %w", path, os.ErrExist)
			}
			mode, err := kv.ParseDAXMode(g.mode)
			if err != nil {
				return err
			}
			var names []string
			for _, w := range strings.Split(o.workloads, ",") {
				if w = strings.TrimSpace(w); w == "" {
					continue
				}
				found := false
				for _, known := range benchWorkloads {
					found = found || known == w
				}
				if !found {
					return fmt.Errorf("%w: no workload %q (want %s)", errUsage, w, strings.Join(benchWorkloads, ", "))
				}
				names = append(names, w)
			}
			results, err := runBench(path, g.options(mode, false), &o, names, cmd.ErrOrStderr())
			os.Remove(path)
			os.Remove(kv.CheckpointPath(path)) // the last Close left one
			if err != nil {
				return err
			}
			if g.json {
				return writeJSON(cmd.OutOrStdout(), results)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "workload\tops\tops/s\tMB/s\tp50\tp99\tp99.9\tmax\t\n")
			for _, r := range results {
				fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.1f\t%v\t%v\t%v\t%v\t\n", r.Workload, r.Ops, r.OpsPerSec, r.MBPerSec,
					time.Duration(r.P50), time.Duration(r.P99), time.Duration(r.P999), time.Duration(r.Max))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&o.num, "num", 100000, "keys")
	cmd.Flags().IntVar(&o.valueSize, "value-size", 100, "bytes per value")
	cmd.Flags().IntVar(&o.threads, "threads", 1, "goroutines per workload")
	cmd.Flags().StringVar(&o.workloads, "workloads", strings.Join(benchWorkloads, ","), "comma-separated workloads, run in the order given")
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "no progress on stderr")
	return cmd
}

func benchKeyOf(n int) []byte { return fmt.Appendf(nil, "%016d", n) }

// runBench runs the workloads named on a pool at path, each fill on a new
// pool, and returns their figures.
func runBench(path string, opts *kv.Options, o *benchOptions, names []string, stderr io.Writer) ([]benchResult, error) {
	perm := rand.New(rand.NewPCG(1, 2)).Perm(o.num)
	value := make([]byte, o.valueSize+4096)
	for i := range value {
		value[i] = byte(rand.Uint32())
	}
	var db *kv.DB
	defer func() {
		if db != nil {
			db.Close()
		}
	}()
	fresh := func() error {
		if db != nil {
			if err := db.Close(); err != nil {
				return err
			}
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		var err error
		db, err = kv.Open(path, opts)
		return err
	}
	if err := fresh(); err != nil {
		return nil, err
	}
	var out []benchResult
	for _, w := range names {
		var op func(r *rand.Rand, i int) error
		val := func(r *rand.Rand) []byte { off := r.IntN(4096); return value[off : off+o.valueSize] }
		check := func(v []byte) error {
			if len(v) != o.valueSize {
				return fmt.Errorf("a value of %d bytes, want %d", len(v), o.valueSize)
			}
			return nil
		}
		switch w {
		case "fillseq", "fillrandom":
			if err := fresh(); err != nil {
				return nil, err
			}
			seq := w == "fillseq"
			op = func(r *rand.Rand, i int) error {
				if seq {
					return db.Put(benchKeyOf(i), val(r))
				}
				return db.Put(benchKeyOf(perm[i]), val(r))
			}
		case "overwrite":
			op = func(r *rand.Rand, i int) error { return db.Put(benchKeyOf(r.IntN(o.num)), val(r)) }
		case "readrandom":
			op = func(r *rand.Rand, i int) error { return db.View(benchKeyOf(r.IntN(o.num)), check) }
		case "mixed":
			op = func(r *rand.Rand, i int) error {
				if r.IntN(10) == 0 {
					return db.Put(benchKeyOf(r.IntN(o.num)), val(r))
				}
				return db.View(benchKeyOf(r.IntN(o.num)), check)
			}
		case "deleterandom":
			op = func(r *rand.Rand, i int) error { return db.Delete(benchKeyOf(perm[i])) }
		case "readseq":
			res, err := benchScan(db, o, stderr)
			if err != nil {
				return nil, err
			}
			out = append(out, res)
			continue
		}
		res, err := benchRun(w, o, op, stderr)
		if err != nil {
			return nil, fmt.Errorf("bench %s: %w", w, err)
		}
		out = append(out, res)
	}
	return out, nil
}

// benchRun runs op for i in [0, num) over the threads, recording every
// call's latency.
func benchRun(name string, o *benchOptions, op func(r *rand.Rand, i int) error, stderr io.Writer) (benchResult, error) {
	p := startProgress(stderr, o.quiet, name, int64(o.num))
	hs := make([]*hdrhistogram.Histogram, o.threads)
	errs := make([]error, o.threads)
	var wg sync.WaitGroup
	start := time.Now()
	for t := range hs {
		hs[t] = hdrhistogram.New(1, int64(time.Minute), 3)
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(t)+7, 11))
			for i := o.num * t / o.threads; i < o.num*(t+1)/o.threads; i++ {
				t0 := time.Now()
				if err := op(r, i); err != nil {
					errs[t] = err
					return
				}
				hs[t].RecordValue(int64(time.Since(t0)))
				p.add(1)
			}
		}(t)
	}
	wg.Wait()
	elapsed := time.Since(start)
	p.finish()
	if err := errors.Join(errs...); err != nil {
		return benchResult{}, err
	}
	for _, h := range hs[1:] {
		hs[0].Merge(h)
	}
	return makeBenchResult(name, o, elapsed, hs[0]), nil
}

// benchScan times one ordered scan of every key; its latency is the scan's
// mean per key (a scan has no per-key call).
func benchScan(db *kv.DB, o *benchOptions, stderr io.Writer) (benchResult, error) {
	p := startProgress(stderr, o.quiet, "readseq", int64(o.num))
	n := 0
	start := time.Now()
	err := db.Scan(nil, nil, func(k, v []byte) error {
		n++
		p.add(1)
		return nil
	})
	elapsed := time.Since(start)
	p.finish()
	if err != nil {
		return benchResult{}, err
	}
	h := hdrhistogram.New(1, int64(time.Minute), 3)
	if n > 0 {
		h.RecordValues(max(1, elapsed.Nanoseconds()/int64(n)), int64(n))
	}
	return makeBenchResult("readseq", &benchOptions{num: n, valueSize: o.valueSize}, elapsed, h), nil
}

func makeBenchResult(name string, o *benchOptions, elapsed time.Duration, h *hdrhistogram.Histogram) benchResult {
	s := elapsed.Seconds()
	return benchResult{Workload: name, Ops: o.num, Seconds: s, OpsPerSec: float64(o.num) / s,
		MBPerSec: float64(o.num) * float64(16+o.valueSize) / s / 1e6,
		P50:      h.ValueAtQuantile(50), P99: h.ValueAtQuantile(99), P999: h.ValueAtQuantile(99.9), Max: h.Max()}
}
