//go:build unix

package flush

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// mapFile maps a new file of size bytes, shared and writable, and unmaps and
// removes it when the test ends. The file lives on tmpfs (/dev/shm) when
// there is one, like the store's emulated mode, else in t.TempDir().
func mapFile(tb testing.TB, size int) ([]byte, *os.File) {
	tb.Helper()
	dir := "/dev/shm"
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		dir = tb.TempDir()
	}
	f, err := os.CreateTemp(dir, "daxkv-flush-test-*")
	if err != nil {
		f, err = os.CreateTemp(tb.TempDir(), "daxkv-flush-test-*")
		if err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() {
		f.Close()
		os.Remove(f.Name())
	})
	if err := f.Truncate(int64(size)); err != nil {
		tb.Fatal(err)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := unix.Munmap(b); err != nil {
			tb.Error(err)
		}
	})
	return b, f
}
