package crash

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/daxkv/daxkv/flush"
)

func TestParse(t *testing.T) {
	w, err := Parse("t", "put a 10; del a\nbatch{put a 300, del b}; mode emulated")
	if err != nil {
		t.Fatal(err)
	}
	if got := w.String(); got != "put a 10; del a; batch{put a 300, del b}; mode emulated" {
		t.Fatalf("round trip: %q", got)
	}
	for _, bad := range []string{"", "put a", "put a -1", "get a", "batch{mode on}", "batch{}"} {
		if _, err := Parse("bad", bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// TestSuiteSmall runs a few workloads on both paths: no violation, every
// kind of image produced.
func TestSuiteSmall(t *testing.T) {
	ws := Exhaustive([]string{"a", "b"}, 1)
	ws = append(ws, Generated(1, 2, 8, 3)...)
	rep, err := Run(Config{Seed: 1}, ws)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s; sites %s", rep, rep.SiteList())
	for _, e := range rep.Examples {
		t.Error(e)
	}
	if rep.Images < 100 || rep.Garbled == 0 || rep.CrossChecks == 0 {
		t.Fatalf("too little exercised: %+v", rep)
	}
}

// TestSimCatchesMissingFence checks the oracle itself: a simulator whose
// fences never happen (every Drain dropped) must produce violations.
func TestSimCatchesMissingFence(t *testing.T) {
	w, _ := Parse("lost", "put a 10; put b 20; del a")
	rep, err := Run(Config{Seed: 2, Paths: []flush.SimPath{flush.SimCPU}, dropDrains: true}, []Workload{w})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Violations == 0 {
		t.Fatal("a pool that never fences passed the crash suite")
	}
}

// TestConcurrentSmall runs a few concurrent histories on both paths: no
// violation, and images at every fence of every goroutine.
func TestConcurrentSmall(t *testing.T) {
	rep, err := RunConcurrent(Config{Seed: 3}, GeneratedHistories(3, 12))
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep.Summary())
	for _, e := range rep.Examples {
		t.Error(e)
	}
	if rep.Histories != 12 || rep.Images < 200 {
		t.Fatalf("too little exercised: %+v", rep)
	}
}

// TestConcurrentCatchesUnorderedUnlock checks the concurrent oracle and
// the design's claim together: without the ordering the key stripe's
// unlock gives a writer's flushes (the simulator told to ignore it), a
// lazy free flushed by one goroutine can stay behind the fence of another
// goroutine's Delete of the key, and an older version comes back. The suite
// must see it.
func TestConcurrentCatchesUnorderedUnlock(t *testing.T) {
	var hs []History
	for i := 0; i < 40; i++ {
		hs = append(hs, History{Name: fmt.Sprintf("lazy-free-%d", i), Threads: [][]Op{
			{{Kind: OpPut, Key: "x", Size: 10}, {Kind: OpPut, Key: "x", Size: 20}},
			{{Kind: OpPut, Key: "y", Size: 10}, {Kind: OpDelete, Key: "x"}, {Kind: OpPut, Key: "y", Size: 30}},
		}})
	}
	rep, err := runConcurrent(Config{Seed: 4, Paths: []flush.SimPath{flush.SimCPU}}, hs, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep.Summary())
	if rep.Violations == 0 {
		t.Fatal("with the unlock's ordering ignored, no concurrent history was caught")
	}
	rep, err = runConcurrent(Config{Seed: 4, Paths: []flush.SimPath{flush.SimCPU}}, hs, false)
	if err != nil || rep.Violations != 0 {
		t.Fatalf("with the ordering the design claims: %v, %v", rep.Examples, err)
	}
}

// TestFixtures replays every minimised crash image under testdata/crash:
// each must now recover to a state its fixture allows, check clean, take a
// write, and reopen the same.
func TestFixtures(t *testing.T) {
	fs, err := LoadFixtures(filepath.Join("testdata", "crash"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) == 0 {
		t.Fatal("no fixtures under testdata/crash")
	}
	for _, name := range FixtureNames(fs) {
		f := fs[name]
		t.Run(name, func(t *testing.T) {
			scratch := filepath.Join(t.TempDir(), "image")
			if msg := f.Replay(filepath.Join("testdata", "crash", name, "image"), scratch); msg != "" {
				t.Fatalf("%s (%s): %s; when it was made: %s", f.Workload, f.Where, msg, f.Violation)
			}
		})
	}
}
