// Command bench compares daxkv with bbolt, pebble, badger and PMDK's
// libpmemobj on one machine, in one run: every store runs the same plan
// (WORKLOADS.md) in a child process of its own, the stores interleaved
// round by round, and the harness reports medians as a table on stdout,
// out/results.json and out/chart.png. Progress goes to stderr.
//
//	go run . --quick          # N = 100k (and 10k for 4 KiB values)
//	go run .                  # N = 1M (and 100k for 4 KiB values)
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		os.Exit(childMain(os.Args[2:]))
	}
	var o runOptions
	flag.BoolVar(&o.quick, "quick", false, "N = 100k keys of 100 B and 10k of 4 KiB (the defaults are 1M and 100k)")
	flag.IntVar(&o.num, "num", -1, "keys with 100-byte values (default 1000000, or 100000 with --quick; 0 skips the set)")
	flag.IntVar(&o.numLarge, "num-large", -1, "keys with 4 KiB values (default num/10; 0 skips the set)")
	flag.IntVar(&o.raftEntries, "raft-entries", -1, "raft log entries per StoreLogs workload (default 128000, or 25600 with --quick; 0 skips the raft set)")
	flag.IntVar(&o.rounds, "rounds", 3, "runs of every store; figures are medians")
	flag.IntVar(&o.opsLimit, "ops-limit", 2000, "keys for the durable write workloads of the disk (ext4) configurations")
	flag.StringVar(&o.out, "out", "out", "directory for results.json and chart.png")
	flag.StringVar(&o.shmDir, "shm-dir", "/dev/shm", "a tmpfs directory for the in-memory configurations")
	flag.StringVar(&o.diskDir, "disk-dir", "/var/tmp", "a directory on the disk filesystem for the -ext4 configurations")
	flag.StringVar(&o.only, "configs", "", "comma-separated configurations to run (default all); see -list")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the keys and of every random choice")
	flag.DurationVar(&o.childTimeout, "child-timeout", time.Hour, "kill a store's run (and count it failed) after this long")
	flag.StringVar(&o.pmdkSrc, "pmdk-src", "pmdk/driver.c", "the PMDK driver's C source")
	from := flag.String("from", "", "redraw the table and chart of an earlier results.json into --out, running nothing")
	list := flag.Bool("list", false, "print the configurations and exit")
	flag.Parse()
	if *list {
		for _, c := range configs() {
			fmt.Printf("%-20s %s\n", c.name, c.desc)
		}
		return
	}
	if *from != "" {
		if err := replot(*from, o.out); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if o.num < 0 {
		o.num = 1000000
		if o.quick {
			o.num = 100000
		}
	}
	if o.numLarge < 0 {
		o.numLarge = o.num / 10
		if o.num == 0 {
			o.numLarge = 100000
		}
	}
	if o.raftEntries < 0 {
		o.raftEntries = 128000
		if o.quick {
			o.raftEntries = 25600
		}
	}
	if o.only != "" {
		o.filter = map[string]bool{}
		for _, n := range strings.Split(o.only, ",") {
			o.filter[strings.TrimSpace(n)] = true
		}
	}
	if err := run(&o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func childMain(args []string) int {
	fs := flag.NewFlagSet("child", flag.ExitOnError)
	name := fs.String("config", "", "configuration")
	dir := fs.String("dir", "", "working directory")
	keys := fs.String("keys", "", "keys file")
	valSize := fs.Int("value-size", 100, "value size")
	opsLimit := fs.Int("ops-limit", 0, "limit")
	seed := fs.Uint64("seed", 1, "seed")
	entries := fs.Int("entries", 0, "raft log entries per workload (a raft configuration)")
	fs.Parse(args)
	for _, c := range configs() {
		if c.name == *name && c.raft {
			if err := runRaftChild(c, *dir, *entries, *opsLimit, os.Stdout); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			return 0
		}
		if c.name == *name && c.open != nil {
			if err := runChild(c, *dir, *keys, *valSize, *opsLimit, *seed); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			return 0
		}
	}
	fmt.Fprintf(os.Stderr, "no Go configuration %q\n", *name)
	return 2
}
