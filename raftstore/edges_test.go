package raftstore

// Tests from the adversarial review of the groups that found no defect,
// kept: a crash during overwrites and cuts, and the index space's edges.

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestKilledMidOverwrites kills a child process (SIGKILL) while it
// overwrites the log's end (cutting groups), truncates suffixes and
// compacts prefixes inside groups, at random: the reopened log has no
// hole, and the table found at open is the pool's.
func TestKilledMidOverwrites(t *testing.T) {
	if os.Getenv("RAFTSTORE_OVERWRITE_CHILD") != "" {
		overwriteChild()
		return
	}
	if testing.Short() {
		t.Skip("runs child processes")
	}
	path := filepath.Join(testDir(t), "raft.pool")
	for round := 0; round < 5; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledMidOverwrites$")
		cmd.Env = append(os.Environ(), "RAFTSTORE_OVERWRITE_CHILD="+path, fmt.Sprintf("RAFTSTORE_SEED=%d", round))
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, _ := out.Read(buf)
		time.Sleep(time.Duration(30+round*37) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		if n == 0 {
			t.Fatal("child did not start")
		}
		s := open(t, path)
		tableMatchesPool(t, s, fmt.Sprint("round ", round))
		f, l := bounds(t, s)
		t.Logf("round %d: %d..%d, %d groups", round, f, l, len(s.groups))
		checkLog(t, s, f, l)
		s.Close()
	}
}

// overwriteChild writes at random until killed (see TestKilledMidOverwrites).
func overwriteChild() {
	s, err := New(os.Getenv("RAFTSTORE_OVERWRITE_CHILD"), opts())
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	r := rand.New(rand.NewPCG(uint64(os.Getenv("RAFTSTORE_SEED")[0]), 3))
	fmt.Println("go")
	for {
		f, l := must(s.FirstIndex()), must(s.LastIndex())
		switch r.IntN(4) {
		case 0, 1:
			lo := l + 1
			if l > 10 {
				lo = l - uint64(r.IntN(10))
			}
			if f == 0 {
				lo = 1
			}
			var logs []*raft.Log
			for i := lo; i < lo+uint64(1+r.IntN(40)); i++ {
				logs = append(logs, entry(i))
			}
			if err := s.StoreLogs(logs); err != nil {
				fmt.Println(err)
				os.Exit(1)
			}
		case 2:
			if l > 10 {
				if err := s.DeleteRange(l-uint64(r.IntN(8)), l+3); err != nil {
					fmt.Println(err)
					os.Exit(1)
				}
			}
		case 3:
			if l > f+100 {
				if err := s.DeleteRange(0, f+uint64(r.IntN(50))); err != nil {
					fmt.Println(err)
					os.Exit(1)
				}
			}
		}
	}
}

// must is v, or the child's exit on err.
func must(v uint64, err error) uint64 {
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	return v
}

// TestTopOfIndexSpace stores, overwrites, deletes and reopens entries at
// the top of the index space, where a group's last index is MaxUint64.
func TestTopOfIndexSpace(t *testing.T) {
	path := filepath.Join(testDir(t), "raft.pool")
	s := open(t, path)
	const M uint64 = math.MaxUint64
	storeRange2 := func(lo, hi uint64) {
		var logs []*raft.Log
		for i := lo; ; i++ {
			logs = append(logs, entry(i))
			if i == hi {
				break
			}
		}
		if err := s.StoreLogs(logs); err != nil {
			t.Fatal(err)
		}
	}
	storeRange2(M-9, M)
	if f, l := bounds(t, s); f != M-9 || l != M {
		t.Fatalf("bounds %d %d", f, l)
	}
	storeRange2(M-1, M) // overwrite at the top
	storeRange2(M-5, M-5)
	if err := s.DeleteRange(M, M); err != nil {
		t.Fatal(err)
	}
	var g raft.Log
	if err := s.GetLog(M, &g); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog(M) %v", err)
	}
	if err := s.GetLog(M-1, &g); err != nil || g.Index != M-1 {
		t.Fatalf("GetLog(M-1) %v", err)
	}
	if err := s.DeleteRange(0, M-8); err != nil {
		t.Fatal(err)
	}
	tableMatchesPool(t, s, "top")
	s.Close()
	s = open(t, path)
	defer s.Close()
	if f, l := bounds(t, s); f != M-7 || l != M-1 {
		t.Fatalf("bounds after reopen %d %d", f, l)
	}
	for i := M - 7; i <= M-1; i++ {
		if err := s.GetLog(i, &g); err != nil || g.Index != i || g.Term != entry(i).Term {
			t.Fatalf("GetLog(%d) %v %+v", i, err, g)
		}
	}
	if err := s.DeleteRange(M-3, M); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(0, M); err != nil {
		t.Fatal(err)
	}
	if f, l := bounds(t, s); f != 0 || l != 0 {
		t.Fatalf("bounds after clearing %d %d", f, l)
	}
	if err := s.GetLog(M, &g); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog(M) on empty %v", err)
	}
	if err := s.GetLog(0, &g); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog(0) on empty %v", err)
	}
}

// TestRangesPastEnds: an empty StoreLogs, DeleteRange with from > to and
// ranges past the log's ends change nothing they should not.
func TestRangesPastEnds(t *testing.T) {
	path := filepath.Join(testDir(t), "raft.pool")
	s := open(t, path)
	defer s.Close()
	storeRange(t, s, 10, 80)
	for _, r := range [][2]uint64{{0, 5}, {81, 1000}, {5, 3}, {math.MaxUint64, math.MaxUint64}, {0, 0}} {
		if err := s.DeleteRange(r[0], r[1]); err != nil {
			t.Fatal(err)
		}
	}
	checkLog(t, s, 10, 80)
	if err := s.StoreLogs(nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(0, 10); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(80, math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	checkLog(t, s, 11, 79)
	tableMatchesPool(t, s, "ends")
}
