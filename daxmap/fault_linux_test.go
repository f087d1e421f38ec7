//go:build linux

package daxmap

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func TestFaultAllocatesOncePerChunk(t *testing.T) {
	path := poolPath(t)
	m := mustOpen(t, path, Options{Size: 4 * testChunk, ChunkSize: testChunk})
	calls := countAllocate(m)
	if got := allocatedBytes(t, path); got != 0 {
		t.Fatalf("a new pool occupies %d bytes, want a sparse file", got)
	}
	for c := range int64(4) {
		if m.Backed(c) {
			t.Fatalf("chunk %d backed before Fault", c)
		}
	}
	for round := range 3 {
		for c := range int64(4) {
			if err := m.Fault(c); err != nil {
				t.Fatal(err)
			}
			if !m.Backed(c) {
				t.Fatalf("round %d: chunk %d not backed after Fault", round, c)
			}
		}
		if got := calls.Load(); got != 4 {
			t.Fatalf("round %d: fallocate called %d times for 4 chunks", round, got)
		}
	}
	if got := allocatedBytes(t, path); got < 4*testChunk {
		t.Errorf("after Fault the file occupies %d bytes, want at least %d", got, 4*testChunk)
	}
}

func TestFaultConcurrentSameChunk(t *testing.T) {
	m := mustOpen(t, poolPath(t), Options{Size: 8 * testChunk, ChunkSize: testChunk})
	calls := countAllocate(m)
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			<-start
			errs <- m.Fault(5)
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("32 concurrent Faults of one chunk called fallocate %d times, want 1", got)
	}
	for c := range int64(8) {
		if m.Backed(c) != (c == 5) {
			t.Errorf("Backed(%d) = %v", c, m.Backed(c))
		}
	}
}

func TestFaultOutOfRange(t *testing.T) {
	m := mustOpen(t, poolPath(t), Options{Size: 2 * testChunk, ChunkSize: testChunk, MaxSize: 8 * testChunk})
	calls := countAllocate(m)
	for _, c := range []int64{-1, 2, 7, 8, 1 << 40} {
		if err := m.Fault(c); err == nil || !strings.Contains(err.Error(), fmt.Sprint(c)) {
			t.Errorf("Fault(%d) = %v, want an error naming the chunk", c, err)
		}
		if m.Backed(c) {
			t.Errorf("Backed(%d) after a failed Fault", c)
		}
	}
	if calls.Load() != 0 {
		t.Errorf("fallocate called for chunks out of range")
	}
	if err := m.Grow(3 * testChunk); err != nil {
		t.Fatal(err)
	}
	if err := m.Fault(2); err != nil {
		t.Errorf("Fault of a chunk Grow added: %v", err)
	}
}

func TestFaultAllocateErrors(t *testing.T) {
	tests := []struct {
		errno      error
		wantBacked bool
		is         error
	}{
		{unix.ENOSPC, false, ErrNoSpace},
		{unix.EDQUOT, false, ErrNoSpace},
		{unix.EIO, false, unix.EIO},
		{unix.EOPNOTSUPP, true, nil}, // a filesystem without fallocate
	}
	for _, tt := range tests {
		t.Run(tt.errno.Error(), func(t *testing.T) {
			m := mustOpen(t, poolPath(t), Options{Size: 4 * testChunk, ChunkSize: testChunk})
			m.allocate = func(int, int64, int64) error { return tt.errno }
			err := m.Fault(3)
			if tt.is == nil && err != nil {
				t.Fatalf("Fault: %v, want the error tolerated", err)
			}
			if tt.is != nil {
				if !errors.Is(err, tt.is) || !errors.Is(err, tt.errno) {
					t.Fatalf("Fault: %v, want it to wrap %v and %v", err, tt.is, tt.errno)
				}
				if want := fmt.Sprint(3 * testChunk); !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not give the chunk offset %s", err, want)
				}
			}
			if m.Backed(3) != tt.wantBacked {
				t.Errorf("Backed = %v, want %v", m.Backed(3), tt.wantBacked)
			}
		})
	}
}

func TestPunch(t *testing.T) {
	path := poolPath(t)
	m := mustOpen(t, path, Options{Size: 2 * testChunk, ChunkSize: testChunk})
	calls := countAllocate(m)
	for c := range int64(2) {
		if err := m.Fault(c); err != nil {
			t.Fatal(err)
		}
		fill(m.Bytes()[c*testChunk:(c+1)*testChunk], c+1)
	}
	before := allocatedBytes(t, path)
	if err := m.Punch(1); err != nil {
		t.Fatal(err)
	}
	if m.Backed(1) || !m.Backed(0) {
		t.Errorf("after Punch(1): Backed(0) %v Backed(1) %v", m.Backed(0), m.Backed(1))
	}
	for i, b := range m.Bytes()[testChunk:] {
		if b != 0 {
			t.Fatalf("punched chunk byte %d is %d, want 0", i, b)
		}
	}
	if i := checkFill(m.Bytes()[:testChunk], 1); i >= 0 {
		t.Fatalf("Punch(1) changed chunk 0 at byte %d", i)
	}
	if after := allocatedBytes(t, path); after > before-testChunk {
		t.Errorf("Punch freed %d bytes, want at least %d", before-after, testChunk)
	}
	if err := m.Fault(1); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 {
		t.Errorf("fallocate calls %d, want 3: a punched chunk is allocated again", calls.Load())
	}
	if err := m.Punch(2); err == nil {
		t.Error("Punch of a chunk past the end succeeded")
	}
}

func TestStripeSpread(t *testing.T) {
	// The same chunk of two pools, and neighbouring chunks of one pool,
	// should mostly land on different stripes.
	seen := map[*sync.Mutex]bool{}
	for c := range int64(256) {
		seen[stripe(1, 2, c)] = true
		seen[stripe(1, 3, c)] = true
	}
	if len(seen) < 400 {
		t.Errorf("512 (pool, chunk) pairs hash to only %d stripes", len(seen))
	}
}
