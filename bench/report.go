package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// result is one (store, configuration, workload, set): medians over rounds.
type result struct {
	Store     string    `json:"store"`
	Config    string    `json:"config"`
	FS        string    `json:"fs"`
	Medium    string    `json:"medium"`
	Workload  string    `json:"workload"`
	ValueSize int       `json:"value_size"`
	Num       int       `json:"num"`
	Ops       int64     `json:"ops"`
	OpsPerSec float64   `json:"ops_per_sec"`
	NsPerOp   float64   `json:"ns_per_op"`
	P50       int64     `json:"p50_ns"`
	P99       int64     `json:"p99_ns"`
	P999      int64     `json:"p999_ns"`
	P9999     int64     `json:"p9999_ns"`
	Max       int64     `json:"max_ns"`
	Runs      []float64 `json:"runs_ops_per_sec"`
	BestPeer  string    `json:"best_peer,omitempty"`
	Ratio     float64   `json:"ratio_to_best_peer,omitempty"`
	// FailedRounds counts rounds whose run failed (listed in failures):
	// the medians are over the others.
	FailedRounds int    `json:"failed_rounds,omitempty"`
	Skipped      bool   `json:"skipped,omitempty"`
	Reason       string `json:"reason,omitempty"`
	ConfigDesc   string `json:"config_desc"`
}

// storeSummary holds the per-run figures that are not per workload.
type storeSummary struct {
	Store           string  `json:"store"`
	Config          string  `json:"config"`
	ValueSize       int     `json:"value_size"`
	Num             int     `json:"num"`
	DiskBytes       int64   `json:"disk_bytes"`
	DiskBytesLoaded int64   `json:"disk_bytes_loaded"`
	RawBytes        int64   `json:"raw_bytes"`
	SpaceRatio      float64 `json:"space_ratio"`
	PeakRSSBytes    int64   `json:"peak_rss_bytes"`
	HeapBytesPerKey float64 `json:"heap_bytes_per_key"`
}

// target is one of the targets, checked against this run.
type target struct {
	Name string  `json:"name"`
	Want string  `json:"want"`
	Got  float64 `json:"got"`
	Goal float64 `json:"goal"`
	// Met is null when the run lacks a figure the target needs.
	Met  *bool  `json:"met"`
	Note string `json:"note,omitempty"`
}

type report struct {
	Machine   machine        `json:"machine"`
	Configs   []configDesc   `json:"configs"`
	Results   []result       `json:"results"`
	Summaries []storeSummary `json:"summaries"`
	Targets   []target       `json:"targets"`
	Failures  []string       `json:"failures,omitempty"`

	sets []set
	cfgs []config
}

type configDesc struct {
	Config string `json:"config"`
	Store  string `json:"store"`
	FS     string `json:"fs"`
	Desc   string `json:"desc"`
}

// kvWorkloads is the key-value plan's order, and workloadOrder that of
// every workload (the raft log's last); the table and chart follow it.
var (
	kvWorkloads = []string{"fillrandom", "fillbatch", "overwrite", "fill8", "readrandom", "readrandom2",
		"readseq", "mixed", "deleterandom", "reopen", "reopen-crash"}
	workloadOrder = append(slices.Clone(kvWorkloads), "storelogs-1", "storelogs-64")
)

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianInt(xs []int64) int64 {
	f := make([]float64, len(xs))
	for i, x := range xs {
		f[i] = float64(x)
	}
	return int64(median(f))
}

// isPeer: a durable store other than daxkv (pebble-nosync is shown as a
// reference, not compared against).
func isPeer(c config) bool { return c.store != "daxkv" && !strings.Contains(c.name, "nosync") }

func buildReport(o *runOptions, cfgs []config, sets []set, samples []sample, took time.Duration) *report {
	rep := &report{Machine: describeMachine(o, took), sets: sets, cfgs: cfgs, Results: []result{}, Summaries: []storeSummary{}}
	medium := func(c config) string {
		if c.disk {
			return "disk"
		}
		return "shm"
	}
	fsOf := func(c config) string {
		if c.disk {
			return rep.Machine.DiskFS
		}
		return rep.Machine.ShmFS
	}
	for _, c := range cfgs {
		rep.Configs = append(rep.Configs, configDesc{Config: c.name, Store: c.store, FS: fsOf(c), Desc: c.desc})
	}
	for si, s := range sets {
		for _, c := range cfgs {
			var runs []childResult
			var skip string
			failed := 0
			for _, sm := range samples {
				if sm.set != si || sm.cfg != c.name {
					continue
				}
				var se skipError
				switch {
				case errors.As(sm.err, &se):
					skip = string(se)
				case sm.err != nil:
					rep.Failures = append(rep.Failures, fmt.Sprintf("%s (%d B, round %d): %v", c.name, s.valSize, sm.round+1, sm.err))
					failed++
				default:
					runs = append(runs, sm.res)
				}
			}
			if skip != "" {
				rep.Results = append(rep.Results, result{Store: c.store, Config: c.name, FS: fsOf(c), Medium: medium(c), Workload: "all",
					ValueSize: s.valSize, Num: s.num, Skipped: true, Reason: skip, ConfigDesc: c.desc})
				continue
			}
			if len(runs) == 0 {
				continue
			}
			for _, w := range workloadOrder {
				r := result{Store: c.store, Config: c.name, FS: fsOf(c), Medium: medium(c), Workload: w, ValueSize: s.valSize, Num: s.num,
					ConfigDesc: c.desc, FailedRounds: failed}
				var p50, p99, p999, p9999, mx []int64
				for _, cr := range runs {
					for _, wr := range cr.Workloads {
						if wr.Workload != w || wr.Ns <= 0 {
							continue
						}
						r.Ops = wr.Ops
						r.Runs = append(r.Runs, float64(wr.Ops)/(float64(wr.Ns)/1e9))
						p50, p99, p999 = append(p50, wr.P50), append(p99, wr.P99), append(p999, wr.P999)
						p9999, mx = append(p9999, wr.P9999), append(mx, wr.Max)
					}
				}
				if len(r.Runs) == 0 {
					continue
				}
				r.OpsPerSec = median(r.Runs)
				r.NsPerOp = 1e9 / r.OpsPerSec
				r.P50, r.P99, r.P999, r.P9999, r.Max = medianInt(p50), medianInt(p99), medianInt(p999), medianInt(p9999), medianInt(mx)
				rep.Results = append(rep.Results, r)
			}
			var disk, loaded, rss []int64
			var heap []float64
			for _, cr := range runs {
				disk, rss, heap = append(disk, cr.DiskBytes), append(rss, cr.MaxRSSBytes), append(heap, cr.HeapBytesPerKey)
				loaded = append(loaded, cr.DiskBytesLoaded)
			}
			if !c.limited && !s.raft {
				sum := storeSummary{Store: c.store, Config: c.name, ValueSize: s.valSize, Num: s.num,
					DiskBytes: medianInt(disk), DiskBytesLoaded: medianInt(loaded), RawBytes: int64(s.num) * int64(keyLen+s.valSize),
					PeakRSSBytes: medianInt(rss), HeapBytesPerKey: median(heap)}
				sum.SpaceRatio = float64(sum.DiskBytes) / float64(sum.RawBytes)
				rep.Summaries = append(rep.Summaries, sum)
			}
		}
	}
	// Ratios to the best durable peer on the same filesystem.
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Skipped {
			continue
		}
		best := rep.bestPeer(r.ValueSize, r.Workload, r.Medium)
		if best != nil && best.Config != r.Config {
			r.BestPeer = best.Config
			r.Ratio = r.OpsPerSec / best.OpsPerSec
		}
	}
	rep.Targets = rep.checkTargets()
	return rep
}

func (rep *report) cfg(name string) (config, bool) {
	for _, c := range rep.cfgs {
		if c.name == name {
			return c, true
		}
	}
	return config{}, false
}

func (rep *report) bestPeer(valSize int, workload, medium string) *result {
	var best *result
	for i := range rep.Results {
		r := &rep.Results[i]
		c, _ := rep.cfg(r.Config)
		if r.Skipped || r.ValueSize != valSize || r.Workload != workload || r.Medium != medium || !isPeer(c) {
			continue
		}
		if best == nil || r.OpsPerSec > best.OpsPerSec {
			best = r
		}
	}
	return best
}

func (rep *report) find(valSize int, cfg, workload string) *result {
	for i := range rep.Results {
		r := &rep.Results[i]
		if !r.Skipped && r.ValueSize == valSize && r.Config == cfg && r.Workload == workload {
			return r
		}
	}
	return nil
}

func (rep *report) summary(valSize int, cfg string) *storeSummary {
	for i := range rep.Summaries {
		if s := &rep.Summaries[i]; s.ValueSize == valSize && s.Config == cfg {
			return s
		}
	}
	return nil
}

// checkTargets checks the targets on the 100-byte set.
func (rep *report) checkTargets() []target {
	const dax, v = "daxkv-emulated-shm", 100
	var ts []target
	add := func(name, want string, got, goal float64, ok bool, higherBetter bool, note string) {
		t := target{Name: name, Want: want, Got: got, Goal: goal, Note: note}
		if ok {
			met := got >= goal
			if !higherBetter {
				met = got <= goal
			}
			if strings.HasPrefix(want, "> ") { // ahead, not level
				met = got > goal
			}
			t.Met = &met
		}
		ts = append(ts, t)
	}
	ratio := func(a, b *result) (float64, bool) {
		if a == nil || b == nil || b.OpsPerSec == 0 {
			return 0, false
		}
		return a.OpsPerSec / b.OpsPerSec, true
	}
	fr := rep.find(v, dax, "fillrandom")
	x, ok := ratio(fr, rep.find(v, "pebble-sync-shm", "fillrandom"))
	add("durable fillrandom vs pebble Sync", ">= 4x", x, 4, ok, true, "")
	x, ok = ratio(fr, rep.find(v, "pmdk-btree-shm", "fillrandom"))
	add("durable fillrandom vs PMDK", ">= 4x", x, 4, ok, true, "")
	if fr != nil {
		add("durable fillrandom ns per put", "<= 600 ns", fr.NsPerOp, 600, true, false, "")
	}
	rr := rep.find(v, dax, "readrandom")
	x, ok = ratio(rr, rep.find(v, "bbolt-shm", "readrandom"))
	add("readrandom (1 goroutine) vs bbolt", ">= 4x", x, 4, ok, true, "")
	x, ok = ratio(rep.find(v, dax, "readrandom2"), rr)
	add("readrandom: 2 goroutines over 1", ">= 1.8x", x, 1.8, ok, true, "")
	x, ok = ratio(rep.find(v, dax, "readseq"), rep.find(v, "bbolt-shm", "readseq"))
	add("readseq vs bbolt", ">= 1x", x, 1, ok, true, "")
	x, ok = ratio(rep.find(v, "daxkv-off-ext4", "fillrandom"), rep.find(v, "pebble-sync-ext4", "fillrandom"))
	add("page-cache mode on the disk, 1 writer, vs pebble Sync", ">= 1x", x, 1, ok, true, "")
	x, ok = ratio(rep.find(v, "daxkv-off-ext4", "fill8"), rep.find(v, "pebble-sync-ext4", "fill8"))
	add("page-cache mode on the disk, 8 writers, vs pebble Sync", ">= 3x", x, 3, ok, true, "")
	x, ok = ratio(rep.find(v, dax, "fillbatch"), rep.find(v, "pebble-sync-shm", "fillbatch"))
	add("fillbatch (1000 per commit) vs pebble batch", ">= 1x", x, 1, ok, true, "")
	if s := rep.summary(v, dax); s != nil {
		add("space over raw data", "<= 1.3x", s.SpaceRatio, 1.3, true, false, fmt.Sprintf("at %d keys, after a reopen", s.Num))
		add("index (Go heap) bytes per key", "<= 64", s.HeapBytesPerKey, 64, true, false, fmt.Sprintf("at %d keys (the target is for 1M)", s.Num))
		if b := rep.summary(v, "bbolt-shm"); b != nil {
			add("peak RSS over bbolt's", "<= 1x", float64(s.PeakRSSBytes)/float64(b.PeakRSSBytes), 1, true, false, fmt.Sprintf("at %d keys", s.Num))
		}
	}
	if r := rep.find(v, dax, "reopen"); r != nil {
		add("reopen after a clean close, ms", "<= 300 ms", r.NsPerOp/1e6, 300, true, false, fmt.Sprintf("at %d keys (the target is for 1M)", r.Num))
	}
	// The raft log (issue: daxkv as hashicorp/raft's storage).
	for _, w := range raftWorkloads {
		d := rep.find(raftEntrySize, "raft-daxkv-emulated-shm", w.name)
		x, ok := ratio(d, rep.find(raftEntrySize, "raft-boltdb-shm", w.name))
		add(w.name+": raftstore emulated vs raft-boltdb", ">= 5x", x, 5, ok, true, "tmpfs")
		x, ok = ratio(d, rep.find(raftEntrySize, "raft-wal-shm", w.name))
		add(w.name+": raftstore emulated vs raft-wal", "> 1x", x, 1, ok, true, "tmpfs")
		x, ok = ratio(rep.find(raftEntrySize, "raft-daxkv-off-ext4", w.name), rep.find(raftEntrySize, "raft-wal-ext4", w.name))
		add(w.name+": raftstore DAXOff vs raft-wal, disk", "> 1x", x, 1, ok, true, "the disk filesystem")
	}
	return ts
}

func (rep *report) failure() error {
	if len(rep.Failures) > 0 {
		return fmt.Errorf("%d run(s) failed:\n  %s", len(rep.Failures), strings.Join(rep.Failures, "\n  "))
	}
	return nil
}

func (rep *report) writeJSON(file string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(b, '\n'), 0o644)
}

func fmtNs(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2fs", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2fms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1fµs", ns/1e3)
	}
	return fmt.Sprintf("%.0fns", ns)
}

func fmtCount(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}

func fmtBytes(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

func (rep *report) printTable(w io.Writer) {
	m := rep.Machine
	fmt.Fprintf(w, "daxkv bench, %s, %s, %d cores, %s; commit %s; medians of %d rounds.\n", m.Date, m.CPU, m.Cores, m.Kernel, m.Commit, m.Rounds)
	fmt.Fprintf(w, "shm = %s, disk = %s. %s\n", m.ShmFS, m.DiskFS, m.Note)
	for _, s := range rep.sets {
		if s.raft {
			fmt.Fprintf(w, "\n== raft log: %d entries of %d B per workload, through StoreLogs (ops are calls) ==\n", s.num, s.valSize)
		} else {
			fmt.Fprintf(w, "\n== %d keys of 16 B, values of %d B ==\n", s.num, s.valSize)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "workload\tconfig\tops/s\tns/op\tp50\tp99\tp99.9\tvs best peer\t")
		for _, wl := range workloadOrder {
			var rows []result
			for _, r := range rep.Results {
				if !r.Skipped && r.ValueSize == s.valSize && r.Workload == wl {
					rows = append(rows, r)
				}
			}
			sort.SliceStable(rows, func(i, j int) bool {
				di, dj := rows[i].Store == "daxkv", rows[j].Store == "daxkv"
				if di != dj {
					return di
				}
				return rows[i].OpsPerSec > rows[j].OpsPerSec
			})
			for _, r := range rows {
				vs := ""
				if r.BestPeer != "" {
					vs = fmt.Sprintf("%.2fx %s", r.Ratio, r.BestPeer)
				}
				rate := fmtCount(r.OpsPerSec)
				if strings.HasPrefix(r.Workload, "reopen") { // one timed open: a rate says nothing
					rate = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", wl, r.Config, rate, fmtNs(r.NsPerOp),
					fmtNs(float64(r.P50)), fmtNs(float64(r.P99)), fmtNs(float64(r.P999)), vs)
			}
		}
		tw.Flush()
		fmt.Fprintf(w, "\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		if !s.raft {
			fmt.Fprintln(tw, "config\ton disk after load\tafter reopen\tover raw\tpeak RSS\tGo heap per key\t")
		}
		for _, sm := range rep.Summaries {
			if sm.ValueSize == s.valSize {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%.2fx\t%s\t%.0f B\t\n", sm.Config, fmtBytes(float64(sm.DiskBytesLoaded)), fmtBytes(float64(sm.DiskBytes)), sm.SpaceRatio,
					fmtBytes(float64(sm.PeakRSSBytes)), sm.HeapBytesPerKey)
			}
		}
		tw.Flush()
		for _, r := range rep.Results {
			if r.Skipped && r.ValueSize == s.valSize {
				fmt.Fprintf(w, "skipped %s: %s\n", r.Config, r.Reason)
			}
		}
	}
	fmt.Fprintf(w, "\n== targets (daxkv-emulated-shm on 100-byte values, and the raft log) ==\n")
	for _, t := range rep.Targets {
		state := "n/a "
		if t.Met != nil {
			state = "MISS"
			if *t.Met {
				state = "met "
			}
		}
		note := ""
		if t.Note != "" {
			note = " (" + t.Note + ")"
		}
		fmt.Fprintf(w, "%s %-55s want %-9s got %.2f%s\n", state, t.Name, t.Want, t.Got, note)
	}
	fmt.Fprintf(w, "\nconfigurations:\n")
	for _, c := range rep.Configs {
		fmt.Fprintf(w, "  %-20s [%s] %s\n", c.Config, c.FS, c.Desc)
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(w, "FAILED: %s\n", f)
	}
}

// replot reads an earlier results.json and prints its table and redraws
// its chart into out/chart.png.
func replot(file, out string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	rep := &report{}
	if err := json.Unmarshal(b, rep); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	names := map[string]bool{}
	for _, c := range rep.Configs {
		names[c.Config] = true
	}
	for _, c := range configs() {
		if names[c.name] {
			rep.cfgs = append(rep.cfgs, c)
		}
	}
	seen := map[[2]int]bool{}
	for _, r := range rep.Results {
		if k := [2]int{r.ValueSize, r.Num}; !seen[k] {
			seen[k] = true
			c, _ := rep.cfg(r.Config)
			rep.sets = append(rep.sets, set{num: r.Num, valSize: r.ValueSize, raft: c.raft})
		}
	}
	rep.printTable(os.Stdout)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	return rep.writeChart(filepath.Join(out, "chart.png"))
}
