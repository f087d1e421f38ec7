package raftstore

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/raft"
)

// versioned is entry i as written the vth time, so that a model can tell
// an overwritten entry from the one it replaced.
func versioned(i uint64, v int, size int) *raft.Log {
	l := entry(i)
	l.Data = append(fmt.Appendf(nil, "cmd-%d-v%d-", i, v), bytes.Repeat([]byte{byte(i)}, size)...)
	return l
}

// checkModel checks every index from 0 to two past the model's highest
// against the model, and the ends.
func checkModel(t *testing.T, s *Store, model map[uint64]*raft.Log, top uint64, what string) {
	t.Helper()
	var lo, hi uint64
	for i := range model {
		if lo == 0 || i < lo {
			lo = i
		}
		hi = max(hi, i)
	}
	if f, l := bounds(t, s); f != lo || l != hi {
		t.Fatalf("%s: FirstIndex, LastIndex = %d, %d; the model's %d, %d", what, f, l, lo, hi)
	}
	for i := uint64(0); i <= top+2; i++ {
		var got raft.Log
		err := s.GetLog(i, &got)
		want, ok := model[i]
		switch {
		case !ok && !errors.Is(err, raft.ErrLogNotFound):
			t.Fatalf("%s: GetLog(%d) of a missing entry: %v, want ErrLogNotFound", what, i, err)
		case ok && err != nil:
			t.Fatalf("%s: GetLog(%d): %v", what, i, err)
		case ok && (got.Index != i || got.Term != want.Term || !bytes.Equal(got.Data, want.Data) ||
			!bytes.Equal(got.Extensions, want.Extensions) || !got.AppendedAt.Equal(want.AppendedAt)):
			t.Fatalf("%s: GetLog(%d) = %+v, want %+v", what, i, got, *want)
		}
	}
}

// TestGroupsAgainstAModel drives the store with random appends, overwrites
// (in and out of order, with duplicates), deletes at either end and in the
// middle, and reopens, checking every index against a model after each
// step: the groups a StoreLogs writes, split at the group size, and the
// groups a write cuts must read back exactly as stored.
func TestGroupsAgainstAModel(t *testing.T) {
	path := filepath.Join(testDir(t), "raft.pool")
	s := open(t, path)
	defer func() { s.Close() }()
	r := rand.New(rand.NewPCG(3, 4))
	model := map[uint64]*raft.Log{}
	top := uint64(0)
	for step := 0; step < 300; step++ {
		var what string
		switch op := r.IntN(10); {
		case op < 4: // an append of a run after the end, of entries of 0-600 bytes
			_, last := bounds(t, s)
			lo := last + 1 + uint64(r.IntN(2))*uint64(r.IntN(5)) // sometimes after a gap
			n := 1 + r.IntN(80)
			size := r.IntN(600)
			var logs []*raft.Log
			for i := lo; i < lo+uint64(n); i++ {
				logs = append(logs, versioned(i, step, size))
			}
			if err := s.StoreLogs(logs); err != nil {
				t.Fatal(err)
			}
			for _, l := range logs {
				model[l.Index] = l
			}
			top = max(top, lo+uint64(n))
			what = fmt.Sprintf("step %d: append %d-%d", step, lo, lo+uint64(n)-1)
		case op < 6: // an overwrite: random indexes near the log, shuffled, with duplicates
			var logs []*raft.Log
			base := uint64(r.IntN(int(top) + 3))
			for range 1 + r.IntN(12) {
				logs = append(logs, versioned(base+uint64(r.IntN(20)), step*100+len(logs), r.IntN(300)))
			}
			if err := s.StoreLogs(logs); err != nil {
				t.Fatal(err)
			}
			for _, l := range logs { // the last of equal indexes wins
				model[l.Index] = l
				top = max(top, l.Index)
			}
			what = fmt.Sprintf("step %d: overwrite of %d entries from %d", step, len(logs), base)
		case op < 9: // a delete: a prefix, a suffix or a middle
			f, l := bounds(t, s)
			if f == 0 {
				continue
			}
			a := f + uint64(r.IntN(int(l-f)+1))
			b := a + uint64(r.IntN(int(l-a)+1))
			switch r.IntN(3) {
			case 0:
				a = 0
			case 1:
				b = l + uint64(r.IntN(3))
			}
			if err := s.DeleteRange(a, b); err != nil {
				t.Fatal(err)
			}
			for i := range model {
				if i >= a && i <= b {
					delete(model, i)
				}
			}
			what = fmt.Sprintf("step %d: DeleteRange(%d, %d)", step, a, b)
		default:
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, path)
			what = fmt.Sprintf("step %d: reopen", step)
		}
		checkModel(t, s, model, top, what)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	checkModel(t, s, model, top, "the last reopen")
}

// TestGroupSizeSplitsOneCall: one StoreLogs of more than a group holds is
// several groups, written atomically, that read back after a reopen; an
// entry longer than a group is a group of its own.
func TestGroupSizeSplitsOneCall(t *testing.T) {
	path := filepath.Join(testDir(t), "raft.pool")
	s := open(t, path)
	var logs []*raft.Log
	for i := uint64(1); i <= 300; i++ {
		size := 200
		if i == 150 {
			size = 3 * s.groupMax / 2
		}
		logs = append(logs, versioned(i, 0, size))
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if n := len(s.groups); n < 4 {
		t.Fatalf("300 entries of 200 bytes and one of %d in %d groups, with groups of at most %d bytes", 3*s.groupMax/2, n, s.groupMax)
	}
	if !slices150Alone(s.groups) {
		t.Fatalf("entry 150 (longer than a group) is not a group of its own: %v", s.groups)
	}
	model := map[uint64]*raft.Log{}
	for _, l := range logs {
		model[l.Index] = l
	}
	checkModel(t, s, model, 300, "after the store")
	s.Close()
	s = open(t, path)
	defer s.Close()
	checkModel(t, s, model, 300, "after a reopen")
}

func slices150Alone(groups []span) bool {
	for _, g := range groups {
		if g.first <= 150 && g.last >= 150 {
			return g.first == 150 && g.last == 150
		}
	}
	return false
}

// TestGetLogWhileGroupsAreCut reads entries that stay in the log while a
// writer cuts the groups around them (prefix and suffix deletes ending
// inside groups, appends after the suffix): a read never misses an entry
// that is there before and after, and never returns a wrong one.
func TestGetLogWhileGroupsAreCut(t *testing.T) {
	path := filepath.Join(testDir(t), "raft.pool")
	s := open(t, path)
	defer s.Close()
	for lo := uint64(1); lo <= 1000; lo += 100 {
		storeRange(t, s, lo, lo+99)
	}
	var stop atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for !stop.Load() {
				i := 450 + uint64(r.IntN(400)) // never deleted
				var got raft.Log
				if err := s.GetLog(i, &got); err != nil || got.Index != i || !bytes.Equal(got.Data, entry(i).Data) {
					errs <- fmt.Errorf("GetLog(%d) = %+v, %v", i, got, err)
					return
				}
				reads.Add(1)
			}
		}()
	}
	k := uint64(3)
	for ; k < 450; k += 7 {
		if err := s.DeleteRange(0, k); err != nil { // cuts a group most times
			t.Fatal(err)
		}
		top := 1000 - k/3
		if err := s.DeleteRange(top, 1<<40); err != nil {
			t.Fatal(err)
		}
		storeRange(t, s, top, 1000)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d reads beside the cuts", reads.Load())
	checkLog(t, s, k-7+1, 1000)
}
