package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// TestMain lets the test binary serve as the harness's child process, as
// the bench binary does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		os.Exit(childMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

func shm(t *testing.T) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return t.TempDir()
}

// TestPlanEveryGoStore runs the whole plan, in-process, on every Go
// configuration at a tiny N, and checks each workload reports sane figures.
func TestPlanEveryGoStore(t *testing.T) {
	const n, valSize = 600, 100
	keysFile := filepath.Join(t.TempDir(), "keys")
	if err := writeKeys(keysFile, n, 7); err != nil {
		t.Fatal(err)
	}
	keys, err := readKeys(keysFile)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if len(k) != keyLen || seen[string(k)] {
			t.Fatalf("key %q: not 16 bytes or a duplicate", k)
		}
		seen[string(k)] = true
	}
	for _, c := range configs() {
		if c.open == nil || c.disk || c.raft {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			dir, err := os.MkdirTemp(shm(t), "bench-test-")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			p := &plan{cfg: c, dir: dir, keys: keys, valSize: valSize, seed: 3}
			if err := p.run(); err != nil {
				t.Fatal(err)
			}
			got := map[string]wlResult{}
			for _, w := range p.res.Workloads {
				got[w.Workload] = w
			}
			for _, name := range kvWorkloads {
				w, ok := got[name]
				if !ok {
					t.Fatalf("workload %s missing", name)
				}
				wantOps := int64(n)
				if strings.HasPrefix(name, "reopen") {
					wantOps = 1
				}
				if w.Ops != wantOps || w.Ns <= 0 || w.P50 <= 0 || w.P50 > w.P99 || w.P99 > w.Max {
					t.Fatalf("%s: implausible figures %+v", name, w)
				}
			}
			if p.res.DiskBytes <= 0 || p.res.MaxRSSBytes <= 0 {
				t.Fatalf("disk %d bytes, peak RSS %d bytes", p.res.DiskBytes, p.res.MaxRSSBytes)
			}
			left, _ := os.ReadDir(dir)
			if len(left) != 0 {
				t.Fatalf("the plan left %d entries behind, the first %s", len(left), left[0].Name())
			}
		})
	}
}

// TestPlanCatchesAWrongStore: a store that loses a key fails the plan.
func TestPlanCatchesAWrongStore(t *testing.T) {
	keysFile := filepath.Join(t.TempDir(), "keys")
	if err := writeKeys(keysFile, 200, 7); err != nil {
		t.Fatal(err)
	}
	keys, _ := readKeys(keysFile)
	c := configs()[0]
	open := c.open
	c.open = func(path string) (store, error) {
		s, err := open(path)
		return lossy{s}, err
	}
	p := &plan{cfg: c, dir: t.TempDir(), keys: keys, valSize: 100, seed: 3}
	if err := p.run(); err == nil || !strings.Contains(err.Error(), "readseq visited") {
		t.Fatalf("a store that drops every 7th put passed the plan: %v", err)
	}
}

type lossy struct{ store }

func (l lossy) put(k, v []byte) error {
	if k[15]%7 == 0 {
		return nil
	}
	return l.store.put(k, v)
}

func (l lossy) putBatch(ks, vs [][]byte) error { return l.store.putBatch(ks, vs) }

func (l lossy) get(k []byte) (int, error) {
	if k[15]%7 == 0 {
		return 100, nil // pretend: readseq is what catches it
	}
	return l.store.get(k)
}

// TestRunEndToEnd runs the harness as make bench-quick does, at a tiny N
// and 2 rounds, with child processes, and checks results.json and the chart.
func TestRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	out := t.TempDir()
	o := &runOptions{num: 400, numLarge: 40, raftEntries: 640, rounds: 2, opsLimit: 50, out: out, shmDir: shm(t), diskDir: t.TempDir(),
		filter: map[string]bool{"daxkv-emulated-shm": true, "daxkv-off-ext4": true, "bbolt-shm": true,
			"pebble-sync-shm": true, "pebble-sync-ext4": true, "pmdk-btree-shm": true,
			"raft-daxkv-emulated-shm": true, "raft-wal-shm": true, "raft-daxkv-off-ext4": true, "raft-wal-ext4": true}, seed: 5}
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Machine map[string]any   `json:"machine"`
		Results []map[string]any `json:"results"`
		Targets []map[string]any `json:"targets"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Machine["cores"] == nil || rep.Machine["rounds"] != float64(2) {
		t.Fatalf("machine: %v", rep.Machine)
	}
	found := map[string]bool{}
	for _, r := range rep.Results {
		if r["skipped"] == true {
			if r["config"] != "pmdk-btree-shm" || r["reason"] == "" {
				t.Fatalf("unexpected skip: %v", r)
			}
			t.Logf("skipped %v: %v", r["config"], r["reason"])
			continue
		}
		for _, f := range []string{"store", "config", "workload", "ops_per_sec", "p50_ns", "p99_ns"} {
			if r[f] == nil {
				t.Fatalf("result without %s: %v", f, r)
			}
		}
		if runs := r["runs_ops_per_sec"].([]any); len(runs) != 2 {
			t.Fatalf("%v/%v: %d runs, want 2", r["config"], r["workload"], len(runs))
		}
		found[r["config"].(string)+"/"+r["workload"].(string)] = true
	}
	for _, want := range []string{"daxkv-emulated-shm/fillrandom", "bbolt-shm/readseq", "pebble-sync-shm/fill8",
		"daxkv-off-ext4/fill8", "pebble-sync-ext4/fillrandom", "raft-daxkv-emulated-shm/storelogs-64",
		"raft-wal-shm/storelogs-1", "raft-daxkv-off-ext4/storelogs-64", "raft-wal-ext4/storelogs-1"} {
		if !found[want] {
			t.Fatalf("no result for %s", want)
		}
	}
	if found["daxkv-off-ext4/readrandom"] {
		t.Fatal("a limited configuration ran the read workloads")
	}
	if found["raft-wal-shm/fillrandom"] || found["daxkv-emulated-shm/storelogs-1"] {
		t.Fatal("a configuration ran the other set's plan")
	}
	if len(rep.Targets) == 0 {
		t.Fatal("no targets checked")
	}
	png, err := os.ReadFile(filepath.Join(out, "chart.png"))
	if err != nil || len(png) < 1000 || string(png[1:4]) != "PNG" {
		t.Fatalf("chart.png: %d bytes, %v", len(png), err)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestPMDKDriverSelfTest builds the PMDK driver (where gcc and
// libpmemobj-dev are, or can be installed) and runs its B-tree self-test:
// inserts, replaces, deletes with rebalancing, reopen, delete-all.
func TestPMDKDriverSelfTest(t *testing.T) {
	work := t.TempDir()
	bin, err := buildPMDK(filepath.Join("pmdk", "driver.c"), work)
	if err != nil {
		t.Skipf("the PMDK driver does not build here: %v", err)
	}
	cmd := exec.Command(bin, "--selftest", "--dir", work, "--num", "5000", "--seed", "3")
	cmd.Env = append(os.Environ(), "PMEM_IS_PMEM_FORCE=1")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "selftest passed") {
		t.Fatalf("selftest: %v\n%s", err, out)
	}
}

// TestCopyTreeSparseAndVanishing: the crash-image copy keeps holes as holes
// and skips a file that is gone by the time it is opened.
func TestCopyTreeSparseAndVanishing(t *testing.T) {
	src := filepath.Join(t.TempDir(), "store")
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(src, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("head"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("tail"), 64<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(src, "sub", "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copy")
	if err := copyTree(src, dst); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dst, "sparse"))
	if err != nil || len(b) != 64<<20+4 || string(b[:4]) != "head" || string(b[64<<20:]) != "tail" {
		t.Fatalf("copy of the sparse file: %d bytes, %v", len(b), err)
	}
	if used, _ := diskBytes(filepath.Join(dst, "sparse")); used > 1<<20 {
		t.Fatalf("the copy of a sparse file occupies %d bytes: holes were filled", used)
	}
	fi, err := os.Stat(filepath.Join(src, "sub", "x"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(src, "sub", "x"))
	if err := copySparse(filepath.Join(src, "sub", "x"), filepath.Join(dst, "gone"), fi); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("copying a vanished file: %v, want ErrNotExist", err)
	}
	if err := copyTree(src, filepath.Join(t.TempDir(), "again")); err != nil {
		t.Fatalf("a tree with a vanished file: %v", err)
	}
}

// TestRaftPlanEveryStore runs the raft log plan on every raft configuration
// on tmpfs, and a log store that loses its last append fails it.
func TestRaftPlanEveryStore(t *testing.T) {
	const entries = 640
	for _, c := range configs() {
		if !c.raft || c.disk {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			res := runRaftPlan(t, c, entries)
			got := map[string]wlResult{}
			for _, w := range res.Workloads {
				got[w.Workload] = w
			}
			for _, w := range raftWorkloads {
				r, ok := got[w.name]
				if !ok {
					t.Fatalf("workload %s missing", w.name)
				}
				if r.Ops != int64(entries/w.batch) || r.Ns <= 0 || r.P50 <= 0 || r.P50 > r.P99 || r.P99 > r.Max {
					t.Fatalf("%s: implausible figures %+v", w.name, r)
				}
			}
		})
	}
	t.Run("lossy", func(t *testing.T) {
		c := configs()[0]
		for _, rc := range configs() {
			if rc.name == "raft-wal-shm" {
				c = rc
			}
		}
		open := c.openLog
		c.openLog = func(dir string) (logStore, error) {
			s, err := open(dir)
			return lossyLog{s}, err
		}
		dir, err := os.MkdirTemp(shm(t), "bench-test-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		if err := runRaftChild(c, dir, entries, 0, io.Discard); err == nil {
			t.Fatal("a log store that drops its last append passed")
		}
	})
}

// lossyLog drops every StoreLogs call that ends at a multiple of 640.
type lossyLog struct{ logStore }

func (l lossyLog) StoreLogs(logs []*raft.Log) error {
	if logs[len(logs)-1].Index%640 == 0 {
		return nil
	}
	return l.logStore.StoreLogs(logs)
}

func runRaftPlan(t *testing.T, c config, entries int) childResult {
	t.Helper()
	dir, err := os.MkdirTemp(shm(t), "bench-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var out bytes.Buffer
	if err := runRaftChild(c, dir, entries, 0, &out); err != nil {
		t.Fatal(err)
	}
	var res childResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("the plan left %d entries behind, the first %s", len(left), left[0].Name())
	}
	return res
}
