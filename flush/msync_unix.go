//go:build unix

package flush

import "golang.org/x/sys/unix"

// msync writes the mapped pages of b back to the file and waits for the
// write to complete. b starts on a page boundary.
func msync(b []byte) error {
	return unix.Msync(b, unix.MS_SYNC)
}
