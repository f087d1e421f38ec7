//go:build linux

package daxmap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// smallFS mounts a tmpfs of size bytes (root only).
func smallFS(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fillFS writes a file in dir until the filesystem is full.
func fillFS(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	return p
}

// TestFaultFullTmpfsFreedBeforeFallocate: on a full tmpfs the read
// fault-in of a hole chunk raises SIGBUS, and Fault asks fallocate whether
// the filesystem is full. When space comes free in between (another file
// removed, or a punch of this pool on another stripe), fallocate succeeds:
// Fault must then read the chunk again and succeed, not return ErrFault,
// on which a writer fails the whole DB. Found by a review, which wrote
// this test.
func TestFaultFullTmpfsFreedBeforeFallocate(t *testing.T) {
	dir := smallFS(t, 1<<20)
	path := filepath.Join(dir, "pool")
	m := mustOpen(t, path, Options{Size: 4 * testChunk, ChunkSize: testChunk})
	if err := m.Fault(0); err != nil {
		t.Fatal(err)
	}
	filler := fillFS(t, dir)
	real := m.allocate
	calls := 0
	m.allocate = func(fd int, off, n int64) error {
		calls++
		if calls == 1 { // space comes free between the failed read and fallocate
			if err := os.Remove(filler); err != nil {
				t.Error(err)
			}
		}
		return real(fd, off, n)
	}
	err := m.Fault(2)
	m.allocate = real
	if calls == 0 {
		t.Skip("the read fault-in did not fail on the full tmpfs")
	}
	if err != nil || !m.Backed(2) {
		t.Fatalf("Fault after space came free: %v (ErrFault %v), backed %v; want nil and backed",
			err, errors.Is(err, ErrFault), m.Backed(2))
	}
	if calls != 1 {
		t.Fatalf("fallocate called %d times for one chunk, want 1 (the retry path's)", calls)
	}
}
