//go:build linux

package kv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/daxkv/daxkv/internal/seam"
	"golang.org/x/sys/unix"
)

// failingDisk mounts a small ext4 (no journal) on a loop device whose
// backing file lies on the temporary directory's ext4. Making the backing
// file immutable (chattr +i) makes every write the loop device passes on
// fail (ext4_write_checks: EPERM), so the inner filesystem's write-back
// fails with EIO: a disk that fails writes, at will. It returns the mount
// point, a function that turns the failure on and off, and a function that
// unmounts and mounts again (dropping the inner page cache). Skips where
// this cannot be set up (not root, no loop device).
func failingDisk(t *testing.T) (mnt string, failWrites func(bool), remount func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a loop mount")
	}
	for _, tool := range []string{"mkfs.ext4", "losetup", "chattr"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s: %v", tool, err)
		}
	}
	dir, err := os.MkdirTemp("", "zz-wberr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Type != unix.EXT4_SUPER_MAGIC {
		t.Skip("the temporary directory is not on ext4 (chattr +i on the backing file)")
	}
	img := filepath.Join(dir, "img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Skipf("%s %v: %v: %s", name, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-E", "nodiscard,lazy_itable_init=0", img)
	dev := run("losetup", "-f", "--show", img)
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	mnt = filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(dev, mnt, "ext4", 0, ""); err != nil {
		t.Skipf("mount %s: %v", dev, err)
	}
	mounted := true
	t.Cleanup(func() {
		exec.Command("chattr", "-i", img).Run()
		if mounted {
			unix.Unmount(mnt, 0)
		}
	})
	failWrites = func(on bool) {
		flag := "-i"
		if on {
			flag = "+i"
		}
		if out, err := exec.Command("chattr", flag, img).CombinedOutput(); err != nil {
			t.Fatalf("chattr %s: %v: %s", flag, err, out)
		}
	}
	remount = func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Fatalf("unmount: %v", err)
		}
		mounted = false
		if err := unix.Mount(dev, mnt, "ext4", 0, ""); err != nil {
			t.Fatalf("mount again: %v", err)
		}
		mounted = true
	}
	return mnt, failWrites, remount
}

// TestZeroFillKeepsWritebackErrors: the kernel reports a failed write-back
// of a page to the next fsync-like call on the same open file description
// (errseq), once, and the Msync persister relies on it: a record page whose
// write-back failed makes the fence's msync fail, and the DB fails
// (flush/msync.go, the fsyncgate note). Fault's zero-fill of a fresh chunk
// ends with sync_file_range, whose wait takes that report for the whole
// file: done on the pool's own descriptor, a zero-fill between a failed
// write-back and a Put's fence made the fence succeed, and the Put was
// acknowledged though its record never reached the disk (found by an
// adversarial review). The zero-fill now goes through an open file
// description of its own.
//
// Subtest "control" (no Fault in between): the Put fails, as designed.
// Subtest "fault-between": the preparer's Fault of a fresh chunk runs in
// between (called at that instant, as the preparer's goroutine may): the
// Put must fail too, and nothing acknowledged may be lost after a remount.
func TestZeroFillKeepsWritebackErrors(t *testing.T) {
	for _, faultBetween := range []bool{false, true} {
		name := "control"
		if faultBetween {
			name = "fault-between"
		}
		t.Run(name, func(t *testing.T) {
			mnt, failWrites, remount := failingDisk(t)
			path := filepath.Join(mnt, "pool")
			var armed atomic.Bool
			var db *DB
			var injected error
			fresh := int64(-1)
			opts := &Options{DAX: DAXOff, Size: 1 << 20, ChunkSize: 64 << 10, NoAutoCompact: true}
			opts.hooks = &seam.Hooks{NoGrowAhead: true, At: func(p seam.Point) {
				if p != seam.PutWritten || !armed.CompareAndSwap(true, false) {
					return
				}
				// The kernel's background write-back of the record's
				// page, on a disk that fails the write.
				failWrites(true)
				fd, err := unix.Open(path, unix.O_RDWR, 0)
				if err != nil {
					t.Error(err)
					return
				}
				injected = unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
				unix.Close(fd)
				failWrites(false)
				if faultBetween {
					// What the chunk preparer does on its own goroutine.
					if err := db.m.Fault(fresh); err != nil {
						t.Errorf("Fault(%d): %v", fresh, err)
					}
				}
			}}
			var err error
			db, err = Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { db.Close() }()
			if !db.writeRecords {
				t.Fatal("writeRecords is off")
			}
			for i := range 20 {
				if err := db.Put(fmt.Appendf(nil, "warm-%d", i), []byte("v")); err != nil {
					t.Fatal(err)
				}
			}
			for c := db.m.Size()/db.m.ChunkSize() - 1; c > 0; c-- {
				if !db.m.Backed(c) && !db.m.HasData(c) {
					fresh = c
					break
				}
			}
			if fresh < 0 {
				t.Skip("no fresh chunk")
			}
			key, val := []byte("acknowledged"), bytes.Repeat([]byte("V"), 3000)
			armed.Store(true)
			putErr := db.Put(key, val)
			if injected == nil {
				t.Skip("the write-back did not fail: could not inject an I/O error")
			}
			t.Logf("injected write-back error: %v; Put returned %v", injected, putErr)
			if !faultBetween {
				if putErr == nil || !errors.Is(putErr, ErrFailed) {
					t.Fatalf("control: the failed write-back was not reported: Put = %v", putErr)
				}
				return
			}
			if putErr == nil || !errors.Is(putErr, ErrFailed) {
				t.Errorf("Put returned %v though its page's write-back failed: Fault(%d)'s zero-fill took the error", putErr, fresh)
			}
			cerr := db.Close()
			t.Logf("Close: %v", cerr)
			remount()
			db2, err := Open(path, &Options{DAX: DAXOff, NoAutoCompact: true})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer db2.Close()
			got, err := db2.Get(key)
			if putErr == nil && !bytes.Equal(got, val) {
				t.Errorf("after a remount, the acknowledged Put reads %d bytes (%v): lost", len(got), err)
			}
		})
	}
}
