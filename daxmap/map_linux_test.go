//go:build linux

package daxmap

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestCreateReopenKeepsBytes(t *testing.T) {
	path := poolPath(t)
	m, err := Open(path, Options{Size: 3 * testChunk, ChunkSize: testChunk})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Created() {
		t.Error("Created() = false for a new file")
	}
	if got := m.Size(); got != 3*testChunk {
		t.Errorf("Size() = %d, want %d", got, 3*testChunk)
	}
	if got := len(m.Bytes()); got != 3*testChunk {
		t.Errorf("len(Bytes()) = %d, want %d", got, 3*testChunk)
	}
	if m.ChunkSize() != testChunk || m.Path() != path || m.ReadOnly() || m.DeviceDAX() {
		t.Errorf("ChunkSize %d Path %q ReadOnly %v DeviceDAX %v", m.ChunkSize(), m.Path(), m.ReadOnly(), m.DeviceDAX())
	}
	for c := range int64(3) {
		if err := m.Fault(c); err != nil {
			t.Fatal(err)
		}
		fill(m.Bytes()[c*testChunk:(c+1)*testChunk], c)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("new file has mode %v, want 0600", perm)
	}
	if fi.Size() != 3*testChunk {
		t.Errorf("file size %d, want %d", fi.Size(), 3*testChunk)
	}

	// Options.Size is ignored for an existing file.
	m = mustOpen(t, path, Options{Size: 10 * testChunk, ChunkSize: testChunk})
	if m.Created() {
		t.Error("Created() = true for an existing file")
	}
	if got := m.Size(); got != 3*testChunk {
		t.Errorf("reopened Size() = %d, want %d", got, 3*testChunk)
	}
	for c := range int64(3) {
		if i := checkFill(m.Bytes()[c*testChunk:(c+1)*testChunk], c); i >= 0 {
			t.Fatalf("chunk %d byte %d lost across reopen", c, i)
		}
	}
}

func TestOpenDefaults(t *testing.T) {
	const size, chunk = 64 << 20, 2 << 20
	m := mustOpen(t, poolPath(t), Options{Size: size, ChunkSize: chunk})
	if m.Size() != size || m.ChunkSize() != chunk {
		t.Errorf("Size %d ChunkSize %d, want %d and %d", m.Size(), m.ChunkSize(), size, chunk)
	}
	// DefaultMaxSize where the kernel grants it. With less address space (an
	// arm64 kernel with 39-bit addresses, qemu-user with a reserved guest
	// range) Open falls back along the plan: the reservation is then a size
	// of the plan, and twice that size cannot be had.
	o, _ := withDefaults(Options{Size: size, ChunkSize: chunk})
	plan, err := reservationPlan(o, size)
	if err != nil {
		t.Fatal(err)
	}
	got := int64(len(m.Region()))
	switch {
	case !slices.Contains(plan, got):
		t.Errorf("reservation is %d bytes, want one of %v", got, plan)
	case got != DefaultMaxSize:
		t.Logf("reservation fell back to %d bytes", got)
		if p, err := reserve(uintptr(2 * got)); err == nil {
			_ = release(p, uintptr(2*got))
			t.Errorf("reservation is %d bytes, but %d bytes could be reserved", got, 2*got)
		}
	}
	if &m.Region()[0] != &m.Bytes()[0] {
		t.Error("Bytes is not a prefix of Region")
	}
}

func TestOpenEmptyFileIsCreated(t *testing.T) {
	path := poolPath(t)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	m := mustOpen(t, path, Options{Size: testChunk, ChunkSize: testChunk})
	if !m.Created() || m.Size() != testChunk {
		t.Errorf("empty file: Created %v Size %d, want true and %d", m.Created(), m.Size(), testChunk)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		o    Options
		is   error
	}{
		{"missing read-only", filepath.Join(dir, "none"), Options{ReadOnly: true}, fs.ErrNotExist},
		{"missing directory", filepath.Join(dir, "none", "pool"), Options{}, fs.ErrNotExist},
		{"directory", dir, Options{ReadOnly: true}, nil},
		{"bad options", filepath.Join(dir, "p"), Options{ChunkSize: 3}, nil},
	}
	if _, err := os.Stat("/dev/null"); err == nil {
		tests = append(tests, struct {
			name string
			path string
			o    Options
			is   error
		}{"character device that is not DAX", "/dev/null", Options{ReadOnly: true}, nil})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.o.ChunkSize == 0 {
				tt.o.ChunkSize = testChunk
			}
			m, err := Open(tt.path, tt.o)
			if err == nil {
				m.Close()
				t.Fatal("Open succeeded")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "p")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open with bad options created the file: %v", err)
	}
}

func TestGrowKeepsAddressesAndData(t *testing.T) {
	const chunks = 64
	path := poolPath(t)
	m := mustOpen(t, path, Options{Size: testChunk, ChunkSize: testChunk})
	base := &m.Bytes()[0]
	if err := m.Fault(0); err != nil {
		t.Fatal(err)
	}
	early := m.Bytes()
	fill(early, 0)

	// A reader keeps checking the early slice while the pool grows.
	stop := make(chan struct{})
	readerErr := make(chan error, 1)
	var reads atomic.Int64
	go func() {
		for {
			select {
			case <-stop:
				readerErr <- nil
				return
			default:
			}
			if i := checkFill(early, 0); i >= 0 {
				readerErr <- errors.New("early slice changed during Grow")
				return
			}
			if b := m.Bytes(); &b[0] != base || int64(len(b))%testChunk != 0 {
				readerErr <- errors.New("Bytes moved or has a partial chunk")
				return
			}
			reads.Add(1)
		}
	}()

	for c := int64(1); c < chunks; c++ {
		if err := m.Grow((c + 1) * testChunk); err != nil {
			t.Fatal(err)
		}
		if err := m.Fault(c); err != nil {
			t.Fatal(err)
		}
		b := m.Bytes()
		if &b[0] != base {
			t.Fatalf("after Grow to %d chunks the base moved", c+1)
		}
		fill(b[c*testChunk:], c)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != (c+1)*testChunk {
			t.Fatalf("after Grow to %d chunks the file has %d bytes", c+1, fi.Size())
		}
	}
	close(stop)
	if err := <-readerErr; err != nil {
		t.Fatal(err)
	}
	if reads.Load() == 0 {
		t.Error("the reader never ran")
	}
	if m.Size() != chunks*testChunk || len(m.Bytes()) != chunks*testChunk {
		t.Fatalf("Size %d len(Bytes) %d, want %d", m.Size(), len(m.Bytes()), chunks*testChunk)
	}
	for c := range int64(chunks) {
		if i := checkFill(m.Bytes()[c*testChunk:(c+1)*testChunk], c); i >= 0 {
			t.Fatalf("chunk %d byte %d lost", c, i)
		}
	}
	if i := checkFill(early, 0); i >= 0 {
		t.Fatalf("early slice byte %d changed", i)
	}
}

func TestGrowArguments(t *testing.T) {
	m := mustOpen(t, poolPath(t), Options{Size: testChunk, ChunkSize: testChunk, MaxSize: 4 * testChunk})
	if len(m.Region()) != 4*testChunk {
		t.Fatalf("reservation %d bytes, want MaxSize %d", len(m.Region()), 4*testChunk)
	}
	if err := m.Grow(testChunk + 1); err == nil {
		t.Error("Grow to a size that is not a chunk multiple succeeded")
	}
	if err := m.Grow(5 * testChunk); !errors.Is(err, ErrNoSpace) {
		t.Errorf("Grow past MaxSize: %v, want ErrNoSpace", err)
	}
	if err := m.Grow(4 * testChunk); err != nil {
		t.Fatalf("Grow to exactly MaxSize: %v", err)
	}
	if err := m.Grow(2 * testChunk); err != nil || m.Size() != 4*testChunk {
		t.Errorf("Grow to a smaller size: %v, Size %d; want a no-op", err, m.Size())
	}
}

func TestConcurrentGrowSameSize(t *testing.T) {
	m := mustOpen(t, poolPath(t), Options{Size: testChunk, ChunkSize: testChunk})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- m.Grow(8 * testChunk) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if m.Size() != 8*testChunk {
		t.Errorf("Size %d, want %d", m.Size(), 8*testChunk)
	}
}

// A file whose size is not a chunk multiple: the tail is mapped but not part
// of the pool until Grow, which keeps its bytes.
func TestOpenUnalignedTail(t *testing.T) {
	path := poolPath(t)
	data := make([]byte, 3*testChunk+10000)
	for i := range data {
		data[i] = byte(i % 253)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	m := mustOpen(t, path, Options{ChunkSize: testChunk})
	if m.Created() || m.Size() != 3*testChunk {
		t.Fatalf("Created %v Size %d, want false and %d", m.Created(), m.Size(), 3*testChunk)
	}
	if err := m.Grow(4 * testChunk); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Bytes()[:len(data)], data) {
		t.Fatal("bytes of an existing file changed across Grow")
	}
	if tail := m.Bytes()[len(data):]; !bytes.Equal(tail, make([]byte, len(tail))) {
		t.Fatal("the grown range does not read as zeros")
	}
}

func TestLocking(t *testing.T) {
	path := poolPath(t)
	o := Options{Size: testChunk, ChunkSize: testChunk}
	ro := o
	ro.ReadOnly = true

	w, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, o); !errors.Is(err, ErrLocked) {
		t.Errorf("second writer: %v, want ErrLocked", err)
	}
	if _, err := Open(path, ro); !errors.Is(err, ErrLocked) {
		t.Errorf("reader while a writer holds the pool: %v, want ErrLocked", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	w = mustOpen(t, path, o)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	r1 := mustOpen(t, path, ro)
	r2 := mustOpen(t, path, ro)
	if !bytes.Equal(r1.Bytes(), r2.Bytes()) {
		t.Error("two readers see different bytes")
	}
	if _, err := Open(path, o); !errors.Is(err, ErrLocked) {
		t.Errorf("writer while readers hold the pool: %v, want ErrLocked", err)
	}
}

func TestSyncPolicy(t *testing.T) {
	dirs := map[string]string{"TempDir": t.TempDir()}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		dir, err := os.MkdirTemp("/dev/shm", "daxmap-test-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		dirs["shm"] = dir
	}
	for name, dir := range dirs {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, "pool")
			m := mustOpen(t, path, Options{Size: testChunk, ChunkSize: testChunk, Sync: SyncNever})
			if m.MapSync() {
				t.Error("SyncNever gave MapSync() = true")
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			// MAP_SYNC is granted exactly on files the kernel accesses
			// with DAX.
			dax := fileIsDAX(t, path)

			m, err := Open(path, Options{ChunkSize: testChunk, Sync: SyncRequire})
			switch {
			case !dax && !errors.Is(err, ErrDAXUnsupported):
				t.Errorf("SyncRequire on a file without DAX: %v, want ErrDAXUnsupported", err)
			case dax && err != nil:
				t.Errorf("SyncRequire on a DAX file: %v", err)
			}
			if err == nil {
				if !m.MapSync() {
					t.Error("SyncRequire gave MapSync() = false")
				}
				m.Close()
			}

			m = mustOpen(t, path, Options{ChunkSize: testChunk, Sync: SyncAuto})
			if m.MapSync() != dax {
				t.Errorf("SyncAuto: MapSync() = %v on a file with DAX %v", m.MapSync(), dax)
			}
			if err := m.Fault(0); err != nil {
				t.Fatal(err)
			}
			m.Bytes()[0] = 1
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReadOnly(t *testing.T) {
	path := poolPath(t)
	w := mustOpen(t, path, Options{Size: 2 * testChunk, ChunkSize: testChunk})
	if err := w.Fault(1); err != nil {
		t.Fatal(err)
	}
	copy(w.Bytes()[testChunk:], "hello")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	m := mustOpen(t, path, Options{ChunkSize: testChunk, ReadOnly: true})
	if !m.ReadOnly() || m.Created() || m.Size() != 2*testChunk {
		t.Fatalf("ReadOnly %v Created %v Size %d", m.ReadOnly(), m.Created(), m.Size())
	}
	if got := string(m.Bytes()[testChunk : testChunk+5]); got != "hello" {
		t.Errorf("read %q, want hello", got)
	}
	if err := m.Grow(4 * testChunk); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Grow: %v, want ErrReadOnly", err)
	}
	if err := m.Fault(0); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Fault: %v, want ErrReadOnly", err)
	}
	if err := m.Punch(0); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Punch: %v, want ErrReadOnly", err)
	}
	if err := m.Sync(); err != nil {
		t.Errorf("Sync: %v", err)
	}
	// A write through a read-only mapping faults; Guard turns it into an
	// error.
	write := func() (err error) {
		defer m.Guard(debug.SetPanicOnFault(true), &err)
		m.Bytes()[10] = 1
		return nil
	}
	if err := write(); !errors.Is(err, ErrFault) {
		t.Errorf("write to a read-only map: %v, want ErrFault", err)
	}
}

func TestReadOnlyEmptyFile(t *testing.T) {
	path := poolPath(t)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	m := mustOpen(t, path, Options{ReadOnly: true, ChunkSize: testChunk})
	if !m.Created() || m.Size() != 0 || len(m.Bytes()) != 0 {
		t.Errorf("Created %v Size %d; want true and 0", m.Created(), m.Size())
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("a read-only Open changed the file: %v %v", fi.Size(), err)
	}
}

func TestCloseIdempotent(t *testing.T) {
	path := poolPath(t)
	m, err := Open(path, Options{Size: testChunk, ChunkSize: testChunk})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Fault(0); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := m.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if len(m.Bytes()) != 0 || m.Region() != nil || m.Size() != 0 {
		t.Error("the mapping is still visible after Close")
	}
	if err := m.Grow(2 * testChunk); !errors.Is(err, ErrClosed) {
		t.Errorf("Grow after Close: %v, want ErrClosed", err)
	}
	if err := m.Fault(0); !errors.Is(err, ErrClosed) {
		t.Errorf("Fault of a backed chunk after Close: %v, want ErrClosed", err)
	}
	if err := m.Sync(); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync after Close: %v, want ErrClosed", err)
	}
	// The lock is gone: a new handle opens.
	mustOpen(t, path, Options{ChunkSize: testChunk})
}

// Creating a pool syncs its directory; with a relative path that is ".".
func TestOpenRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	m := mustOpen(t, "pool", Options{Size: testChunk, ChunkSize: testChunk})
	if !m.Created() {
		t.Error("Created() = false")
	}
}

// An Open that fails after extending a new file leaves it empty, so that the
// next Open still sees a pool to format.
func TestFailedOpenLeavesFileEmpty(t *testing.T) {
	path := poolPath(t)
	m, err := Open(path, Options{Size: 4 * testChunk, ChunkSize: testChunk, Sync: SyncRequire})
	if err == nil {
		m.Close()
		t.Skip("this filesystem grants MAP_SYNC")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 0 {
		t.Errorf("failed Open left a %d-byte file", fi.Size())
	}
	m = mustOpen(t, path, Options{Size: 4 * testChunk, ChunkSize: testChunk})
	if !m.Created() || m.Size() != 4*testChunk {
		t.Errorf("next Open: Created %v Size %d, want true and %d", m.Created(), m.Size(), 4*testChunk)
	}
}

func TestReserveAligned(t *testing.T) {
	for _, align := range []int64{2 << 20, 1 << 30} {
		p, err := reserveAligned(4<<20, align)
		if err != nil {
			t.Fatal(err)
		}
		if a := int64(addrOf(p)); a%align != 0 {
			t.Errorf("reservation at %#x is not aligned to %d", a, align)
		}
		if err := release(p, 4<<20); err != nil {
			t.Error(err)
		}
	}
}

// zeroPrefix decides Created for device DAX.
func TestZeroPrefix(t *testing.T) {
	m := mustOpen(t, poolPath(t), Options{Size: testChunk, ChunkSize: testChunk})
	if err := m.Fault(0); err != nil {
		t.Fatal(err)
	}
	m.Bytes()[4096] = 1 // past the prefix
	if zero, err := m.zeroPrefix(4096); err != nil || !zero {
		t.Errorf("zeroPrefix = %v, %v; want true", zero, err)
	}
	m.Bytes()[4095] = 1
	if zero, err := m.zeroPrefix(4096); err != nil || zero {
		t.Errorf("zeroPrefix = %v, %v; want false", zero, err)
	}
}

// TestHolesOfASparsePool: a new pool is one hole; a page written through
// the mapping is data, and the holes are what is left around it.
func TestHolesOfASparsePool(t *testing.T) {
	m := mustOpen(t, poolPath(t), Options{Size: 16 * testChunk, ChunkSize: testChunk})
	hs, err := m.Holes()
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) == 0 {
		t.Skip("this filesystem reports no holes")
	}
	page := int64(os.Getpagesize())
	at := 5*testChunk + 3*page
	m.Bytes()[at+10] = 1
	hs, err = m.Holes()
	if err != nil {
		t.Fatal(err)
	}
	var zeros int64
	for _, h := range hs {
		if h.Off < at+page && at < h.End() {
			t.Fatalf("hole %+v covers the written page at %d", h, at)
		}
		zeros += h.Len
	}
	if size := m.Size(); zeros < size-64*page || zeros > size-page {
		t.Fatalf("holes of %d bytes in a %d-byte pool with one page written: %+v", zeros, size, hs)
	}
}

// TestGrowRefusesATruncatedFile: when another program has truncated the
// pool below its mapping, Grow fails with ErrFault instead of extending the
// file again, which would turn the lost bytes into zeros read as free
// space.
func TestGrowRefusesATruncatedFile(t *testing.T) {
	path := poolPath(t)
	m := mustOpen(t, path, Options{Size: 4 * testChunk, ChunkSize: testChunk})
	if err := os.Truncate(path, testChunk); err != nil {
		t.Fatal(err)
	}
	if err := m.Grow(8 * testChunk); !errors.Is(err, ErrFault) {
		t.Fatalf("Grow of a truncated pool: %v, want ErrFault", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != testChunk {
		t.Fatalf("the file was extended again: %v, %v", fi.Size(), err)
	}
}

func TestLockWait(t *testing.T) {
	path := poolPath(t)
	o := Options{Size: testChunk, ChunkSize: testChunk}
	w := mustOpen(t, path, o)
	_, err := Open(path, o)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "held by this process") {
		t.Errorf("second writer: %v, want ErrLocked naming this process", err)
	}
	// A waiter gets the pool once the holder closes it.
	go func() {
		time.Sleep(100 * time.Millisecond)
		w.Close()
	}()
	o.LockWait = 5 * time.Second
	start := time.Now()
	w2, err := Open(path, o)
	if err != nil {
		t.Fatalf("waiting writer: %v", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("waiting writer got the pool after %v, before the holder closed it", d)
	}
	// A waiter that runs out of time fails with ErrLocked.
	o.LockWait = 60 * time.Millisecond
	start = time.Now()
	if _, err := Open(path, o); !errors.Is(err, ErrLocked) {
		t.Errorf("writer waiting 60ms on a held pool: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("gave up after %v, before its 60ms", d)
	}
	w2.Close()
}

func TestLockHolders(t *testing.T) {
	// A file this process holds, through a second descriptor.
	path := poolPath(t)
	m := mustOpen(t, path, Options{Size: testChunk, ChunkSize: testChunk})
	defer m.Close()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	asking, err := os.Open(path) // the descriptor of an Open that asks
	if err != nil {
		t.Fatal(err)
	}
	defer asking.Close()
	dev, ino := uint64(st.Dev), st.Ino
	file := lockTableFile(dev, ino)
	table := filepath.Join(t.TempDir(), "locks")
	write := func(lines string) {
		if err := os.WriteFile(table, []byte(lines), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The taker's pid, with the file open: named.
	write(fmt.Sprintf("1: POSIX  ADVISORY  WRITE 77 %s 0 EOF\n2: FLOCK  ADVISORY  WRITE %d %s 0 EOF\n2: -> FLOCK  ADVISORY  WRITE 99 %s 0 EOF\n",
		file, os.Getpid(), file, file))
	if got := lockHolders(table, dev, ino); got != "held by this process" {
		t.Errorf("lockHolders = %q, want this process", got)
	}
	// A taker that is gone (a pid no process has), or hidden (0): whoever
	// has the file open is named instead.
	for _, pid := range []int{4194400, 0} {
		write(fmt.Sprintf("1: FLOCK  ADVISORY  WRITE %d %s 0 EOF\n", pid, file))
		if got := lockHolders(table, dev, ino); got != "held by this process" {
			t.Errorf("taker %d: lockHolders = %q, want this process, which has the file open", pid, got)
		}
	}
	// Only the asking descriptor open here: no one to name.
	m.Close()
	write(fmt.Sprintf("1: FLOCK  ADVISORY  WRITE 4194400 %s 0 EOF\n", file))
	if got := lockHolders(table, dev, ino); got != "" {
		t.Errorf("lockHolders with no holder left = %q, want empty", got)
	}
	if got := lockHolders(filepath.Join(t.TempDir(), "none"), dev, ino); got != "" {
		t.Errorf("lockHolders without a table = %q", got)
	}
	if got := lockTableFile(unix.Mkdev(0x103, 2), 5678); got != "103:02:5678" {
		t.Errorf("lockTableFile of a 3-digit major = %q", got)
	}
}
