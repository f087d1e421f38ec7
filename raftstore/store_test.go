package raftstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/daxkv/daxkv/kv"
)

func testDir(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "raftstore-test-")
		if err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

func opts() *kv.Options { return &kv.Options{DAX: kv.DAXEmulated, Size: 1 << 20, ChunkSize: 64 << 10} }

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := New(path, opts())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func entry(i uint64) *raft.Log {
	l := &raft.Log{Index: i, Term: i/10 + 1, Type: raft.LogCommand, Data: fmt.Appendf(nil, "cmd-%d", i)}
	if i%3 == 0 {
		l.Extensions = []byte{byte(i)}
		l.AppendedAt = time.Unix(1700000000, int64(i)).UTC()
	}
	return l
}

func bounds(t *testing.T, s *Store) (uint64, uint64) {
	t.Helper()
	f, err := s.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	return f, l
}

// checkLog checks that the log holds exactly the entries lo..hi (none when
// lo == 0), byte for byte.
func checkLog(t *testing.T, s *Store, lo, hi uint64) {
	t.Helper()
	if f, l := bounds(t, s); f != lo || l != hi {
		t.Fatalf("FirstIndex, LastIndex = %d, %d; want %d, %d", f, l, lo, hi)
	}
	for i := uint64(1); i <= hi+2; i++ {
		var got raft.Log
		err := s.GetLog(i, &got)
		in := lo != 0 && i >= lo && i <= hi
		switch {
		case !in && !errors.Is(err, raft.ErrLogNotFound):
			t.Fatalf("GetLog(%d) outside %d..%d: %v, want ErrLogNotFound", i, lo, hi, err)
		case in && err != nil:
			t.Fatalf("GetLog(%d): %v", i, err)
		case in:
			want := entry(i)
			if got.Index != i || got.Term != want.Term || got.Type != want.Type || !bytes.Equal(got.Data, want.Data) ||
				!bytes.Equal(got.Extensions, want.Extensions) || !got.AppendedAt.Equal(want.AppendedAt) {
				t.Fatalf("GetLog(%d) = %+v, want %+v", i, got, *want)
			}
		}
	}
}

func storeRange(t *testing.T, s *Store, lo, hi uint64) {
	t.Helper()
	var logs []*raft.Log
	for i := lo; i <= hi; i++ {
		logs = append(logs, entry(i))
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
}

// TestLogStoreContract: an empty store, StoreLog and StoreLogs, DeleteRange
// at the start, at the end and in the middle (a gap), everything again
// after a reopen.
func TestLogStoreContract(t *testing.T) {
	path := filepath.Join(testDir(t), "raft.pool")
	s := open(t, path)
	checkLog(t, s, 0, 0)
	if err := s.DeleteRange(1, 10); err != nil {
		t.Fatalf("DeleteRange on an empty log: %v", err)
	}
	if err := s.StoreLog(entry(1)); err != nil {
		t.Fatal(err)
	}
	storeRange(t, s, 2, 100)
	checkLog(t, s, 1, 100)
	if err := s.DeleteRange(1, 10); err != nil { // the start (compaction)
		t.Fatal(err)
	}
	checkLog(t, s, 11, 100)
	if err := s.DeleteRange(91, 1000); err != nil { // the end (a conflicting suffix)
		t.Fatal(err)
	}
	checkLog(t, s, 11, 90)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	checkLog(t, s, 11, 90)
	// The middle: a gap, which the ends survive.
	if err := s.DeleteRange(50, 60); err != nil {
		t.Fatal(err)
	}
	if f, l := bounds(t, s); f != 11 || l != 90 {
		t.Fatalf("after deleting the middle: %d..%d", f, l)
	}
	var got raft.Log
	if err := s.GetLog(55, &got); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog inside the deleted middle: %v", err)
	}
	if err := s.GetLog(61, &got); err != nil || got.Index != 61 {
		t.Fatalf("GetLog after the gap: %+v, %v", got, err)
	}
	if err := s.DeleteRange(0, 1<<63); err != nil { // everything (after a snapshot restore)
		t.Fatal(err)
	}
	checkLog(t, s, 0, 0)
	storeRange(t, s, 500, 520) // a log may start anywhere
	checkLog(t, s, 500, 520)
	s.Close()
	s = open(t, path)
	defer s.Close()
	checkLog(t, s, 500, 520)
	if !s.IsMonotonic() {
		t.Fatal("IsMonotonic")
	}
}

// TestStableStoreContract: Get and GetUint64 of a key never set return
// raft's "not found"; values survive a reopen.
func TestStableStoreContract(t *testing.T) {
	path := filepath.Join(testDir(t), "raft.pool")
	s := open(t, path)
	if _, err := s.Get([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("Get of an unset key: %v, want \"not found\"", err)
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); v != 0 || err == nil || err.Error() != "not found" {
		t.Fatalf("GetUint64 of an unset key: %d, %v", v, err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 42); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("LastVoteCand"), []byte("node-2")); err != nil {
		t.Fatal(err)
	}
	storeRange(t, s, 1, 5) // the stable keys do not count as log entries
	s.Close()
	s = open(t, path)
	defer s.Close()
	if v, err := s.GetUint64([]byte("CurrentTerm")); v != 42 || err != nil {
		t.Fatalf("GetUint64 after reopen: %d, %v", v, err)
	}
	if v, err := s.Get([]byte("LastVoteCand")); string(v) != "node-2" || err != nil {
		t.Fatalf("Get after reopen: %q, %v", v, err)
	}
	checkLog(t, s, 1, 5)
	if _, err := s.GetUint64([]byte("LastVoteCand")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("GetUint64 of a 6-byte value: %v, want ErrCorrupt", err)
	}
}

// rawGroup is the group value of the given entry encodings (two or more),
// however bad.
func rawGroup(entries ...[]byte) []byte {
	v, _ := appendGroup(nil, len(entries), func(b []byte, i int) ([]byte, error) { return append(b, entries[i]...), nil })
	return v
}

// TestCorruptEntryIsAnError: an entry or a group whose bytes do not decode
// is an error wrapping ErrCorrupt, never a wrong entry, and so is, at
// open, a key in the log's range that is not a log key, a group that
// overlaps another or one whose count runs past the last index.
func TestCorruptEntryIsAnError(t *testing.T) {
	path := filepath.Join(testDir(t), "raft.pool")
	s := open(t, path)
	storeRange(t, s, 1, 3) // one group, under the key of entry 1
	e1, e2, e3 := encode(nil, entry(1)), encode(nil, entry(2)), encode(nil, entry(3))
	good := rawGroup(e1, e2, e3)
	if !bytes.Equal(good, encodeGroup(nil, []*raft.Log{entry(1), entry(2), entry(3)})) {
		t.Fatal("rawGroup and encodeGroup disagree")
	}
	edit := func(f func(v []byte)) []byte { v := bytes.Clone(good); f(v); return v }
	for _, c := range []struct {
		name string
		v    []byte
	}{
		{"empty", nil},
		{"one entry's version byte", []byte{encodingV1}},
		{"an unknown encoding", []byte{9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"a single entry with a byte after it", append(bytes.Clone(e1), 7)},
		{"a count of 0", edit(func(v []byte) { binary.BigEndian.PutUint32(v[1:], 0) })},
		{"a count past the bytes", edit(func(v []byte) { binary.BigEndian.PutUint32(v[1:], 1<<30) })},
		{"ends out of order", edit(func(v []byte) { binary.BigEndian.PutUint32(v[groupHeader:], uint32(len(e1)+len(e2)+1)) })},
		{"the body one byte short", good[:len(good)-1]},
		{"the header only", good[:groupHeader]},
		{"entry 2 with a byte after it", rawGroup(e1, append(bytes.Clone(e2), 7), e3)},
	} {
		if err := s.db.Put(logKey(1), c.v); err != nil {
			t.Fatal(err)
		}
		var l raft.Log
		if err := s.GetLog(2, &l); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: GetLog(2) of %x: %v (%+v), want ErrCorrupt", c.name, c.v, err, l)
		}
	}
	if err := s.db.Put(logKey(1), good); err != nil {
		t.Fatal(err)
	}
	checkLog(t, s, 1, 3)
	s.Close()
	for _, c := range []struct {
		name string
		key  []byte
		v    []byte
	}{
		{"a key in the log's range that is not a log key", []byte("lx"), []byte("v")},
		{"a group overlapping the one before", logKey(3), e3},
		{"a count past the last index", logKey(1<<64 - 2), rawGroup(e1, e2, e3)},
		{"a group that does not decode", logKey(10), []byte{encodingGroup, 0, 0, 0, 1}},
	} {
		db, err := kv.Open(path, opts())
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Put(c.key, c.v); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if s, err := New(path, opts()); !errors.Is(err, ErrCorrupt) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("New over %s: %v, want ErrCorrupt", c.name, err)
		}
		db, err = kv.Open(path, opts())
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Delete(c.key); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	s = open(t, path)
	defer s.Close()
	checkLog(t, s, 1, 3)
}

// TestKilledMidStoreLogs kills a child process (SIGKILL) while it appends
// batches of entries and compacts the log's start in cuts that end inside
// a group: after the reopen the log is a prefix of what was stored, batch
// by batch, from where a compaction left it, with no hole.
func TestKilledMidStoreLogs(t *testing.T) {
	if os.Getenv("RAFTSTORE_CHILD") != "" {
		child()
		return
	}
	if testing.Short() {
		t.Skip("runs child processes")
	}
	path := filepath.Join(testDir(t), "raft.pool")
	for round := 0; round < 4; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledMidStoreLogs$")
		cmd.Env = append(os.Environ(), "RAFTSTORE_CHILD="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, _ := out.Read(buf) // the child says it is appending
		time.Sleep(time.Duration(20+round*30) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		if n == 0 {
			t.Fatal("the child never started appending")
		}
		s := open(t, path)
		f, l := bounds(t, s)
		if f == 0 || f > l || l%16 != 0 {
			t.Fatalf("round %d: after SIGKILL the log is %d..%d, want an end at a multiple of the batch (16)", round, f, l)
		}
		t.Logf("round %d: the log is %d..%d", round, f, l)
		checkLog(t, s, f, l) // every entry from f to l: no hole
		s.Close()
	}
}

// child appends batches of 16 entries after the last one, deleting the
// first 5 entries every 4 batches, until killed.
func child() {
	s, err := New(os.Getenv("RAFTSTORE_CHILD"), opts())
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	last, _ := s.LastIndex()
	fmt.Println("appending " + strconv.FormatUint(last, 10))
	for i := last + 1; ; i += 16 {
		logs := make([]*raft.Log, 16)
		for j := range logs {
			logs[j] = entry(i + uint64(j))
		}
		if err := s.StoreLogs(logs); err != nil {
			fmt.Println("store:", err)
			os.Exit(1)
		}
		if i%64 == 1 { // compact the start: 5 entries, cutting a group
			f, _ := s.FirstIndex()
			if err := s.DeleteRange(0, f+4); err != nil {
				fmt.Println("delete:", err)
				os.Exit(1)
			}
		}
	}
}
