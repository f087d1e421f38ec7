//go:build linux

package daxmap

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/daxkv/daxkv/internal/fstest"
)

// TestFaultFullTmpfsFreedBeforeFallocate: on a full tmpfs the read
// fault-in of a hole chunk raises SIGBUS, and Fault asks fallocate whether
// the filesystem is full. When space comes free in between (another file
// removed, or a punch of this pool on another stripe), fallocate succeeds:
// Fault must then read the chunk again and succeed, not return ErrFault,
// on which a writer fails the whole DB. Found by a review, which wrote
// this test.
func TestFaultFullTmpfsFreedBeforeFallocate(t *testing.T) {
	dir := fstest.Small(t, 1<<20)
	path := filepath.Join(dir, "pool")
	m := mustOpen(t, path, Options{Size: 4 * testChunk, ChunkSize: testChunk})
	if err := m.Fault(0); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	fstest.Fill(t, filler)
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
