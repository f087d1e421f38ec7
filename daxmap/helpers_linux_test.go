//go:build linux

package daxmap

import (
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// testChunk is the chunk size of most tests: the smallest allowed, so that
// pools of many chunks stay small.
const testChunk = 64 << 10 // the smallest chunk a pool may have (alloc.MinChunkSize)

// poolPath returns a path for a new pool in a fresh temporary directory.
func poolPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "pool")
}

// mustOpen opens a pool and closes it when the test ends.
func mustOpen(t *testing.T, path string, o Options) *Map {
	t.Helper()
	m, err := Open(path, o)
	if err != nil {
		t.Fatalf("Open(%q, %+v): %v", path, o, err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

// countAllocate replaces m's fallocate seam by one that counts its calls
// and then does the real work.
func countAllocate(m *Map) *atomic.Int64 {
	var n atomic.Int64
	real := m.allocate
	m.allocate = func(fd int, off, size int64) error {
		n.Add(1)
		return real(fd, off, size)
	}
	return &n
}

// fileIsDAX reports whether the kernel says the file at path is accessed
// with DAX (statx STATX_ATTR_DAX): the only files MAP_SYNC is allowed on.
func fileIsDAX(t *testing.T, path string) bool {
	t.Helper()
	var st unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_BASIC_STATS, &st)
	if errors.Is(err, unix.ENOSYS) {
		t.Skip("statx not available")
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Attributes_mask&unix.STATX_ATTR_DAX != 0 && st.Attributes&unix.STATX_ATTR_DAX != 0
}

// fill writes a pattern identifying chunk c into b.
func fill(b []byte, c int64) {
	for i := range b {
		b[i] = byte(c*7 + int64(i)%251)
	}
}

// checkFill reports the first byte of b that does not hold chunk c's
// pattern, or -1.
func checkFill(b []byte, c int64) int {
	for i := range b {
		if b[i] != byte(c*7+int64(i)%251) {
			return i
		}
	}
	return -1
}
