//go:build linux

// Package fstest gives the tests of daxmap and kv small filesystems that
// fill up: a tmpfs of a given size (root only), a file that takes the
// space left, and the blocks a file occupies.
package fstest

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes on dir and returns its unmount.
func Mount(dir string, size int64) (unmount func(), err error) {
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		return nil, err
	}
	return func() { syscall.Unmount(dir, syscall.MNT_DETACH) }, nil
}

// Small mounts a tmpfs of size bytes for the test, unmounted when it ends,
// and returns its directory; it skips the test where it cannot (not root).
func Small(t testing.TB, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	unmount, err := Mount(dir, size)
	if err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(unmount)
	return dir
}

// Fill writes a file at path until its filesystem is full (ENOSPC; any
// other error fails the test).
func Fill(t testing.TB, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// Allocated is the space the file at path occupies (st_blocks).
func Allocated(t testing.TB, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}
