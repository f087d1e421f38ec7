//go:build linux

package kv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/daxkv/daxkv/internal/seam"
)

// TestPutOnDiskWritesItsRecord: in the page-cache mode on a filesystem with
// blocks a Put writes its record with pwrite (writeRecord), so Puts that
// follow one another into a page the last msync write-protected take no
// write fault (stored through the mapping, 200 Puts took about 310 faults
// here, one a Put beside the heap's; written, about 100); records longer
// than maxWrittenRecord are stored through the mapping. Every value reads back, before and after a reopen, and a switch
// to the emulated mode and back turns the path off and on.
func TestPutOnDiskWritesItsRecord(t *testing.T) {
	path := filepath.Join(diskDir(t), "pool")
	opts := &Options{DAX: DAXOff, Size: 1 << 20, ChunkSize: 64 << 10}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()
	if !db.writeRecords {
		t.Fatal("DAXOff on a filesystem with blocks: Puts do not write their records")
	}
	want := map[string][]byte{}
	put := func(i, n int) {
		k, v := fmt.Appendf(nil, "key-%06d", i), bytes.Repeat([]byte{byte(i)}, n)
		if err := db.Put(k, v); err != nil {
			t.Fatal(err)
		}
		want[string(k)] = v
	}
	put(0, 300) // the first page faults in
	const puts = 200
	before := minorFaults(t)
	for i := 1; i <= puts; i++ {
		put(i, 300)
	}
	if faults := minorFaults(t) - before; faults > puts && !raceEnabled { // the race detector's shadow memory faults too
		t.Errorf("%d Puts of 300 bytes took %d page faults: their records were stored through the mapping", puts, faults)
	}
	// Each record was flushed for its fence: nothing a Put wrote is left
	// dirty in the page cache (a power loss would lose it).
	if dirty, err := db.m.DirtyBytes(); err == nil && dirty != 0 {
		t.Errorf("after %d acknowledged Puts, %d bytes of the pool are dirty in the page cache: a record was not flushed for its fence", puts, dirty)
	}
	put(puts+1, maxWrittenRecord) // stored through the mapping
	check := func(what string) {
		t.Helper()
		for k, v := range want {
			got, err := db.Get([]byte(k))
			if err != nil || !bytes.Equal(got, v) {
				t.Fatalf("%s: Get(%s): %d bytes, %v", what, k, len(got), err)
			}
		}
	}
	check("before the reopen")
	db = reopen(t, db, path, opts)
	check("after the reopen")
	if err := db.SwitchMode(context.Background(), DAXEmulated); err != nil {
		t.Fatal(err)
	}
	if db.writeRecords {
		t.Fatal("the emulated mode writes records")
	}
	put(puts+2, 300)
	if err := db.SwitchMode(context.Background(), DAXOff); err != nil {
		t.Fatal(err)
	}
	if !db.writeRecords {
		t.Fatal("back in DAXOff, Puts do not write their records")
	}
	put(puts+3, 300)
	check("after the switches")
}

// TestPutWriteErrorFailsTheDB: a pwrite of a Put's record that fails with
// an error other than the file-size limit (here EIO, injected) fails the
// Put with ErrFailed and the error, and the DB with it, as a store's fault
// would; every Put acknowledged before is there after a reopen, and the
// failed one is not.
func TestPutWriteErrorFailsTheDB(t *testing.T) {
	path := filepath.Join(diskDir(t), "pool")
	var broken atomic.Bool
	opts := &Options{DAX: DAXOff, Size: 1 << 20, ChunkSize: 64 << 10}
	opts.hooks = &seam.Hooks{WriteAt: func([]byte, int64) error {
		if broken.Load() {
			return fmt.Errorf("pwrite: %w", syscall.EIO)
		}
		return nil
	}}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()
	if !db.writeRecords {
		t.Fatal("DAXOff on a filesystem with blocks: Puts do not write their records")
	}
	val := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 200) }
	const acked = 100
	for i := range acked {
		if err := db.Put(key(i), val(i)); err != nil {
			t.Fatal(err)
		}
	}
	broken.Store(true)
	err = db.Put(key(acked), val(acked))
	if !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Put whose pwrite failed with EIO: %v, want ErrFailed wrapping EIO", err)
	}
	broken.Store(false)
	if err := db.Put(key(acked+1), val(acked+1)); !errors.Is(err, ErrFailed) {
		t.Fatalf("Put after the failure: %v, want ErrFailed", err)
	}
	if err := db.Close(); err != nil && !errors.Is(err, ErrFailed) {
		t.Fatalf("Close of the failed DB: %v", err)
	}
	db = openTest(t, path, &Options{DAX: DAXOff})
	for i := range acked {
		if v := mustGet(t, db, key(i)); !bytes.Equal(v, val(i)) {
			t.Fatalf("acknowledged key %d: %d bytes after the reopen", i, len(v))
		}
	}
	for _, i := range []int{acked, acked + 1} {
		if _, err := db.Get(key(i)); !errors.Is(err, ErrNotFound) {
			t.Errorf("key %d, whose Put failed: %v, want ErrNotFound", i, err)
		}
	}
}
