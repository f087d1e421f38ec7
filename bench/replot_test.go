package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Regression test of a review finding: bench --from results.json (replot)
// rebuilt the sets without the raft flag, so a redrawn raft run came back
// as a key-value set: a table headed "... keys of 16 B", and a chart panel
// without a single bar.
func TestReplotKeepsTheRaftSet(t *testing.T) {
	o := &runOptions{rounds: 1, shmDir: shm(t), diskDir: t.TempDir()}
	s := set{num: 640, valSize: raftEntrySize, raft: true}
	var cfgs []config
	var samples []sample
	for i, c := range configs() {
		if !c.raft || c.disk {
			continue
		}
		cfgs = append(cfgs, c)
		res := childResult{Config: c.name}
		for _, w := range raftWorkloads {
			calls := int64(s.num / w.batch)
			res.Workloads = append(res.Workloads, wlResult{Workload: w.name, Ops: calls, Ns: calls * int64(1000*(i+1)),
				P50: 1000, P99: 2000, P999: 3000, P9999: 4000, Max: 5000})
		}
		samples = append(samples, sample{set: 0, cfg: c.name, res: res})
	}
	rep := buildReport(o, cfgs, []set{s}, samples, 0)
	file := filepath.Join(t.TempDir(), "results.json")
	if err := rep.writeJSON(file); err != nil {
		t.Fatal(err)
	}

	var direct bytes.Buffer
	rep.printTable(&direct)
	if !strings.Contains(direct.String(), "== raft log:") {
		t.Fatalf("the run's own table has no raft heading:\n%s", direct.String())
	}

	out := captureStdout(t, func() {
		if err := replot(file, t.TempDir()); err != nil {
			t.Fatal(err)
		}
	})
	if !strings.Contains(out, "== raft log:") || strings.Contains(out, "keys of 16 B, values of 256 B") {
		t.Fatalf("replot shows the raft log as a key-value set (and draws its panel without bars):\n%s", out)
	}
}

func captureStdout(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	defer func() { os.Stdout = old }()
	fn()
	w.Close()
	os.Stdout = old
	return <-done
}
