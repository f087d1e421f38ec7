package main

import (
	"testing"
)

// Regression test of a review finding: --raft-entries between 1 and 63
// passed validation, and then every raft child failed (no call of 64
// entries can be made), discarding the storelogs-1 figures it had measured.
func TestRaftEntriesBelowOneBatch(t *testing.T) {
	for _, n := range []int{1, 32, 63} {
		o := &runOptions{num: 0, numLarge: 0, raftEntries: n, rounds: 1, opsLimit: 50, out: t.TempDir(),
			shmDir: shm(t), diskDir: t.TempDir(), filter: map[string]bool{"raft-wal-shm": true}, seed: 1}
		if err := o.validate(); err == nil {
			t.Fatalf("--raft-entries %d passed validation", n)
		}
	}
}

// Regression test of a review finding: a --configs selection none of whose
// configurations runs a set that is not skipped (bbolt-shm, a key-value
// configuration, with only the raft set) ran nothing, yet reported success,
// wrote an empty results.json over the previous one and removed chart.png.
func TestSelectionRunsNothing(t *testing.T) {
	out := t.TempDir()
	o := &runOptions{num: 0, numLarge: 0, raftEntries: 640, rounds: 1, opsLimit: 50, out: out,
		shmDir: shm(t), diskDir: t.TempDir(), filter: map[string]bool{"bbolt-shm": true}, seed: 1}
	if err := run(o); err == nil {
		t.Fatal("a run that ran nothing (only a key-value configuration, only the raft set) reported success")
	}
}
