package kv

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Regression (review): Options.LockWait waits for the lock on the file descriptor that
// Open opened before the wait, and never checks afterwards that the path
// still names that file. A pool replaced (renamed over, as `daxkv backup
// --force` / `repair --force` do once the pool is no longer held) or
// removed while the waiter stood in line leaves the waiter with the OLD,
// unlinked inode: its writes succeed and are lost. Without LockWait the
// window was a few microseconds; with it, it is the whole wait.
func TestLockWaitReplacedPool(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pool")
	holder, err := Open(path, smallOpts(DAXOff))
	if err != nil {
		t.Fatal(err)
	}
	// The replacement, built aside.
	other := filepath.Join(dir, "other")
	db, err := Open(other, smallOpts(DAXOff))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put([]byte("from"), []byte("replacement")); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// The pool is replaced while the waiter waits, then the old one's
	// holder lets it go. (A rename after the waiter has the lock is the
	// replacement of a pool in use, which daxkv's tools refuse: a race
	// no open can close.)
	go func() {
		time.Sleep(200 * time.Millisecond)
		if err := os.Rename(other, path); err != nil {
			t.Error(err)
		}
		holder.Close()
	}()
	o := smallOpts(DAXOff)
	o.LockWait = 10 * time.Second
	w, err := Open(path, o)
	if err != nil {
		t.Fatalf("waiting open: %v", err)
	}
	if err := w.Put([]byte("written"), []byte("by the waiter")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Get([]byte("from")); err != nil {
		t.Errorf("the waiter does not see the pool now at %s: Get: %v", path, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, smallOpts(DAXOff))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Get([]byte("written")); err != nil {
		t.Errorf("a write acknowledged by the waiting open is lost (it went to the replaced, unlinked file): Get: %v", err)
	}
}

// Regression (review): kv.Open reads the superblock (chunk size, preferred mode) with
// PeekSuperblock BEFORE daxmap.Open waits for the lock. With LockWait the
// waiter uses what it read before the wait. When the holder was creating
// the pool (file present but not yet formatted: kv.Open's own daxmap.Open
// creates the file, takes the lock, then truncates and formats it), the
// waiter falls back to its own chunk size, and once the creator is done it
// reports a healthy pool as corrupt ("superblock chunk size changed under
// the open"). The holder here is simulated with a raw flock in exactly the
// state a creating kv.Open leaves the file in while it formats.
func TestLockWaitStaleSuperblock(t *testing.T) {
	dir := t.TempDir()
	// What the creator will have written: a pool of 128 KiB chunks.
	img := filepath.Join(dir, "img")
	db, err := Open(img, &Options{Size: 256 << 10, ChunkSize: 128 << 10, DAX: DAXOff})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	image, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}

	// The creator: the new, empty file, locked.
	path := filepath.Join(dir, "pool")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		if _, err := f.WriteAt(image, 0); err != nil { // formats it
			t.Error(err)
		}
		f.Close() // and closes it
	}()
	o := &Options{DAX: DAXOff, ChunkSize: 64 << 10, Size: 128 << 10, LockWait: 10 * time.Second}
	w, err := Open(path, o)
	if err != nil {
		t.Fatalf("open waiting for the pool's creator: %v (ErrCorrupt: %v)", err, errors.Is(err, ErrCorrupt))
	}
	defer w.Close()
	if v, err := w.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Errorf("Get = %q, %v", v, err)
	}
}
