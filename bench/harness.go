package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

type runOptions struct {
	commit           string // set by run
	childTimeout     time.Duration
	pmdkSrc          string
	quick            bool
	num, numLarge    int
	raftEntries      int
	rounds, opsLimit int
	out              string
	shmDir, diskDir  string
	only             string
	filter           map[string]bool
	seed             uint64
}

// set is one key count and value size: every configuration runs the plan
// on it, once per round.
type set struct {
	num, valSize int
	keysFile     string
	// raft: the raft log set (raft.go): num entries of valSize bytes per
	// workload, run by the raft configurations only.
	raft bool
}

// sample is one child run's result (or why it was skipped or failed).
type sample struct {
	set   int
	cfg   string
	round int
	res   childResult
	err   error
}

func (o *runOptions) validate() error {
	switch {
	case o.num < 0:
		return fmt.Errorf("--num %d: want 0 (skip the 100-byte set) or more", o.num)
	case o.num == 0 && o.numLarge == 0 && o.raftEntries == 0:
		return errors.New("--num 0, --num-large 0 and --raft-entries 0: nothing to run")
	case o.raftEntries > 0 && o.raftEntries < raftWorkloads[len(raftWorkloads)-1].batch:
		return fmt.Errorf("--raft-entries %d: want 0 (skip the raft set) or at least %d, one call of the largest batch", o.raftEntries, raftWorkloads[len(raftWorkloads)-1].batch)
	case o.numLarge < 0:
		return fmt.Errorf("--num-large %d: want 0 (skip) or more", o.numLarge)
	case o.rounds < 1:
		return fmt.Errorf("--rounds %d: want at least 1", o.rounds)
	case o.opsLimit < 1:
		return fmt.Errorf("--ops-limit %d: want at least 1", o.opsLimit)
	}
	known := map[string]bool{}
	for _, c := range configs() {
		known[c.name] = true
	}
	for name := range o.filter {
		if !known[name] {
			return fmt.Errorf("--configs: no configuration %q (see -list)", name)
		}
	}
	if o.childTimeout <= 0 {
		o.childTimeout = time.Hour
	}
	if o.pmdkSrc == "" {
		o.pmdkSrc = filepath.Join("pmdk", "driver.c")
	}
	return nil
}

func run(o *runOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	// Ctrl-C or SIGTERM kills the running child and removes the work
	// directories on the way out.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	o.commit = commit()
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(o.shmDir, "daxkv-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	diskWork, err := os.MkdirTemp(o.diskDir, "daxkv-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(diskWork)

	var cfgs []config
	for _, c := range configs() {
		if o.filter == nil || o.filter[c.name] {
			cfgs = append(cfgs, c)
		}
	}
	if len(cfgs) == 0 {
		return errors.New("no configuration selected (see -list)")
	}
	skipped := map[string]string{}
	var pmdkDriver string
	for _, c := range cfgs {
		if c.store == "pmdk" {
			progress("building the PMDK driver")
			pmdkDriver, err = buildPMDK(o.pmdkSrc, work)
			if err != nil {
				skipped[c.name] = err.Error()
				progress("skipping %s: %v", c.name, err)
			}
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	// A set runs only when a selected configuration runs its plan.
	kvCfgs, raftCfgs := false, false
	for _, c := range cfgs {
		kvCfgs, raftCfgs = kvCfgs || !c.raft, raftCfgs || c.raft
	}
	var sets []set
	if o.num > 0 && kvCfgs {
		sets = append(sets, set{num: o.num, valSize: 100})
	}
	if o.numLarge > 0 && kvCfgs {
		sets = append(sets, set{num: o.numLarge, valSize: 4096})
	}
	if o.raftEntries > 0 && raftCfgs {
		sets = append(sets, set{num: o.raftEntries, valSize: raftEntrySize, raft: true})
	}
	if len(sets) == 0 {
		return errors.New("nothing to run: no selected configuration runs a set that is not skipped (see -list, --num, --num-large, --raft-entries)")
	}
	for i := range sets {
		if sets[i].raft {
			continue
		}
		sets[i].keysFile = filepath.Join(work, fmt.Sprintf("keys-%d", i))
		if err := writeKeys(sets[i].keysFile, sets[i].num, o.seed); err != nil {
			return err
		}
	}

	var samples []sample
	total := 0
	for _, s := range sets {
		for _, c := range cfgs {
			if c.raft == s.raft {
				total += o.rounds
			}
		}
	}
	done := 0
	for si, s := range sets {
		for r := 0; r < o.rounds; r++ {
			// Rotate the order each round so that drift hits every store
			// alike.
			for j := range cfgs {
				c := cfgs[(j+r)%len(cfgs)]
				if c.raft != s.raft {
					continue
				}
				done++
				if why, ok := skipped[c.name]; ok {
					samples = append(samples, sample{set: si, cfg: c.name, round: r, err: skipError(why)})
					continue
				}
				base := work
				if c.disk {
					base = diskWork
				}
				dir, err := os.MkdirTemp(base, c.name+"-")
				if err != nil {
					return err
				}
				limit := 0
				if c.limited {
					limit = o.opsLimit
				}
				t0 := time.Now()
				what := "keys"
				if s.raft {
					what = "raft entries"
				}
				progress("[%d/%d] %s, %d %s of %d B, round %d of %d", done, total, c.name, s.num, what, s.valSize, r+1, o.rounds)
				cctx, cancel := context.WithTimeout(ctx, o.childTimeout)
				res, err := runOne(cctx, self, pmdkDriver, c, dir, s, limit, o.seed+uint64(r))
				cancel()
				os.RemoveAll(dir)
				if ctx.Err() != nil {
					return errors.New("interrupted: work directories removed, nothing written")
				}
				if err != nil {
					progress("  %s failed: %v", c.name, err)
				} else {
					progress("  done in %.1fs", time.Since(t0).Seconds())
				}
				samples = append(samples, sample{set: si, cfg: c.name, round: r, res: res, err: err})
			}
		}
	}
	rep := buildReport(o, cfgs, sets, samples, time.Since(start))
	rep.printTable(os.Stdout)
	if err := rep.writeJSON(filepath.Join(o.out, "results.json")); err != nil {
		return err
	}
	if err := rep.writeChart(filepath.Join(o.out, "chart.png")); err != nil {
		return err
	}
	progress("wrote %s and %s in %.0fs", filepath.Join(o.out, "results.json"), filepath.Join(o.out, "chart.png"), time.Since(start).Seconds())
	return rep.failure()
}

type skipError string

func (e skipError) Error() string { return string(e) }

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

// runOne runs the plan once for c in a child process.
func runOne(ctx context.Context, self, pmdkDriver string, c config, dir string, s set, limit int, seed uint64) (childResult, error) {
	if c.store == "pmdk" {
		return runPMDK(ctx, pmdkDriver, c, dir, s, limit, seed)
	}
	cmd := exec.CommandContext(ctx, self, "child", "--config", c.name, "--dir", dir, "--keys", s.keysFile,
		"--value-size", fmt.Sprint(s.valSize), "--ops-limit", fmt.Sprint(limit), "--seed", fmt.Sprint(seed),
		"--entries", fmt.Sprint(s.num))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return childResult{}, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var res childResult
	if err := json.Unmarshal(out, &res); err != nil {
		return childResult{}, fmt.Errorf("child output: %w", err)
	}
	return res, nil
}

// buildPMDK compiles pmdk/driver.c with libpmemobj, installing Debian's
// libpmemobj-dev first when the header is missing and apt-get can.
func buildPMDK(srcPath, work string) (string, error) {
	src, err := filepath.Abs(srcPath)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(src); err != nil {
		return "", fmt.Errorf("the PMDK driver's source (run from bench/, or set --pmdk-src): %w", err)
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		return "", errors.New("no gcc to build the PMDK driver")
	}
	if _, err := os.Stat("/usr/include/libpmemobj.h"); err != nil {
		if _, aerr := exec.LookPath("apt-get"); aerr != nil || os.Geteuid() != 0 {
			return "", errors.New("libpmemobj.h missing and apt-get is not available to a root user: install libpmemobj-dev")
		}
		progress("installing libpmemobj-dev with apt-get")
		cmd := exec.Command("apt-get", "install", "-y", "libpmemobj-dev")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get install libpmemobj-dev: %v: %s", err, lastLine(out))
		}
	}
	bin := filepath.Join(work, "pmdkdrv")
	out, err := exec.Command("gcc", "-O2", "-Wall", "-Wextra", "-o", bin, src, "-lpmemobj", "-lpthread").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building the PMDK driver: %v: %s", err, lastLine(out))
	}
	return bin, nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// runPMDK runs the C driver and turns its per-operation latency files into
// the same figures the Go children report.
func runPMDK(ctx context.Context, driver string, c config, dir string, s set, limit int, seed uint64) (childResult, error) {
	args := []string{"--dir", dir, "--keys", s.keysFile, "--num", fmt.Sprint(s.num),
		"--value-size", fmt.Sprint(s.valSize), "--seed", fmt.Sprint(seed)}
	if limit > 0 {
		args = append(args, "--ops-limit", fmt.Sprint(limit))
	}
	cmd := exec.CommandContext(ctx, driver, args...)
	cmd.Env = append(os.Environ(), "PMEM_IS_PMEM_FORCE=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return childResult{}, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	res := childResult{Config: c.name}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var line struct {
			Workload  string `json:"workload"`
			Ops       int64  `json:"ops"`
			Ns        int64  `json:"ns"`
			Lat       string `json:"lat"`
			Summary   bool   `json:"summary"`
			MaxRSSKB  int64  `json:"maxrss_kb"`
			DiskBytes int64  `json:"disk_bytes"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return res, fmt.Errorf("driver output %q: %w", sc.Text(), err)
		}
		if line.Summary {
			// The pool is allocated whole at create: its bytes do not
			// change between the load and the reopen.
			res.MaxRSSBytes, res.DiskBytes, res.DiskBytesLoaded = line.MaxRSSKB*1024, line.DiskBytes, line.DiskBytes
			continue
		}
		h := newHist()
		if err := readLatencies(line.Lat, func(ns uint32) { h.RecordValue(int64(max(ns, 1))) }); err != nil {
			return res, err
		}
		if line.Workload == "readseq" && line.Ops > 0 {
			// As for the Go stores: one mean latency per key.
			h.Reset()
			h.RecordValues(max(1, line.Ns/line.Ops), line.Ops)
		}
		res.Workloads = append(res.Workloads, summarize(line.Workload, line.Ops, time.Duration(line.Ns), h))
	}
	return res, sc.Err()
}

func readLatencies(file string, fn func(uint32)) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	var b [4]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("%s: %w", file, err)
		}
		fn(binary.LittleEndian.Uint32(b[:]))
	}
}

// machine describes where the figures were taken.
type machine struct {
	CPU         string `json:"cpu"`
	Cores       int    `json:"cores"`
	MemBytes    int64  `json:"mem_bytes"`
	Kernel      string `json:"kernel"`
	Go          string `json:"go"`
	Commit      string `json:"commit"`
	Date        string `json:"date"`
	ShmFS       string `json:"shm_fs"`
	DiskFS      string `json:"disk_fs"`
	Flags       string `json:"cpu_flush_flags"`
	DurationSec int    `json:"duration_sec"`
	Rounds      int    `json:"rounds"`
	Quick       bool   `json:"quick"`
	Note        string `json:"note"`
}

func describeMachine(o *runOptions, took time.Duration) machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now().UTC().Format(time.RFC3339),
		DurationSec: int(took.Seconds()), Rounds: o.rounds, Quick: o.quick,
		ShmFS: fsType(o.shmDir), DiskFS: fsType(o.diskDir),
		Note: "No persistent memory here: daxkv-emulated and PMDK use CPU cache-line flushes on tmpfs (durable against process crashes only); compare ratios within one run."}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(l, ":")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if k == "model name" && m.CPU == "" {
				m.CPU = v
			}
			if k == "flags" && m.Flags == "" {
				var fl []string
				for _, f := range strings.Fields(v) {
					if slices.Contains([]string{"clwb", "clflushopt", "clflush"}, f) {
						fl = append(fl, f)
					}
				}
				m.Flags = strings.Join(fl, " ")
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(string(b), "MemTotal: %d kB", &kb)
		m.MemBytes = kb * 1024
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.Commit = o.commit
	return m
}

// commit names the source the run measures: taken when the run starts,
// since the tree may change while it runs.
func commit() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
