package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/recovery"
)

// shmDir is a directory on tmpfs when the machine has one (fast, and the
// emulated mode's home), else the test's temporary directory.
func shmDir(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "daxkv-test-")
		if err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

// diskDir returns a fresh temporary directory on a filesystem with blocks
// (the temporary directory's), skipping the test where that is tmpfs.
func diskDir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	var st syscall.Statfs_t
	if err := syscall.Statfs(d, &st); err != nil || st.Type == 0x01021994 || st.Type == 0x858458f6 { // TMPFS_MAGIC, RAMFS_MAGIC
		t.Skip("the temporary directory is on an in-memory filesystem")
	}
	return d
}

// smallOpts are options for a small pool with 64 KiB chunks, so that tests
// cross chunk and growth boundaries quickly.
func smallOpts(mode DAXMode) *Options {
	return &Options{Size: 128 << 10, ChunkSize: 64 << 10, DAX: mode}
}

// openTest opens a pool at path and registers a cleanup that closes it (if
// the test did not) and checks the pool file, like bbolt's btesting.
func openTest(t testing.TB, path string, opts *Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		// ErrFailed: the test failed the DB on purpose.
		if err := db.Close(); err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrFailed) {
			t.Errorf("Close: %v", err)
		}
		checkPool(t, path, opts)
	})
	return db
}

// checkPool reopens the pool file and runs Check on it.
func checkPool(t testing.TB, path string, opts *Options) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		return
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	o.hooks = nil
	db, err := Open(path, &o)
	if err != nil {
		t.Errorf("reopen for check: %v", err)
		return
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		t.Errorf("Check(%s): %v", filepath.Base(path), err)
	}
}

func key(i int) []byte { return fmt.Appendf(nil, "%016d", i) }

// value derives a self-describing value for key i at version v: a reader can
// tell from the bytes alone which key and version they belong to.
func value(i, v, size int) []byte {
	b := fmt.Appendf(nil, "k=%d v=%d|", i, v)
	for len(b) < size {
		b = append(b, byte('a'+(i+v+len(b))%26))
	}
	return b[:max(size, len(fmt.Sprintf("k=%d v=%d|", i, v)))]
}

func mustPut(t testing.TB, db *DB, k, v []byte) {
	t.Helper()
	if err := db.Put(k, v); err != nil {
		t.Fatalf("Put(%q): %v", k, err)
	}
}

func mustGet(t testing.TB, db *DB, k []byte) []byte {
	t.Helper()
	v, err := db.Get(k)
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	return v
}

// poolImage reads the pool file at path and its superblock, to edit it.
//
// It removes the pool's index checkpoint: the tests that take an image
// craft or damage records in it, and a record outside the checkpoint's
// list of a cleanly closed pool is free space to an open that uses the
// checkpoint; only the scan sees it.
func poolImage(t testing.TB, path string) ([]byte, recovery.Superblock) {
	t.Helper()
	if err := os.Remove(CheckpointPath(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := recovery.ReadSuperblock(img)
	if err != nil {
		t.Fatal(err)
	}
	return img, sb
}

// scanChecker returns a Scan callback that checks the keys come in
// ascending order and every value is one written for its key (key(i),
// value(i, ...)), then calls more, if not nil.
func scanChecker(more func(k, v []byte) error) func(k, v []byte) error {
	var prev []byte
	return func(k, v []byte) error {
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return fmt.Errorf("scan out of order: %q after %q", k, prev)
		}
		prev = append(prev[:0], k...)
		var ki int
		if _, err := fmt.Sscanf(string(k), "%d", &ki); err != nil {
			return err
		}
		if err := checkValue(ki, v); err != nil {
			return err
		}
		if more != nil {
			return more(k, v)
		}
		return nil
	}
}

// truncatedUnderneath opens a pool of 4 or more chunks of 64 KiB at path,
// fills it with n keys of 300-byte values, and truncates the file to one
// chunk underneath the open DB.
func truncatedUnderneath(t *testing.T, path string, size int64, n int) *DB {
	t.Helper()
	// No growth ahead: a growth the preparer had begun before the
	// truncation would give the file its size back, with holes that read
	// as zeros where the test wants faults.
	opts := &Options{Size: size, ChunkSize: 64 << 10, DAX: DAXEmulated}
	opts.hooks = &seam.Hooks{NoGrowAhead: true}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for i := 0; i < n; i++ {
		mustPut(t, db, key(i), value(i, 0, 300))
	}
	if err := os.Truncate(path, 64<<10); err != nil {
		t.Fatal(err)
	}
	return db
}

// badMediaOpts are options for a pool of 64 KiB chunks in the emulated
// mode whose memory reports the bad ranges (the kernel's list) and faults
// on reads of the poisoned offsets.
func badMediaOpts(bad []daxmap.Range, poison []int64) *Options {
	opts := &Options{ChunkSize: 64 << 10, DAX: DAXEmulated}
	opts.hooks = &seam.Hooks{Poison: poison, Media: func(m *daxmap.Media) { m.Bad = bad }}
	return opts
}

// badPages are the two whole 4 KiB pages at pages[0] and pages[1].
func badPages(pages []int64) []daxmap.Range {
	return []daxmap.Range{{Off: pages[0], Len: 4096}, {Off: pages[1], Len: 4096}}
}

// reopen closes db and opens the pool at path again.
func reopen(t testing.TB, db *DB, path string, opts *Options) *DB {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("reopen %s: %v", path, err)
	}
	return db
}

// headerImage writes, at dst (a slice of a value), the bytes of a live
// record header of key with sequence number seq and a value of valLen
// bytes: an image any value may hold (a copy of a pool, say). Its check is
// garbage: it never verifies.
func headerImage(dst []byte, key string, seq uint64, valLen int) {
	binary.LittleEndian.PutUint64(dst[0:], uint64(recovery.TagLive)<<56|12345)
	binary.LittleEndian.PutUint64(dst[8:], seq)
	binary.LittleEndian.PutUint16(dst[16:], uint16(len(key)))
	binary.LittleEndian.PutUint16(dst[18:], 0)
	binary.LittleEndian.PutUint32(dst[20:], uint32(valLen))
	copy(dst[24:], key)
}

// putOneLarge puts keys 0..n-1 with 40-byte values, but key large's value
// of 20000 bytes, a record that spans several pages (one of them can be
// poisoned under it).
func putOneLarge(t testing.TB, db *DB, n, large int) {
	t.Helper()
	for i := 0; i < n; i++ {
		v := value(i, 0, 40)
		if i == large {
			v = value(i, 0, 20000)
		}
		mustPut(t, db, key(i), v)
	}
}
