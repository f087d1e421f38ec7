package alloc

import (
	"strings"
	"testing"
)

const (
	kib = int64(1) << 10
	mib = int64(1) << 20
)

// checked registers a cleanup that runs Check on a, so every test that makes
// an allocator ends with its invariants verified.
func checked(t testing.TB, a *Allocator) *Allocator {
	t.Helper()
	t.Cleanup(func() {
		if err := a.Check(); err != nil {
			t.Errorf("Check at cleanup: %v", err)
		}
	})
	return a
}

// mustAlloc allocates n bytes or fails the test.
func mustAlloc(t testing.TB, a *Allocator, n int64) int64 {
	t.Helper()
	off, err := a.Alloc(n)
	if err != nil {
		t.Fatalf("Alloc(%d): %v", n, err)
	}
	return off
}

// mustPanic runs f and fails unless it panics with a daxkv assertion.
func mustPanic(t testing.TB, name string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("%s: did not panic", name)
			return
		}
		if s, ok := r.(string); !ok || !strings.HasPrefix(s, "daxkv: assertion failed") {
			t.Errorf("%s: panic %v is not a daxkv assertion", name, r)
		}
	}()
	f()
}

// assertPlaced fails unless [off, off+SizeOf(n)) is a well-placed extent of
// a: in the heap, inside one chunk, aligned for its class.
func assertPlaced(t testing.TB, a *Allocator, off, n int64) {
	t.Helper()
	size := SizeOf(n)
	a.mu.Lock() // not Stats: it merges the free extents, too slow per extent
	pool := a.poolSize
	a.mu.Unlock()
	switch {
	case off < a.heapStart || off+size > pool:
		t.Fatalf("extent [%d, %d) outside the heap [%d, %d)", off, off+size, a.heapStart, pool)
	case off%Unit != 0:
		t.Fatalf("extent at %d not aligned to %d", off, Unit)
	case size > SmallMax && off%Page != 0:
		t.Fatalf("large extent at %d (size %d) not page-aligned", off, size)
	case off/a.chunkSize != (off+size-1)/a.chunkSize:
		t.Fatalf("extent [%d, %d) crosses a chunk boundary (chunk size %d)", off, off+size, a.chunkSize)
	}
}

// assertAccounting fails unless the Stats identity holds with the expected
// used and limbo bytes.
func assertAccounting(t testing.TB, a *Allocator, used, limbo int64) {
	t.Helper()
	s := a.Stats()
	if s.Used+s.Free+s.Limbo != s.PoolSize-a.heapStart {
		t.Fatalf("Used %d + Free %d + Limbo %d != heap %d", s.Used, s.Free, s.Limbo, s.PoolSize-a.heapStart)
	}
	if s.Used != used || s.Limbo != limbo {
		t.Fatalf("Stats Used %d Limbo %d, want %d and %d", s.Used, s.Limbo, used, limbo)
	}
	if got := a.LimboBytes(); got != limbo {
		t.Fatalf("LimboBytes %d, want %d", got, limbo)
	}
}
