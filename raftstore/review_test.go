package raftstore

// Regression tests for the defects an adversarial review found; each failed
// on the code before its fix.

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/daxkv/daxkv/kv"
)

// reopenBounds closes s, reopens path and returns the bounds found on the media.
func reopenBounds(t *testing.T, s *Store, path string) (uint64, uint64) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, path)
	defer s2.Close()
	return bounds(t, s2)
}

// A documented middle delete (a gap) followed by a prefix compaction that
// ends at the gap: FirstIndex must name an entry that exists, and agree
// with what a reopen finds.
func TestFirstIndexAfterGapThenPrefixDelete(t *testing.T) {
	path := filepath.Join(testDir(t), "raft.pool")
	s := open(t, path)
	storeRange(t, s, 1, 20)
	if err := s.DeleteRange(5, 10); err != nil { // the middle: supported, see TestLogStoreContract
		t.Fatal(err)
	}
	if err := s.DeleteRange(1, 4); err != nil { // the start
		t.Fatal(err)
	}
	f, l := bounds(t, s)
	var got raft.Log
	errFirst := s.GetLog(f, &got)
	rf, rl := reopenBounds(t, s, path)
	if errFirst != nil || f != rf || l != rl {
		t.Fatalf("in memory %d..%d (GetLog(first): %v); after reopen %d..%d", f, l, errFirst, rf, rl)
	}
}

// Out-of-order StoreLogs leaving a gap, then a suffix delete: LastIndex
// must name an entry that exists, and agree with what a reopen finds.
func TestLastIndexAfterOutOfOrderStoreThenSuffixDelete(t *testing.T) {
	path := filepath.Join(testDir(t), "raft.pool")
	s := open(t, path)
	storeRange(t, s, 10, 12)
	storeRange(t, s, 1, 5)
	if err := s.DeleteRange(10, 12); err != nil {
		t.Fatal(err)
	}
	f, l := bounds(t, s)
	var got raft.Log
	errLast := s.GetLog(l, &got)
	rf, rl := reopenBounds(t, s, path)
	if errLast != nil || f != rf || l != rl {
		t.Fatalf("in memory %d..%d (GetLog(last): %v); after reopen %d..%d", f, l, errLast, rf, rl)
	}
}

// An entry must read back as it was stored: AppendedAt of the Unix epoch
// (a non-zero time) and of a date past 2262 come back different.
func TestAppendedAtRoundTrip(t *testing.T) {
	path := filepath.Join(testDir(t), "raft.pool")
	s := open(t, path)
	defer s.Close()
	for i, at := range []time.Time{time.Unix(0, 0), time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)} {
		in := &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: []byte("x"), AppendedAt: at}
		if err := s.StoreLog(in); err != nil {
			t.Fatal(err)
		}
		var got raft.Log
		if err := s.GetLog(in.Index, &got); err != nil {
			t.Fatal(err)
		}
		if !got.AppendedAt.Equal(at) {
			t.Errorf("AppendedAt %v read back as %v (IsZero %v)", at, got.AppendedAt, got.AppendedAt.IsZero())
		}
	}
}

// On a pool that cannot grow (MaxSize) and is full, compaction must still
// free space: a plain kv.Delete needs no space, but DeleteRange's batch
// writes a tombstone per key, so a full raft log can never be compacted.
func TestDeleteRangeOnFullPool(t *testing.T) {
	path := filepath.Join(testDir(t), "raft.pool")
	o := &kv.Options{DAX: kv.DAXEmulated, Size: 1 << 20, MaxSize: 1 << 20, ChunkSize: 64 << 10}
	s, err := New(path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var last uint64
	for i := uint64(1); ; i++ {
		l := &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: bytes.Repeat([]byte{'d'}, 200)}
		if err := s.StoreLog(l); err != nil {
			if !errors.Is(err, kv.ErrNoSpace) {
				t.Fatalf("filling: %v", err)
			}
			break
		}
		last = i
	}
	t.Logf("pool full after %d entries", last)
	if err := s.DeleteRange(1, last/2); err != nil {
		// Prove the fix is possible: one key at a time needs no space.
		var k [9]byte
		derr := s.db.Delete(putLogKey(&k, 1))
		t.Fatalf("compacting a full pool: DeleteRange(1, %d): %v (while kv.Delete of entry 1: %v)", last/2, err, derr)
	}
	if err := s.StoreLog(&raft.Log{Index: last + 1, Term: 1, Data: []byte("after")}); err != nil {
		t.Fatalf("append after compaction: %v", err)
	}
}
