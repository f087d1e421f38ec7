//go:build linux

package daxmap

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// diskPool returns a path for a new pool on the temporary directory's
// filesystem, skipping the test where that is tmpfs (no blocks: nothing to
// zero-fill).
func diskPool(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "daxmap-zerofill-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC {
		t.Skip("the temporary directory is on an in-memory filesystem: no blocks")
	}
	return filepath.Join(dir, "pool")
}

// unwrittenBytes returns how many bytes of [off, off+n) of the file at
// path lie in unwritten extents (FS_IOC_FIEMAP, FIEMAP_EXTENT_UNWRITTEN),
// skipping the test where the filesystem cannot say.
func unwrittenBytes(t *testing.T, path string, off, n int64) int64 {
	t.Helper()
	const (
		fsIocFiemap       = 0xC020660B
		fiemapFlagSync    = 0x1
		fiemapUnwritten   = 0x800
		extents           = 64
		headerSize        = 32
		extentSize        = 56
		extentFlagsOffset = 40
	)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, headerSize+extents*extentSize)
	binary.NativeEndian.PutUint64(buf[0:], uint64(off))
	binary.NativeEndian.PutUint64(buf[8:], uint64(n))
	binary.NativeEndian.PutUint32(buf[16:], fiemapFlagSync)
	binary.NativeEndian.PutUint32(buf[24:], extents)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fsIocFiemap, uintptr(unsafe.Pointer(&buf[0]))); errno != 0 {
		t.Skipf("FIEMAP: %v", errno)
	}
	var total int64
	for i := range int(binary.NativeEndian.Uint32(buf[20:])) {
		e := buf[headerSize+i*extentSize:]
		lo, length := int64(binary.NativeEndian.Uint64(e[0:])), int64(binary.NativeEndian.Uint64(e[16:]))
		if binary.NativeEndian.Uint32(e[extentFlagsOffset:])&fiemapUnwritten != 0 {
			total += min(lo+length, off+n) - max(lo, off)
		}
	}
	return total
}

// requireFiemap skips the test unless FIEMAP, next to path, reports a
// fallocated range as unwritten and the same range written as written
// (under qemu-user it reports every extent unwritten).
func requireFiemap(t *testing.T, path string) {
	t.Helper()
	probe := path + ".fiemap-probe"
	defer os.Remove(probe)
	f, err := os.Create(probe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, 1<<16); err != nil {
		t.Skipf("fallocate: %v", err)
	}
	if u := unwrittenBytes(t, probe, 0, 1<<16); u != 1<<16 {
		t.Skipf("FIEMAP reports %d of 65536 fallocated bytes unwritten", u)
	}
	if _, err := f.WriteAt(make([]byte, 1<<16), 0); err != nil {
		t.Fatal(err)
	}
	if u := unwrittenBytes(t, probe, 0, 1<<16); u != 0 {
		t.Skipf("FIEMAP reports %d of 65536 written bytes unwritten", u)
	}
}

// TestFaultWritesZerosOverAFreshChunk: a chunk that was a hole has no
// unwritten block once faulted in (its msyncs then convert nothing), and
// reads as zeros.
func TestFaultWritesZerosOverAFreshChunk(t *testing.T) {
	path := diskPool(t)
	requireFiemap(t, path)
	m := mustOpen(t, path, Options{Size: 4 * testChunk, ChunkSize: testChunk, Sync: SyncNever})
	for c := range int64(2) {
		if err := m.Fault(c); err != nil {
			t.Fatal(err)
		}
	}
	if u := unwrittenBytes(t, path, 0, 2*testChunk); u != 0 {
		t.Fatalf("%d bytes of two faulted-in chunks are unwritten extents, want none", u)
	}
	if !bytes.Equal(m.Bytes()[:2*testChunk], make([]byte, 2*testChunk)) {
		t.Fatal("a fresh chunk does not read as zeros")
	}
}

// TestFaultKeepsTheDataOfAChunkWithAHole: a chunk that holds data and a
// hole (a sparse copy of a pool, say) is not adopted as backed at Open, so
// Fault allocates it; it must not write zeros over it. Only a chunk with
// no data at all is zero-filled.
func TestFaultKeepsTheDataOfAChunkWithAHole(t *testing.T) {
	path := diskPool(t)
	m, err := Open(path, Options{Size: 4 * testChunk, ChunkSize: testChunk, Sync: SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("record!!"), 512) // 4 KiB
	if err := m.Fault(1); err != nil {
		t.Fatal(err)
	}
	copy(m.Bytes()[testChunk+8192:], data)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// Punch the chunk's first page: a hole beside the data.
	fd, err := unix.Open(path, unix.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, testChunk, 4096)
	unix.Close(fd)
	if err != nil {
		t.Skipf("punch: %v", err)
	}
	m = mustOpen(t, path, Options{Size: 4 * testChunk, ChunkSize: testChunk, Sync: SyncNever})
	if m.Backed(1) {
		t.Fatal("a chunk with a hole was adopted as backed")
	}
	if err := m.Fault(1); err != nil {
		t.Fatal(err)
	}
	if got := m.Bytes()[testChunk+8192 : testChunk+8192+len(data)]; !bytes.Equal(got, data) {
		t.Fatal("Fault of a chunk holding data and a hole lost the data")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[testChunk+8192:testChunk+8192+len(data)], data) {
		t.Fatal("the file lost the data after the Fault")
	}
}
