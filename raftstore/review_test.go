package raftstore

// Regression tests for the defects an adversarial review found; each failed
// on the code before its fix.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
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

// tableMatchesPool checks that the in-memory table is what a load from the
// pool finds, sorted and without overlap.
func tableMatchesPool(t *testing.T, s *Store, what string) {
	t.Helper()
	mem := slices.Clone(s.groups)
	if err := s.load(); err != nil {
		t.Fatalf("%s: load: %v", what, err)
	}
	if !slices.Equal(mem, s.groups) {
		t.Fatalf("%s: table %v\npool %v", what, mem, s.groups)
	}
	for i := 1; i < len(s.groups); i++ {
		if s.groups[i-1].last >= s.groups[i].first {
			t.Fatalf("%s: overlap %v %v", what, s.groups[i-1], s.groups[i])
		}
	}
}

// fullPool returns a store on a pool that cannot grow, filled with a
// single-entry group at index 1 when single, then StoreLogs calls of 64
// entries of 200 bytes until ErrNoSpace, and the last index stored.
func fullPool(t *testing.T, single bool) (*Store, uint64) {
	t.Helper()
	s, err := New(filepath.Join(testDir(t), "raft.pool"), &kv.Options{DAX: kv.DAXEmulated, Size: 1 << 20, MaxSize: 1 << 20, ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	next := uint64(1)
	if single {
		if err := s.StoreLog(versioned(1, 0, 1)); err != nil {
			t.Fatal(err)
		}
		next = 2
	}
	for ; ; next += 64 {
		var logs []*raft.Log
		for i := next; i < next+64; i++ {
			logs = append(logs, versioned(i, 0, 200))
		}
		if err := s.StoreLogs(logs); err != nil {
			if !errors.Is(err, kv.ErrNoSpace) {
				t.Fatal(err)
			}
			return s, next - 1
		}
	}
}

// checkRange checks that the log is exactly lo..hi, each entry as stored
// by fullPool.
func checkRange(t *testing.T, s *Store, lo, hi uint64, what string) {
	t.Helper()
	tableMatchesPool(t, s, what)
	if f, l := bounds(t, s); f != lo || l != hi {
		t.Fatalf("%s: the log is %d..%d, want %d..%d", what, f, l, lo, hi)
	}
	for i := lo; i <= hi; i++ {
		var got raft.Log
		if err := s.GetLog(i, &got); err != nil || got.Index != i || !bytes.Equal(got.Data, versioned(i, 0, 200).Data) && i > 1 {
			t.Fatalf("%s: GetLog(%d) = %d, %v", what, i, got.Index, err)
		}
	}
}

// A full pool's DeleteRange that cuts a group (the cut's kept entries are a
// new value, which needs space) deleted its whole groups in batch order,
// so a cut written before them, or with none, failed: compaction inside the
// first group, a small whole group before a big cut, a middle range with
// its upper cut first. Now the whole groups go first, a prefix cut that
// still finds no space leaves its group whole, and a suffix cut returns
// ErrNoSpace with the log as it was.
func TestFullPoolDeleteRangeCuts(t *testing.T) {
	t.Run("prefix inside the first group", func(t *testing.T) {
		s, last := fullPool(t, false)
		if err := s.DeleteRange(0, 11); err != nil {
			t.Fatalf("DeleteRange(0, 11): %v", err)
		}
		checkRange(t, s, 1, last, "the cut left whole")
	})
	t.Run("prefix: a small whole group, then a big cut", func(t *testing.T) {
		s, last := fullPool(t, true)
		if err := s.DeleteRange(0, 3); err != nil {
			t.Fatalf("DeleteRange(0, 3): %v", err)
		}
		checkRange(t, s, 2, last, "the whole group deleted, the cut left whole")
	})
	t.Run("prefix: whole groups, then a cut", func(t *testing.T) {
		s, last := fullPool(t, false)
		if err := s.DeleteRange(0, 2*64+60); err != nil {
			t.Fatalf("DeleteRange(0, 188): %v", err)
		}
		checkRange(t, s, 2*64+61, last, "after the compaction")
	})
	t.Run("middle", func(t *testing.T) {
		s, last := fullPool(t, false)
		if err := s.DeleteRange(100, 400); err != nil {
			t.Fatalf("DeleteRange(100, 400): %v", err)
		}
		tableMatchesPool(t, s, "after the middle delete")
		for i := uint64(1); i <= last; i++ {
			var got raft.Log
			err := s.GetLog(i, &got)
			if gone := i >= 100 && i <= 400; gone != errors.Is(err, raft.ErrLogNotFound) || !gone && err != nil {
				t.Fatalf("GetLog(%d) after DeleteRange(100, 400): %v", i, err)
			}
		}
	})
	t.Run("suffix inside the last group", func(t *testing.T) {
		s, last := fullPool(t, false)
		if err := s.DeleteRange(last-5, last); !errors.Is(err, kv.ErrNoSpace) {
			t.Fatalf("DeleteRange(last-5, last) on a full pool: %v, want ErrNoSpace", err)
		}
		checkRange(t, s, 1, last, "after the refused suffix cut")
	})
}

// A crafted group whose end table goes backwards (ends A, A+B, A, A+B)
// was accepted, and GetLog of its fourth index returned its second entry's
// bytes as that entry. Every end must now follow the one before by at
// least an entry's length.
func TestEndTableOutOfOrderIsCorrupt(t *testing.T) {
	path := filepath.Join(testDir(t), "raft.pool")
	s := open(t, path)
	a := encode(nil, &raft.Log{Index: 1, Term: 1, Data: bytes.Repeat([]byte{'a'}, 40)})
	b := encode(nil, &raft.Log{Index: 2, Term: 7, Data: bytes.Repeat([]byte{'b'}, 40)})
	v := binary.BigEndian.AppendUint32([]byte{encodingGroup}, 4) // four entries: their ends, then two bodies
	v = append(append(append(v, make([]byte, 4*4)...), a...), b...)
	for i, e := range []int{len(a), len(a) + len(b), len(a), len(a) + len(b)} {
		binary.BigEndian.PutUint32(v[groupHeader+4*i:], uint32(e))
	}
	storeRange(t, s, 1, 4)
	if err := s.db.Put(logKey(1), v); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 4; i++ {
		var l raft.Log
		if err := s.GetLog(i, &l); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("GetLog(%d) of a group whose end table goes backwards: %v (Index %d Term %d), want ErrCorrupt", i, err, l.Index, l.Term)
		}
	}
	s.Close()
	if _, err := New(path, opts()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("New over it: %v, want ErrCorrupt", err)
	}
}

// After Close, GetLog of an index outside the in-memory table said
// ErrLogNotFound and FirstIndex and LastIndex gave the old ends: every
// method of the log now returns kv.ErrClosed.
func TestLogAfterClose(t *testing.T) {
	s := open(t, filepath.Join(testDir(t), "raft.pool"))
	storeRange(t, s, 1, 50)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	_, ferr := s.FirstIndex()
	_, lerr := s.LastIndex()
	for what, err := range map[string]error{
		"FirstIndex":            ferr,
		"LastIndex":             lerr,
		"GetLog in the log":     s.GetLog(5, &l),
		"GetLog past its end":   s.GetLog(500, &l),
		"StoreLogs":             s.StoreLogs([]*raft.Log{entry(51)}),
		"StoreLogs, overwrites": s.StoreLogs([]*raft.Log{entry(20), entry(21)}),
		"DeleteRange":           s.DeleteRange(0, 10),
		"Set":                   s.Set([]byte("a"), []byte("b")),
		"Close":                 s.Close(),
	} {
		if !errors.Is(err, kv.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", what, err)
		}
	}
}

// The iterator that finds the groups at open passes over a key whose
// newest record lies on a bad block, so such a group looked absent (a hole,
// or a log cut short). New now refuses the log. No bad block can be made
// from outside kv: the test stands in for kv's list.
func TestDamagedGroupFailsOpen(t *testing.T) {
	path := filepath.Join(testDir(t), "raft.pool")
	s := open(t, path)
	storeRange(t, s, 1, 10)
	storeRange(t, s, 11, 20)
	s.Close()
	defer func() { damagedKeys = (*kv.DB).DamagedKeys }()
	damagedKeys = func(db *kv.DB, lower, upper []byte) ([][]byte, error) {
		if !bytes.Equal(lower, []byte{logPrefix}) || !bytes.Equal(upper, []byte{logPrefix + 1}) {
			t.Errorf("DamagedKeys(%q, %q), want the log's range", lower, upper)
		}
		return [][]byte{logKey(11)}, nil
	}
	if s, err := New(path, opts()); !errors.Is(err, ErrCorrupt) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("New with a log group on a bad block: %v, want ErrCorrupt", err)
	}
	damagedKeys = (*kv.DB).DamagedKeys
	s = open(t, path)
	defer s.Close()
	checkLog(t, s, 1, 20)
}
