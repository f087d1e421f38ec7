package recovery

import (
	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/mutant"
)

// The decisions of the recovery rule, each a small function with its
// mutant (package internal/mutant, build tag "mutants") inside: the crash
// suite must catch every wrong decision. Without the tag, mutant.On is a
// constant false and each function is its rule alone.

// committedBatches returns the sequence numbers of the committed batches:
// those whose log slot validates and all of whose records are found valid
// on the media (count of them, pending or live, damaged ones included). A
// batch writes its records and its commit entry under one fence, so a
// crash before that fence can keep the slot and lose records: such a batch
// was never acknowledged, and counts as uncommitted. all holds every valid
// record, of every key.
func committedBatches(commits []Commit, all []Entry) map[uint64]bool {
	out := make(map[uint64]bool, len(commits))
	if len(commits) == 0 {
		return out
	}
	want := make(map[uint64]uint32, len(commits))
	for _, cm := range commits {
		want[cm.Seq] = cm.Count
	}
	found := make(map[uint64]uint32, len(commits))
	for i := range all {
		if _, ok := want[all[i].Seq]; ok {
			found[all[i].Seq]++
		}
	}
	for seq, n := range want {
		if found[seq] == n || mutant.On(mutant.RecoverNoCountCheck) {
			out[seq] = true
		}
	}
	return out
}

// counts reports whether a valid record takes part in its key's contest: a
// live record does; a pending one only if its batch committed.
func counts(e *Entry, committed map[uint64]bool) bool {
	switch {
	case e.Tag == TagLive:
		return true
	case mutant.On(mutant.RecoverNoReplay):
		return false
	case mutant.On(mutant.RecoverReplayUncommitted):
		return true
	}
	return committed[e.Seq]
}

// winner applies the recovery rule to the records of one key, highest
// sequence number first: the first record that counts wins (a winning
// tombstone means the key is absent). It returns the winner's index in g,
// or -1.
func winner(g []Entry, committed map[uint64]bool) int {
	if mutant.On(mutant.RecoverLowerWins) {
		for k := len(g) - 1; k >= 0; k-- {
			if counts(&g[k], committed) {
				return k
			}
		}
		return -1
	}
	for k := range g {
		if counts(&g[k], committed) {
			return k
		}
	}
	return -1
}

// raise returns the sequence floor raised past seq, a number seen on the
// media: the next number handed out must be above every one seen.
func raise(floor, seq uint64) uint64 {
	if mutant.On(mutant.RecoverFloorNotRaised) {
		return floor
	}
	return max(floor, seq+1)
}

// settle makes a winning pending record live on the media, so that it
// still wins once the log slot that committed it is cleared.
func settle(p flush.Persister, rec []byte) {
	if mutant.On(mutant.RecoverLeftPending) {
		return
	}
	SetTag(p, rec, TagLive)
}

// resolveOverlaps reports whether recovery resolves records whose extents
// overlap (scanChunk); Check always finds them.
func resolveOverlaps() bool { return !mutant.On(mutant.RecoverOverlapKept) }

// clearLogEarly does nothing, unless its mutant clears the batch log in
// recovery's first fence, beside the replay it must follow: a crash
// while recovering can then keep a cleared log and lose part of the
// replay (only the crash suite's nested crashes see this).
func clearLogEarly(p flush.Persister, mem []byte, commits []Commit) {
	if !mutant.On(mutant.RecoverClearLogEarly) {
		return
	}
	for _, cm := range commits {
		ClearCommit(p, mem, cm.Slot)
	}
}
