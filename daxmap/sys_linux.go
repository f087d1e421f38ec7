//go:build linux

package daxmap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fileStat is what Open needs to know about the file behind a descriptor.
type fileStat struct {
	size       int64
	blocks     int64  // 512-byte blocks allocated (st_blocks)
	dev, ino   uint64 // the pool's identity in the stripe hash
	regular    bool
	charDevice bool
	major      uint32 // of the character device, for sysfs
	minor      uint32
	fsMajor    uint32 // of the filesystem's block device, for sysfs
	fsMinor    uint32
}

// openFile opens path read-write (creating it with perm if it does not
// exist) or read-only, and reports whether this call created it.
func openFile(path string, readOnly bool, perm os.FileMode) (fd int, created bool, err error) {
	const flags = unix.O_CLOEXEC
	if readOnly {
		fd, err = ignoringEINTR(func() (int, error) { return unix.Open(path, flags|unix.O_RDONLY, 0) })
		if err != nil {
			return -1, false, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, false, nil
	}
	// O_EXCL first, so that "created" is exact; if the file appears or
	// disappears between the two calls, try again.
	for range 3 {
		fd, err = ignoringEINTR(func() (int, error) {
			return unix.Open(path, flags|unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, uint32(perm.Perm()))
		})
		if err == nil {
			return fd, true, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			break
		}
		fd, err = ignoringEINTR(func() (int, error) { return unix.Open(path, flags|unix.O_RDWR, 0) })
		if err == nil {
			return fd, false, nil
		}
		if !errors.Is(err, unix.ENOENT) {
			break
		}
	}
	return -1, false, &os.PathError{Op: "open", Path: path, Err: err}
}

// statFD describes the file open as fd.
func statFD(fd int) (fileStat, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fileStat{}, fmt.Errorf("fstat: %w", err)
	}
	mode := st.Mode & unix.S_IFMT
	return fileStat{
		size:       st.Size,
		blocks:     st.Blocks,
		dev:        uint64(st.Dev),
		ino:        st.Ino,
		regular:    mode == unix.S_IFREG,
		charDevice: mode == unix.S_IFCHR,
		major:      unix.Major(uint64(st.Rdev)),
		minor:      unix.Minor(uint64(st.Rdev)),
		fsMajor:    unix.Major(uint64(st.Dev)),
		fsMinor:    unix.Minor(uint64(st.Dev)),
	}, nil
}

// lockFile takes a flock: shared for a reader, exclusive for a writer.
// flock locks belong to the open file description, so two Opens in one
// process conflict just like two processes do. While another handle holds
// a conflicting lock it retries every 20 ms for up to wait (0: not at
// all); then it fails with ErrLocked, naming the holders it can find.
func lockFile(fd int, readOnly bool, wait time.Duration) error {
	how := unix.LOCK_EX
	if readOnly {
		how = unix.LOCK_SH
	}
	deadline := time.Now().Add(wait)
	for {
		_, err := ignoringEINTR(func() (int, error) { return 0, unix.Flock(fd, how|unix.LOCK_NB) })
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("flock: %w", err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			var st unix.Stat_t
			if unix.Fstat(fd, &st) == nil {
				return &lockedError{lockHolders("/proc/locks", uint64(st.Dev), st.Ino)}
			}
			return ErrLocked
		}
		time.Sleep(min(left, 20*time.Millisecond))
	}
}

// lockHolders names the processes that hold a flock on the file (dev, ino)
// according to the kernel's lock table at path (/proc/locks): "held by
// process 1234 (daxkv)", or "" when it cannot tell. The table gives the
// pid of the process that took the lock, which may have exited since
// (the lock lives with the open file, which a child may have inherited),
// or 0 where the owner is not visible: a pid is named only when that
// process has the file open; otherwise the processes that do are named,
// as far as /proc shows them. A lock taken in this very process is named
// as such.
func lockHolders(path string, dev, ino uint64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	// A line: "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF", the
	// device as hexadecimal major:minor. Lines starting "->" are waiters.
	want := lockTableFile(dev, ino)
	var pids []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[1] == "FLOCK" && f[5] == want && f[4] != "0" && !slices.Contains(pids, f[4]) && hasOpen(f[4], dev, ino) {
			pids = append(pids, f[4])
		}
	}
	if len(pids) == 0 {
		// The taker is gone or hidden: whoever has the file open holds it.
		if dirs, err := os.ReadDir("/proc"); err == nil {
			for _, d := range dirs {
				if _, err := strconv.Atoi(d.Name()); err == nil && hasOpen(d.Name(), dev, ino) {
					if pids = append(pids, d.Name()); len(pids) == 3 {
						break
					}
				}
			}
		}
	}
	var who []string
	for _, pid := range pids {
		if pid == strconv.Itoa(os.Getpid()) {
			who = append(who, "this process")
			continue
		}
		name, _ := os.ReadFile("/proc/" + pid + "/comm")
		if n := strings.TrimSpace(string(name)); n != "" {
			who = append(who, fmt.Sprintf("process %s (%s)", pid, n))
		} else {
			who = append(who, "process "+pid)
		}
	}
	if len(who) == 0 {
		return ""
	}
	return "held by " + strings.Join(who, ", ")
}

// lockTableFile is how /proc/locks names the file (dev, ino): major and
// minor in hexadecimal, at least two digits each, and the inode.
func lockTableFile(dev, ino uint64) string {
	return fmt.Sprintf("%02x:%02x:%d", unix.Major(dev), unix.Minor(dev), ino)
}

// hasOpen reports whether process pid has the file (dev, ino) open, as far
// as its /proc/pid/fd shows (another user's processes hide theirs). This
// process, whose Open is asking, must have it open twice: once for the
// asking descriptor, once for the holder.
func hasOpen(pid string, dev, ino uint64) bool {
	fds, err := os.ReadDir("/proc/" + pid + "/fd")
	if err != nil {
		return false
	}
	need := 1
	if pid == strconv.Itoa(os.Getpid()) {
		need = 2
	}
	for _, fd := range fds {
		var st unix.Stat_t
		if unix.Stat("/proc/"+pid+"/fd/"+fd.Name(), &st) == nil && uint64(st.Dev) == dev && st.Ino == ino {
			if need--; need == 0 {
				return true
			}
		}
	}
	return false
}

// samePath reports whether path still names the file open at fd.
func samePath(path string, fd int) bool {
	var a, b unix.Stat_t
	return unix.Stat(path, &a) == nil && unix.Fstat(fd, &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino
}

// unlockFile drops the flock taken by lockFile.
func unlockFile(fd int) error {
	if err := unix.Flock(fd, unix.LOCK_UN); err != nil {
		return fmt.Errorf("flock unlock: %w", err)
	}
	return nil
}

// closeFD closes fd. EINTR is not retried: on Linux the descriptor is gone
// either way.
func closeFD(fd int) error {
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// truncateFD sets the file's size; growing it leaves a hole.
func truncateFD(fd int, size int64) error {
	_, err := ignoringEINTR(func() (int, error) { return 0, unix.Ftruncate(fd, size) })
	if errors.Is(err, unix.EFBIG) || errors.Is(err, unix.ENOSPC) {
		return fmt.Errorf("%w: ftruncate to %d: %w", ErrNoSpace, size, err)
	}
	if err != nil {
		return fmt.Errorf("ftruncate to %d: %w", size, err)
	}
	return nil
}

// datasyncFD makes the file's data and the metadata needed to read it (its
// size, its block map) durable.
func datasyncFD(fd int) error {
	_, err := ignoringEINTR(func() (int, error) { return 0, unix.Fdatasync(fd) })
	if err != nil {
		return fmt.Errorf("fdatasync: %w", err)
	}
	return nil
}

// syncDir makes the directory entry of a newly created path durable.
func syncDir(path string) error {
	dir := filepath.Dir(path)
	fd, err := ignoringEINTR(func() (int, error) {
		return unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	_, err = ignoringEINTR(func() (int, error) { return 0, unix.Fsync(fd) })
	cerr := unix.Close(fd)
	if err != nil {
		return &os.PathError{Op: "fsync", Path: dir, Err: err}
	}
	if cerr != nil {
		return &os.PathError{Op: "close", Path: dir, Err: cerr}
	}
	return nil
}

// allocate gives [off, off+n) of the file real blocks without changing its
// size (fallocate mode FALLOC_FL_KEEP_SIZE).
func allocate(fd int, off, n int64) error {
	_, err := ignoringEINTR(func() (int, error) { return 0, unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, off, n) })
	return err
}

// punchHole frees the blocks of [off, off+n) without changing the file's
// size; the range reads as zeros afterwards.
func punchHole(fd int, off, n int64) error {
	_, err := ignoringEINTR(func() (int, error) {
		return 0, unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	})
	return err
}

// isNotSupported reports whether err is the kernel declining an operation
// the filesystem does not implement.
func isNotSupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS)
}

// isNoSpace reports whether err means the filesystem is full.
func isNoSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) || errors.Is(err, unix.EFBIG)
}

// reserve maps n bytes of inaccessible, unbacked address space: nothing is
// committed, nothing can be touched until a file is mapped over it.
func reserve(n uintptr) (unsafe.Pointer, error) {
	p, err := unix.MmapPtr(-1, 0, nil, n, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("reserve %d bytes of address space: %w", n, err)
	}
	return p, nil
}

// release unmaps [p, p+n), whatever is mapped there.
func release(p unsafe.Pointer, n uintptr) error {
	if n == 0 {
		return nil
	}
	if err := unix.MunmapPtr(p, n); err != nil {
		return fmt.Errorf("munmap: %w", err)
	}
	return nil
}

// mapZeros maps n bytes of private, read-only zero pages at exactly
// address at (MAP_FIXED, replacing what was mapped there in one step).
// They cost no memory: every page reads the kernel's one zero page.
func mapZeros(at unsafe.Pointer, n uintptr) error {
	p, err := unix.MmapPtr(-1, 0, at, n, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED|unix.MAP_NORESERVE)
	if err != nil {
		return fmt.Errorf("mmap zero pages: %w", err)
	}
	if p != at {
		return fmt.Errorf("mmap zero pages: placed at %p, not at %p", p, at)
	}
	return nil
}

// mapShared maps n bytes of fd from offset off at exactly address at
// (MAP_FIXED, replacing the reservation there), shared, readable and, unless
// readOnly, writable. With mapSync it asks for MAP_SHARED_VALIDATE|MAP_SYNC;
// isSyncRefused tells a refusal of that from other errors.
func mapShared(fd int, off int64, at unsafe.Pointer, n uintptr, readOnly, mapSync bool) error {
	prot := unix.PROT_READ | unix.PROT_WRITE
	if readOnly {
		prot = unix.PROT_READ
	}
	flags := unix.MAP_SHARED | unix.MAP_FIXED
	if mapSync {
		flags = unix.MAP_SHARED_VALIDATE | unix.MAP_SYNC | unix.MAP_FIXED
	}
	p, err := unix.MmapPtr(fd, off, at, n, prot, flags)
	if err != nil {
		return err
	}
	if p != at {
		// MAP_FIXED never places the mapping elsewhere; this would mean the
		// reservation is no longer ours.
		panic(fmt.Sprintf("daxkv: assertion failed: MAP_FIXED mapped at %p, not %p", p, at))
	}
	if !mapSync {
		// No read-around: a fault reads its own page only. Read-around
		// builds the page cache's folios larger as a reader goes on (up to
		// 2 MiB on a filesystem that caches files in large folios, as ext4
		// does on recent kernels), and a store dirties, and an msync
		// writes, its whole folio: 20 KiB of records an msync grew to about
		// 1 MiB written. Single pages keep what an msync writes to the
		// pages stored to. A sequential reader asks for its range ahead
		// instead (Map.WillNeed), which reads in single pages too. An
		// advice: a kernel that refuses it costs speed, not correctness.
		_ = unix.Madvise(unsafe.Slice((*byte)(at), n), unix.MADV_RANDOM)
	}
	return nil
}

// willNeed asks the kernel to read b in ahead (MADV_WILLNEED), ignoring
// errors: an advice.
func willNeed(b []byte) { _ = unix.Madvise(b, unix.MADV_WILLNEED) }

// isSyncRefused reports whether a mapShared error with mapSync is the kernel
// refusing MAP_SYNC for this file: EOPNOTSUPP from a filesystem without DAX,
// EINVAL from a kernel that predates MAP_SHARED_VALIDATE.
func isSyncRefused(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)
}

// ignoringEINTR calls fn until it does not fail with EINTR.
func ignoringEINTR(fn func() (int, error)) (int, error) {
	for {
		n, err := fn()
		if !errors.Is(err, unix.EINTR) {
			return n, err
		}
	}
}

// dirtyBytes returns the bytes of the file's page cache that are dirty or
// under write-back (cachestat, Linux 6.5 and later): written through the
// mapping but not yet durable.
func dirtyBytes(fd int) (int64, error) {
	var st unix.Cachestat_t
	if err := unix.Cachestat(uint(fd), &unix.CachestatRange{}, &st, 0); err != nil {
		return 0, fmt.Errorf("cachestat: %w", err)
	}
	return int64(st.Dirty+st.Writeback) * int64(os.Getpagesize()), nil
}

// fileExtents lists where the file's bytes lie on its block device
// (FS_IOC_FIEMAP), to place the device's bad blocks in the pool.
func fileExtents(fd int) ([]extent, error) {
	const (
		fsIocFiemap = 0xC020660B
		batch       = 256
		extentLast  = 1 // FIEMAP_EXTENT_LAST
		fiemapSync  = 1 // FIEMAP_FLAG_SYNC: delayed allocations get their blocks first
	)
	type fiemapExtent struct {
		Logical, Physical, Length uint64
		_                         [2]uint64
		Flags                     uint32
		_                         [3]uint32
	}
	type fiemap struct {
		Start, Length                  uint64
		Flags, Mapped, Count, reserved uint32
		Extents                        [batch]fiemapExtent
	}
	var out []extent
	fm := new(fiemap)
	for start := uint64(0); ; {
		*fm = fiemap{Start: start, Length: ^uint64(0) - start, Flags: fiemapSync, Count: batch}
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), fsIocFiemap, uintptr(unsafe.Pointer(fm))); e != 0 {
			return nil, fmt.Errorf("fiemap: %w", e)
		}
		if fm.Mapped == 0 {
			return out, nil
		}
		for _, x := range fm.Extents[:fm.Mapped] {
			out = append(out, extent{int64(x.Logical), int64(x.Physical), int64(x.Length)})
			start = x.Logical + x.Length
			if x.Flags&extentLast != 0 {
				return out, nil
			}
		}
	}
}

// protectNone makes b inaccessible: any access faults.
func protectNone(b []byte) error { return unix.Mprotect(b, unix.PROT_NONE) }

// probeSync maps the first n bytes of fd read-only with MAP_SYNC and
// unmaps them again: nil when the kernel grants it.
func probeSync(fd int, n int) error {
	b, err := unix.Mmap(fd, 0, n, unix.PROT_READ, unix.MAP_SHARED_VALIDATE|unix.MAP_SYNC)
	if err != nil {
		if isSyncRefused(err) {
			return fmt.Errorf("%w: mmap MAP_SHARED_VALIDATE|MAP_SYNC: %w", ErrDAXUnsupported, err)
		}
		return fmt.Errorf("mmap: %w", err)
	}
	return unix.Munmap(b)
}

// populateRead read-faults every page of b in one call
// (madvise(MADV_POPULATE_READ), Linux 5.14).
func populateRead(b []byte) error {
	_, err := ignoringEINTR(func() (int, error) { return 0, unix.Madvise(b, unix.MADV_POPULATE_READ) })
	return err
}

// holes returns the ranges of [0, size) of the file fd that read as zeros
// without being stored (SEEK_HOLE / SEEK_DATA): never-written parts of a
// sparse file. A filesystem without the calls reports none (all data).
// Nothing past the file's end is a hole, though SEEK_HOLE reports the end
// as one: a file truncated underneath the mapping faults there, and the
// scan must read it to say so.
func holes(fd int, size int64) ([]Range, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	size = min(size, st.Size)
	var out []Range
	for off := int64(0); off < size; {
		h, err := unix.Seek(fd, off, unix.SEEK_HOLE)
		if err != nil {
			if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
				return nil, nil
			}
			return nil, err
		}
		if h >= size {
			break
		}
		d, err := unix.Seek(fd, h, unix.SEEK_DATA)
		switch {
		case errors.Is(err, unix.ENXIO): // no data after h: a hole to the end
			d = size
		case err != nil:
			return nil, err
		}
		d = min(d, size)
		out = append(out, Range{Off: h, Len: d - h})
		off = d
	}
	return out, nil
}

// hasData reports whether [off, off+n) of the file fd holds data: SEEK_DATA
// from off lands before off+n. True when the call fails for any reason but
// ENXIO (no data past off), so that a caller never takes data for a hole.
func hasData(fd int, off, n int64) bool {
	d, err := unix.Seek(fd, off, unix.SEEK_DATA)
	if errors.Is(err, unix.ENXIO) {
		return false
	}
	return err != nil || d < off+n
}

// inMemoryFS reports whether fd's file lives on tmpfs or ramfs: pages, no
// blocks and no writeback. True when fstatfs fails.
func inMemoryFS(fd int) bool {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return true
	}
	return st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC
}

// overwritesInPlace reports whether fd's file lives on a filesystem that
// overwrites a written block in place (ext4, XFS): there written zeros
// keep fallocate's promise of space. A copy-on-write filesystem (btrfs)
// writes a preallocated block in place once, and then needs new space for
// every overwrite: zeros written ahead would spend that once.
func overwritesInPlace(fd int) bool {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return false
	}
	return st.Type == unix.EXT4_SUPER_MAGIC || st.Type == unix.XFS_SUPER_MAGIC
}

// reopenFD opens fd's file again, read-write, as a new open file
// description (through /proc/self/fd, so a rename or unlink of the path
// does not matter), or returns -1.
func reopenFD(fd int) int {
	nfd, err := ignoringEINTR(func() (int, error) {
		return unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDWR|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return -1
	}
	return nfd
}

// zeroBlock is what writeZeros writes.
var zeroBlock [256 << 10]byte

// writeZeros writes zeros over [off, off+n) of fd and waits until they are
// written back (not made durable: sync_file_range), ignoring errors: fd
// must not be the mapping's open file description (see Map.zeroFD).
func writeZeros(fd int, off, n int64) {
	for a := off; a < off+n; {
		k, err := ignoringEINTR(func() (int, error) {
			return unix.Pwrite(fd, zeroBlock[:min(int64(len(zeroBlock)), off+n-a)], a)
		})
		if err != nil || k <= 0 {
			return
		}
		a += int64(k)
	}
	_, _ = ignoringEINTR(func() (int, error) {
		return 0, unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
	})
}

// isFileTooLarge reports whether err is EFBIG.
func isFileTooLarge(err error) bool { return errors.Is(err, unix.EFBIG) }

// pwrite writes b at off of fd, retried on EINTR; a short count is not an
// error (the caller writes the rest), writing nothing is.
func pwrite(fd int, b []byte, off int64) (int, error) {
	n, err := ignoringEINTR(func() (int, error) { return unix.Pwrite(fd, b, off) })
	if err == nil && n <= 0 {
		err = unix.EIO
	}
	return n, err
}
