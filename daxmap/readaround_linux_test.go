//go:build linux

package daxmap

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// vmFlags returns the VmFlags of this process's mapping that holds addr
// (/proc/self/smaps).
func vmFlags(t *testing.T, addr uintptr) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("smaps: %v", err)
	}
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(f[0], "%x-%x", &lo, &hi); n == 2 && !strings.HasSuffix(f[0], ":") {
			in = addr >= lo && addr < hi
			continue
		}
		if in && f[0] == "VmFlags:" {
			return f[1:]
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return nil
}

// requireAdviceApplied skips the test where madvise's advice does not reach
// the kernel's mapping (qemu-user keeps the guest's mappings to itself and
// shows VmFlags of its own): a file mapped here, advised MADV_RANDOM, must
// show rr.
func requireAdviceApplied(t *testing.T) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "probe"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(1 << 16); err != nil {
		t.Fatal(err)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, 1<<16, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	if err := unix.Madvise(b, unix.MADV_RANDOM); err != nil {
		t.Skipf("madvise MADV_RANDOM: %v", err)
	}
	if f := vmFlags(t, uintptr(unsafe.Pointer(&b[0]))); !slices.Contains(f, "rr") {
		t.Skipf("a mapping advised MADV_RANDOM shows VmFlags %v: the advice does not reach the kernel here (an emulator)", f)
	}
}

// TestPageCacheMappingReadsNoPageAround: the pool's shared mapping, and
// what Grow maps on, carry MADV_RANDOM ("rr"), so that a fault reads its
// page only and the page cache holds the pool in single pages.
func TestPageCacheMappingReadsNoPageAround(t *testing.T) {
	requireAdviceApplied(t)
	m := mustOpen(t, poolPath(t), Options{Size: 4 * testChunk, ChunkSize: testChunk, Sync: SyncNever})
	base := uintptr(m.base)
	if f := vmFlags(t, base); !slices.Contains(f, "rr") {
		t.Fatalf("the pool's mapping has VmFlags %v, want rr (MADV_RANDOM)", f)
	}
	if err := m.Grow(8 * testChunk); err != nil {
		t.Fatal(err)
	}
	if f := vmFlags(t, base+6*testChunk); !slices.Contains(f, "rr") {
		t.Fatalf("the range Grow mapped has VmFlags %v, want rr (MADV_RANDOM)", f)
	}
}

// writeBytes is this process's write_bytes (/proc/self/io): the bytes of
// the page-cache pages it dirtied, whole folios.
func writeBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("io accounting: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no write_bytes in /proc/self/io")
	return 0
}

// TestStoreDirtiesItsPageOnly: after the pool was read through in order
// (as the recovery scan does), one store every 64 KiB dirties one page
// each, not the folio read-around built (a 64 KiB to 2 MiB folio, each
// written whole by the next msync, on a kernel whose filesystem caches
// files in large folios; a kernel that does not passes either way). On a
// filesystem without writeback (tmpfs) nothing is accounted: skipped.
func TestStoreDirtiesItsPageOnly(t *testing.T) {
	requireAdviceApplied(t)
	dir, err := os.MkdirTemp("", "daxmap-readaround-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	const chunk = 4 << 20 // the default: read-around grows folios within a chunk's fault-in
	m := mustOpen(t, filepath.Join(dir, "pool"), Options{Size: 4 * chunk, ChunkSize: chunk, Sync: SyncNever})
	if inMemoryFS(m.fd) {
		t.Skip("the temporary directory is on an in-memory filesystem: no writeback to account")
	}
	for c := range int64(4) {
		if err := m.Fault(c); err != nil {
			t.Fatal(err)
		}
	}
	b := m.Bytes()
	touchPages(b, os.Getpagesize()) // a reader going through in order
	before := writeBytes(t)
	const step = 64 << 10
	for off := 0; off < len(b); off += step {
		b[off] = 1
	}
	dirtied := writeBytes(t) - before
	stores := int64(len(b) / step)
	if dirtied > 2*stores*int64(os.Getpagesize()) {
		t.Fatalf("%d stores, 64 KiB apart, dirtied %d KiB of page cache (%d KiB a store), want a page each", stores, dirtied>>10, dirtied/stores>>10)
	}
	t.Logf("%d stores dirtied %d KiB", stores, dirtied>>10)
}
