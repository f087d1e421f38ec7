//go:build !linux

package daxmap

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"
	"unsafe"
)

// errOS is what every system call of this package returns off Linux: the
// store relies on flock, fallocate, MAP_FIXED reservations and MAP_SYNC as
// Linux defines them.
var errOS = fmt.Errorf("daxkv: %s is not supported: %w", runtime.GOOS, errors.ErrUnsupported)

type fileStat struct {
	size       int64
	blocks     int64
	dev, ino   uint64
	regular    bool
	charDevice bool
	major      uint32
	minor      uint32
	fsMajor    uint32
	fsMinor    uint32
}

func openFile(path string, readOnly bool, perm os.FileMode) (int, bool, error) {
	return -1, false, errOS
}

func statFD(fd int) (fileStat, error)                          { return fileStat{}, errOS }
func lockFile(fd int, readOnly bool, wait time.Duration) error { return errOS }
func unlockFile(fd int) error                                  { return errOS }
func samePath(path string, fd int) bool                        { return false }
func closeFD(fd int) error                                     { return errOS }
func truncateFD(fd int, size int64) error                      { return errOS }
func datasyncFD(fd int) error                                  { return errOS }
func syncDir(path string) error                                { return errOS }
func allocate(fd int, off, n int64) error                      { return errOS }
func punchHole(fd int, off, n int64) error                     { return errOS }
func isNotSupported(err error) bool                            { return false }
func isNoSpace(err error) bool                                 { return false }
func reserve(n uintptr) (unsafe.Pointer, error)                { return nil, errOS }
func release(p unsafe.Pointer, n uintptr) error                { return errOS }
func mapZeros(at unsafe.Pointer, n uintptr) error              { return errOS }
func isSyncRefused(err error) bool                             { return false }
func mapShared(fd int, off int64, at unsafe.Pointer, n uintptr, readOnly, mapSync bool) error {
	return errOS
}
func dirtyBytes(fd int) (int64, error)     { return 0, errOS }
func fileExtents(fd int) ([]extent, error) { return nil, errOS }
func protectNone(b []byte) error           { return errOS }
func populateRead(b []byte) error          { return errOS }

func probeSync(fd int, n int) error { return errOS }

func holes(int, int64) ([]Range, error) { return nil, errOS }

func hasData(int, int64, int64) bool { return true }

func willNeed([]byte) {}

func inMemoryFS(int) bool          { return true }
func writeZeros(int, int64, int64) {}

func pwrite(int, []byte, int64) (int, error) { return 0, errOS }
func overwritesInPlace(int) bool             { return false }
func reopenFD(int) int                       { return -1 }
func isFileTooLarge(error) bool              { return false }
