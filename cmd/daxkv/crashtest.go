package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/crash"
	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/mutant"
)

var errCrashFailed = errors.New("daxkv: crash suite failed")

func newCrashtestCommand(g *globals) *cobra.Command {
	var tier, ops, file, paths, tear string
	var seed uint64
	var gate, quiet bool
	var nestEvery int
	var fixtures string
	var only []string
	cmd := &cobra.Command{
		Use:   "crashtest",
		Short: "Run the crash-injection suite (on a tier, or on your own operations)",
		Long: `crashtest runs workloads on simulated persistent memory, crashes them at every
fence, named crash point, random flush and operation boundary, and opens every
crash image with the real recovery code; see CRASH.md.

Your own sequence of operations, with --ops or --file (';' or newlines apart):
  put KEY SIZE | del KEY | batch{put KEY SIZE, del KEY, ...} | mode auto|on|off|emulated
  | switch off|emulated

A tier also runs concurrent histories (2 to 4 goroutines at once on one
pool, a per-thread model of the CPU's flushes) and prints
  crash-concurrent: histories=H images=N violations=V
It ends with one line:
  crash-suite: images=N points=P violations=V mutants=C/M
and exits non-zero on any violation or uncaught mutant. --mutants runs the
mutation gate, which needs a binary built with -tags mutants.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := crash.Config{Seed: seed, NestEvery: nestEvery, Fixtures: fixtures}
			for _, p := range strings.Split(paths, ",") {
				switch strings.TrimSpace(p) {
				case "cpu":
					cfg.Paths = append(cfg.Paths, flush.SimCPU)
				case "msync":
					cfg.Paths = append(cfg.Paths, flush.SimMsync)
				default:
					return fmt.Errorf("%w: --paths takes cpu, msync or both", errUsage)
				}
			}
			switch tear {
			case "words":
				cfg.Tear = flush.TearWords
			case "lines":
				cfg.Tear = flush.TearLines
			default:
				return fmt.Errorf("%w: --tear takes words or lines", errUsage)
			}
			var ws []crash.Workload
			var err error
			switch {
			case ops != "" || file != "":
				text := ops
				if file != "" {
					b, err := os.ReadFile(file)
					if err != nil {
						return err
					}
					text = string(b)
				}
				w, err := crash.Parse("user", text)
				if err != nil {
					return err
				}
				// Both the pool's starting sizes: with and without growth.
				g := w
				g.Name, g.Grow = "user-grow", true
				ws = []crash.Workload{w, g}
			default:
				if ws, err = crash.Tier(tier, seed); err != nil {
					return err
				}
			}
			stderr := cmd.ErrOrStderr()
			p := startProgress(stderr, quiet || g.json, "crash workloads", int64(len(ws)))
			last := time.Now()
			cfg.Progress = func(r *crash.Report) {
				p.done.Store(int64(r.Workloads))
				if !quiet && !g.json && p.bar == nil && time.Since(last) > 10*time.Second { // a log line, not a bar
					last = time.Now()
					fmt.Fprintf(stderr, "  %s\n", r)
				}
			}
			start := time.Now()
			rep, err := crash.Run(cfg, ws)
			p.finish()
			if err != nil {
				return err
			}
			var conc *crash.ConcurrentReport
			if ops == "" && file == "" {
				hs, err := crash.ConcurrentTier(tier, seed)
				if err != nil {
					return err
				}
				cp := startProgress(stderr, quiet || g.json, "concurrent histories", int64(len(hs)))
				ccfg := cfg
				ccfg.Progress = nil
				conc, err = crash.RunConcurrent(ccfg, hs)
				cp.done.Store(int64(len(hs)))
				cp.finish()
				if err != nil {
					return err
				}
			}
			var results []crash.GateResult
			if gate {
				if !mutant.Enabled {
					return fmt.Errorf("%w: --mutants needs a binary built with -tags mutants", errUsage)
				}
				gws := ws
				if ops == "" && file == "" {
					gws, _ = crash.Tier("gate", seed)
				}
				var names []mutant.Name
				for _, n := range only {
					names = append(names, mutant.Name(n))
				}
				gcfg := crash.Config{Seed: seed, Paths: cfg.Paths, Tear: cfg.Tear, Fixtures: fixtures}
				if results, err = crash.Gate(gcfg, gws, names...); err != nil {
					return err
				}
			}
			failed := rep.Violations > 0 || conc != nil && conc.Violations > 0
			for _, r := range results {
				failed = failed || !r.Caught
			}
			if g.json {
				out := struct {
					*crash.Report
					Concurrent *crash.ConcurrentReport `json:"concurrent,omitempty"`
					Mutants    []crash.GateResult      `json:"mutants"`
					Seconds    float64                 `json:"seconds"`
					Summary    string                  `json:"summary"`
				}{rep, conc, results, time.Since(start).Seconds(), crash.Summary(rep, results)}
				if err := writeJSON(cmd.OutOrStdout(), out); err != nil {
					return err
				}
			} else {
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "workloads %d, cross-checked boundaries %d, garbled images %d, %.1fs\n",
					rep.Workloads, rep.CrossChecks, rep.Garbled, time.Since(start).Seconds())
				fmt.Fprintf(w, "crash points by site: %s\n", rep.SiteList())
				fmt.Fprintf(w, "crashes while recovering: %d points, %d images recovered again\n", rep.Nested, rep.NestedImgs)
				var missing []string
				for _, s := range crash.FenceSites {
					if rep.Sites[s] == 0 {
						missing = append(missing, s)
					}
				}
				if len(missing) > 0 && ops == "" && file == "" {
					fmt.Fprintf(w, "fence sites never crashed: %s\n", strings.Join(missing, " "))
					failed = true
				}
				for _, e := range rep.Examples {
					fmt.Fprintf(w, "VIOLATION %s\n", e)
				}
				for _, r := range results {
					verdict := "caught"
					if !r.Caught {
						verdict = "MISSED"
					}
					fmt.Fprintf(w, "mutant %-22s %s after %d images, %.1fs  (%s)\n", r.Name, verdict, r.Images, r.Seconds, r.Site)
				}
				if conc != nil {
					for _, e := range conc.Examples {
						fmt.Fprintf(w, "VIOLATION %s\n", e)
					}
					fmt.Fprintln(w, conc.Summary())
				}
				fmt.Fprintln(w, crash.Summary(rep, results))
			}
			if failed {
				return errCrashFailed
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tier, "tier", "quick", "workload tier: quick, full or exhaustive")
	cmd.Flags().StringVar(&ops, "ops", "", "run your own operations instead of a tier")
	cmd.Flags().StringVar(&file, "file", "", "read your own operations from a file")
	cmd.Flags().StringVar(&paths, "paths", "cpu,msync", "durability paths to simulate: cpu, msync, or both")
	cmd.Flags().StringVar(&tear, "tear", "words", "torn-line model: words (8-byte words old or new) or lines")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed (runs are reproducible)")
	cmd.Flags().BoolVar(&gate, "mutants", false, "also run the mutation gate (needs -tags mutants)")
	cmd.Flags().IntVar(&nestEvery, "nest-every", 0, "crash while recovering every Nth image (0: the default, 8; negative: never)")
	cmd.Flags().StringVar(&fixtures, "fixtures", "", "write each violating image, shrunk, with its workload, under this directory")
	cmd.Flags().StringSliceVar(&only, "mutant", nil, "with --mutants: run only these mutants")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress display")
	return cmd
}
