package crash

import (
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
