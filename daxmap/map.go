package daxmap

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/daxkv/daxkv/internal/invariants"
)

// Map is an open pool file and its mapping. Its methods are safe for
// concurrent use, except Close, which must not run while any other method
// is running or any slice from Bytes or Region is still in use.
type Map struct {
	path      string
	fd        int
	chunk     int64
	readOnly  bool
	deviceDAX bool
	mapSync   atomic.Bool // the file is mapped with MAP_SYNC; Grow maps with the same flags; changed by Remap under mu
	created   bool        // Open created the file or found it empty
	extended  bool        // Open extended an empty file (undone if Open fails)
	dev, ino  uint64      // the pool's identity in the stripe hash

	// base and region are the reservation, fixed from Open to Close.
	base   unsafe.Pointer
	region []byte

	size   atomic.Int64 // bytes of the pool visible through Bytes; only grows until Close zeroes it
	closed atomic.Bool
	backed bitmap // chunks whose blocks this handle has allocated (Fault)

	// allocate is fallocate(FALLOC_FL_KEEP_SIZE); a seam for tests.
	allocate func(fd int, off, n int64) error

	faultAlso error // Options.FaultAlso
	onBlocks  bool  // a writable regular file on a filesystem with blocks (not tmpfs or ramfs)
	// zeroFD, when not -1, is a second open file description of the pool
	// (a filesystem that overwrites in place: ext4, XFS), through which
	// Fault writes zeros over a chunk that was a hole. Not m.fd: a
	// sync_file_range there would take the report of a failed write-back
	// that the mapping's next msync must return (errors are reported once
	// per open file description).
	zeroFD int
	media  Media // what sysfs says about the memory under the pool, read at Open

	mu     sync.Mutex // protects mapped and the change of closed; serializes Grow and Close
	mapped int64      // bytes from base mapped to the file; a page multiple >= Size()
}

var _ io.Closer = (*Map)(nil)

// Open opens the pool at path, creating it if it does not exist (unless
// o.ReadOnly), locks it and maps it. A new or empty file is extended to
// o.Size, sparse, and Created reports true: the caller must format it.
// An existing file is mapped as it is, and Size reports its size rounded
// down to o.ChunkSize.
//
// If path is a device-DAX character device, the whole device is mapped once
// with MAP_SYNC; its size comes from sysfs and cannot change.
//
// Open returns an error wrapping ErrLocked when another handle holds the
// pool, and ErrDAXUnsupported when o.Sync is SyncRequire and the kernel
// refuses MAP_SYNC.
func Open(path string, o Options) (*Map, error) {
	o, err := withDefaults(o)
	if err != nil {
		return nil, err
	}
	fd, created, err := openLocked(path, o)
	if err != nil {
		return nil, err
	}
	m := &Map{
		path:      path,
		fd:        fd,
		chunk:     o.ChunkSize,
		readOnly:  o.ReadOnly,
		allocate:  allocate,
		faultAlso: o.FaultAlso,
		zeroFD:    -1,
	}
	if err := m.open(o, created); err != nil {
		if m.zeroFD >= 0 {
			_ = closeFD(m.zeroFD)
		}
		if m.region != nil {
			_ = release(m.base, uintptr(len(m.region)))
		}
		if m.extended {
			// Leave the file empty, as it was, so that the next Open
			// formats it rather than mistaking it for a pool. The lock is
			// still held here.
			_ = truncateFD(fd, 0)
		}
		// Closing the descriptor drops the lock too.
		_ = closeFD(fd)
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return m, nil
}

// openLocked opens the file at path and takes its lock, waiting up to
// o.LockWait for another handle to let it go. A file that was replaced or
// removed at path while this open waited for it is not the pool at path
// any more: it is let go, and path opened again.
func openLocked(path string, o Options) (fd int, created bool, err error) {
	deadline := time.Now().Add(o.LockWait)
	for {
		if fd, created, err = openFile(path, o.ReadOnly, o.Perm); err != nil {
			return -1, false, err
		}
		waited := time.Now()
		if err = lockFile(fd, o.ReadOnly, max(0, time.Until(deadline))); err != nil {
			_ = closeFD(fd)
			return -1, false, fmt.Errorf("open %s: %w", path, err)
		}
		if time.Since(waited) < time.Millisecond || samePath(path, fd) {
			return fd, created, nil
		}
		_ = closeFD(fd) // drops the lock
	}
}

// open does the work of Open after the file is open; on error the caller
// releases the reservation (if region is set) and the descriptor.
func (m *Map) open(o Options, created bool) error {
	st, err := statFD(m.fd)
	if err != nil {
		return err
	}
	m.dev, m.ino = st.dev, st.ino
	switch {
	case st.charDevice:
		err = m.openDeviceDAX(o, st)
	case st.regular:
		err = m.openFile(o, st, created)
	default:
		err = errors.New("daxkv: pool is neither a regular file nor a device-DAX character device")
	}
	if err != nil {
		return err
	}
	m.backed = newBitmap(int64(len(m.region)) / m.chunk)
	if st.regular && !o.ReadOnly {
		m.adoptAllocated()
		m.onBlocks = !inMemoryFS(m.fd)
		if m.onBlocks && overwritesInPlace(m.fd) {
			m.zeroFD = reopenFD(m.fd) // -1 when it cannot: no zero-fill
		}
	}
	m.media = m.readMedia(st)
	return nil
}

// readMedia reads what sysfs says about the persistent memory under the
// pool: its region, persistence domain, unsafe shutdowns and bad blocks,
// placed in the pool with the file's extent map.
func (m *Map) readMedia(st fileStat) Media {
	if st.charDevice {
		md := readMedia(sysRoot, filepath.Join(sysRoot, "dev", "char", fmt.Sprintf("%d:%d", st.major, st.minor)), nil, true)
		md.Bad = clipRanges(md.Bad, int64(len(m.region)))
		return md
	}
	dev := filepath.Join(sysRoot, "dev", "block", fmt.Sprintf("%d:%d", st.fsMajor, st.fsMinor))
	if regionOf(dev) == "" {
		return Media{UnsafeShutdowns: -1} // not on persistent memory the kernel knows
	}
	ext, err := fileExtents(m.fd)
	if err != nil {
		ext = []extent{} // the bad blocks cannot be placed in the pool
	}
	return readMedia(sysRoot, dev, ext, false)
}

// Media returns what the kernel reported at Open about the persistent
// memory under the pool (sysfs): its persistence domain, unsafe-shutdown
// count and the pool's ranges on known bad blocks. Empty for a pool that is
// not on persistent memory.
func (m *Map) Media() Media { return m.media }

// OnBlocks reports whether the pool is a file on a filesystem with blocks
// and writeback (not tmpfs or ramfs, not device DAX), mapped without
// MAP_SYNC: where a page written back is write-protected again.
func (m *Map) OnBlocks() bool { return m.onBlocks && !m.mapSync.Load() }

// ZeroFills reports whether Fault writes zeros over a fresh chunk (a file
// on ext4 or XFS, mapped without MAP_SYNC): faulting a chunk in then costs
// a chunk's worth of writes to the device.
func (m *Map) ZeroFills() bool { return m.zeroFD >= 0 && !m.mapSync.Load() }

// WriteAt writes b at off of the pool file with pwrite, all of it or an
// error: the mapping reads the bytes at once (the same page-cache pages),
// and Sync or an msync of the range makes them durable. EFBIG, the
// process's file-size limit (RLIMIT_FSIZE), which pwrite obeys at any
// offset and a store through the mapping does not, is an error wrapping
// errors.ErrUnsupported: the caller stores instead. Any other error wraps
// ErrFault (the pages could not take the bytes, as a store would have
// faulted); ErrClosed after Close.
func (m *Map) WriteAt(b []byte, off int64) error {
	if m.closed.Load() {
		return ErrClosed
	}
	if off < 0 || off+int64(len(b)) > m.Size() {
		return fmt.Errorf("daxkv: write of %d bytes at %d of %s: outside the pool's %d bytes", len(b), off, m.path, m.Size())
	}
	for len(b) > 0 {
		n, err := pwrite(m.fd, b, off)
		switch {
		case isFileTooLarge(err):
			return fmt.Errorf("%w: write at %d of %s: %w", errors.ErrUnsupported, off, m.path, err)
		case err != nil:
			return fmt.Errorf("%w: write at %d of %s: %w", ErrFault, off, m.path, err)
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// WillNeed asks the kernel to read [off, off+n) of the pool in ahead, in
// the background. A page-cache mapping reads no page around a fault (see
// mapShared), so a sequential reader, such as the recovery scan, asks for
// what it reads next. A no-op on device DAX, with MAP_SYNC, outside the
// pool and after Close.
func (m *Map) WillNeed(off, n int64) {
	if m.deviceDAX || m.mapSync.Load() || m.closed.Load() {
		return
	}
	off, end := max(off, 0), min(off+n, m.Size())
	if off >= end {
		return
	}
	page := int64(os.Getpagesize())
	off = off / page * page
	willNeed(m.region[off:end])
}

// Holes returns the ranges of the pool that read as zeros because they
// were never written (the file's holes, from SEEK_HOLE/SEEK_DATA), sorted:
// a scan for records can pass over them. None for a device-DAX pool, or
// where the filesystem does not say. Holes are page aligned; a range the
// filesystem is unsure of is reported as data.
func (m *Map) Holes() ([]Range, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if m.deviceDAX {
		return nil, nil
	}
	return holes(m.fd, m.Size())
}

// Poison makes every access to the page holding pool offset off fault, as
// a bad block of persistent memory does (SIGBUS there; a SIGSEGV here,
// which Guard and Catch treat alike). It is for tests of media errors: the
// page stays inaccessible until Close.
func (m *Map) Poison(off int64) error {
	page := int64(os.Getpagesize())
	if off < 0 || off >= m.Size() {
		return fmt.Errorf("daxkv: poison %s at %d: outside the pool", m.path, off)
	}
	lo := off / page * page
	return protectNone(m.region[lo : lo+page])
}

// openFile maps a regular pool file.
func (m *Map) openFile(o Options, st fileStat, created bool) error {
	fileSize := st.size
	if fileSize == 0 {
		m.created = true
		if !o.ReadOnly && o.Size == 0 {
			return errors.New("daxkv: a new pool needs a Size")
		}
		if !o.ReadOnly {
			m.extended = true
			if err := truncateFD(m.fd, o.Size); err != nil {
				return err
			}
			if err := datasyncFD(m.fd); err != nil {
				return err
			}
			fileSize = o.Size
		}
	}
	if created {
		if err := syncDir(m.path); err != nil {
			return err
		}
	}
	// The tail past the last page cannot be mapped; the tail past the last
	// chunk is mapped but not part of the pool until Grow.
	mapLen := roundDown(fileSize, int64(os.Getpagesize()))
	plan, err := reservationPlan(o, roundUp(mapLen, o.ChunkSize))
	if err != nil {
		return err
	}
	for _, n := range plan {
		m.base, err = reserve(uintptr(n))
		if err == nil {
			m.region = bytesAt(m.base, n)
			break
		}
	}
	if err != nil {
		return err
	}
	if mapLen > 0 {
		if err := m.mapFirst(o.Sync, mapLen); err != nil {
			return err
		}
	}
	m.mapped = mapLen
	m.size.Store(roundDown(fileSize, o.ChunkSize))
	return nil
}

// mapFirst maps [0, n) of the file as the policy asks and records whether
// MAP_SYNC was granted.
func (m *Map) mapFirst(policy SyncPolicy, n int64) error {
	if policy == SyncNever {
		return mapShared(m.fd, 0, m.base, uintptr(n), m.readOnly, false)
	}
	err := mapShared(m.fd, 0, m.base, uintptr(n), m.readOnly, true)
	switch {
	case err == nil:
		m.mapSync.Store(true)
		return nil
	case !isSyncRefused(err):
		return fmt.Errorf("mmap: %w", err)
	case policy == SyncRequire:
		return fmt.Errorf("%w: mmap MAP_SHARED_VALIDATE|MAP_SYNC: %w", ErrDAXUnsupported, err)
	}
	if err := mapShared(m.fd, 0, m.base, uintptr(n), m.readOnly, false); err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	return nil
}

// openDeviceDAX maps a whole device-DAX character device.
func (m *Map) openDeviceDAX(o Options, st fileStat) error {
	m.deviceDAX = true
	mapLen, align, err := devDAXGeometry(sysRoot, st.major, st.minor)
	if err != nil {
		return err
	}
	size := roundDown(mapLen, o.ChunkSize)
	if size == 0 {
		return fmt.Errorf("device DAX of %d bytes is smaller than ChunkSize %d", mapLen, o.ChunkSize)
	}
	base, err := reserveAligned(mapLen, align)
	if err != nil {
		return err
	}
	m.base, m.region = base, bytesAt(base, mapLen)
	// Device DAX has no page cache: every mapping of it is synchronous.
	// MAP_SYNC is asked for anyway so that the kernel confirms it.
	err = mapShared(m.fd, 0, base, uintptr(mapLen), m.readOnly, true)
	if err != nil && isSyncRefused(err) {
		err = mapShared(m.fd, 0, base, uintptr(mapLen), m.readOnly, false)
	}
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	m.mapSync.Store(true)
	m.mapped = mapLen
	m.size.Store(size)
	m.created, err = m.zeroPrefix(4 << 10)
	return err
}

// reserveAligned reserves n bytes of address space starting at a multiple of
// align (a power of two), as device DAX requires of its mappings: it reserves
// align bytes more, then gives back the unaligned head and the tail.
func reserveAligned(n, align int64) (unsafe.Pointer, error) {
	raw, err := reserve(uintptr(n + align))
	if err != nil {
		return nil, err
	}
	base, skip := alignPtr(raw, uintptr(align))
	if err := errors.Join(
		release(raw, skip),
		release(addPtr(base, n), uintptr(align)-skip),
	); err != nil {
		_ = release(raw, uintptr(n+align)) // whatever is left of it
		return nil, err
	}
	return base, nil
}

// zeroPrefix reports whether the first n bytes of the pool are all zero.
func (m *Map) zeroPrefix(n int) (zero bool, err error) {
	defer m.Guard(debug.SetPanicOnFault(true), &err)
	for _, b := range m.Bytes()[:min(n, int(m.Size()))] {
		if b != 0 {
			return false, nil
		}
	}
	return true, nil
}

// Bytes returns the pool: len and cap are Size(). The backing array is the
// reservation, so the address never moves and a slice taken earlier stays
// valid across Grow, until Close. Bytes takes no lock and never blocks; it
// is safe to call concurrently with Grow. Writing to a chunk requires Fault
// on it first; on a read-only Map, writing faults.
func (m *Map) Bytes() []byte {
	n := m.size.Load()
	return m.region[:n:n]
}

// Region returns the whole reservation, of which Bytes is a prefix: the
// range to hand to an msync-based flusher, whose addresses stay valid as the
// pool grows. Bytes past Size are not accessible. Region returns nil after
// Close.
func (m *Map) Region() []byte {
	if m.closed.Load() {
		return nil
	}
	return m.region
}

// FileUsage returns the pool file's size and the bytes its blocks occupy
// (st_blocks x 512): less than the size while chunks were never used (the
// file is sparse), more where the filesystem allocates ahead. A device DAX
// pool reports its device size for both.
func (m *Map) FileUsage() (size, allocated int64, err error) {
	if m.closed.Load() {
		return 0, 0, ErrClosed
	}
	if m.deviceDAX {
		return m.Size(), m.Size(), nil
	}
	st, err := statFD(m.fd)
	if err != nil {
		return 0, 0, fmt.Errorf("daxkv: %s: %w", m.path, err)
	}
	return st.size, st.blocks * 512, nil
}

// Size returns the size of the pool in bytes, a multiple of ChunkSize.
func (m *Map) Size() int64 { return m.size.Load() }

// ChunkSize returns the unit of growth and of Fault, in bytes.
func (m *Map) ChunkSize() int64 { return m.chunk }

// Created reports whether Open created the file or found it empty (or, for
// device DAX, found its first 4 KiB all zero): the caller must format it.
func (m *Map) Created() bool { return m.created }

// MapSync reports whether the mapping is synchronous (MAP_SYNC on a DAX
// filesystem, or device DAX): CPU cache flushes and a fence alone make
// stores durable. When false, stores are durable only after msync or Sync.
// It is false when Open mapped nothing (a read-only handle on an empty file).
func (m *Map) MapSync() bool { return m.mapSync.Load() }

// DeviceDAX reports whether the pool is a device-DAX character device.
func (m *Map) DeviceDAX() bool { return m.deviceDAX }

// ReadOnly reports whether the Map was opened read-only.
func (m *Map) ReadOnly() bool { return m.readOnly }

// Path returns the path the Map was opened with.
func (m *Map) Path() string { return m.path }

// Grow extends the pool to newSize bytes, a multiple of ChunkSize, and maps
// the new range at the next addresses of the reservation. The file grows
// sparse (ftruncate) and its new size is made durable (fdatasync) before the
// range is mapped; blocks are allocated per chunk by Fault. Grow to a size
// not above Size is a no-op, so concurrent callers asking for the same size
// all succeed. Readers are never blocked; concurrent Grow calls are
// serialized.
//
// Grow returns an error wrapping ErrNoSpace for device DAX, for a size past
// the reservation (Options.MaxSize), and when the filesystem refuses the
// size; ErrSync when the new size could not be made durable; ErrReadOnly on
// a read-only Map; ErrClosed after Close.
func (m *Map) Grow(newSize int64) error {
	if err := m.lockWritable("grow"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	old := m.size.Load()
	switch {
	case newSize <= old:
		return nil
	case newSize%m.chunk != 0:
		return fmt.Errorf("daxkv: grow %s to %d bytes: not a multiple of ChunkSize %d", m.path, newSize, m.chunk)
	case m.deviceDAX:
		return fmt.Errorf("%w: %s is device DAX, fixed at %d bytes", ErrNoSpace, m.path, old)
	case newSize > int64(len(m.region)):
		return fmt.Errorf("%w: %s: %d bytes is past the reservation of %d bytes (MaxSize)",
			ErrNoSpace, m.path, newSize, len(m.region))
	}
	// Never shrink: the file may already be longer (a tail past the last
	// chunk, or a change made behind our back).
	st, err := statFD(m.fd)
	if err != nil {
		return fmt.Errorf("daxkv: grow %s: %w", m.path, err)
	}
	if st.size < old {
		// Someone truncated the file underneath: extending it again would
		// turn the lost bytes into zeros that read as valid free space.
		return fmt.Errorf("%w: grow %s: the file is %d bytes, shorter than the %d mapped (truncated by another program)",
			ErrFault, m.path, st.size, old)
	}
	if st.size < newSize {
		if err := truncateFD(m.fd, newSize); err != nil {
			if isNoSpace(err) {
				return fmt.Errorf("%w: grow %s to %d bytes: %w", ErrNoSpace, m.path, newSize, err)
			}
			return fmt.Errorf("daxkv: grow %s: %w", m.path, err)
		}
	}
	// The size is metadata: make it durable even under MAP_SYNC, which only
	// covers the blocks a write fault allocates.
	if err := datasyncFD(m.fd); err != nil {
		return fmt.Errorf("daxkv: grow %s: %w: %w", m.path, ErrSync, err)
	}
	n := newSize - m.mapped
	if err := mapShared(m.fd, m.mapped, addPtr(m.base, m.mapped), uintptr(n), false, m.mapSync.Load()); err != nil {
		return fmt.Errorf("daxkv: grow %s: mmap %d bytes at offset %d: %w", m.path, n, m.mapped, err)
	}
	m.mapped = newSize
	m.size.Store(newSize)
	if invariants.Enabled && (newSize%m.chunk != 0 || m.mapped < newSize || newSize > int64(len(m.region))) {
		panic(fmt.Sprintf("daxkv: assertion failed: pool of %d bytes, %d mapped, chunk %d, reservation %d", newSize, m.mapped, m.chunk, len(m.region)))
	}
	return nil
}

// lockWritable takes mu for an operation op that changes the mapping, or
// returns the error it must return (ErrReadOnly, ErrClosed) without it.
func (m *Map) lockWritable(op string) error {
	if m.readOnly {
		return fmt.Errorf("daxkv: %s %s: %w", op, m.path, ErrReadOnly)
	}
	m.mu.Lock()
	if m.closed.Load() {
		m.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// Remap maps the pool again, at the same addresses, as policy asks: the
// online switch between MAP_SYNC and the page cache. MAP_FIXED replaces the
// old mapping in one step, under the kernel's mmap lock, so no address is
// ever unmapped and a concurrent read sees the same file bytes through the
// old mapping or the new one: readers may run meanwhile. Writers may not,
// since the durability of the stores in flight changes with the mapping (kv
// stops every writer first). When the new mapping is refused (MAP_SYNC
// under SyncRequire), the old one is restored and the error wraps
// ErrDAXUnsupported. Device DAX is always synchronous and cannot be remapped.
func (m *Map) Remap(policy SyncPolicy) error {
	if err := m.lockWritable("remap"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if m.deviceDAX {
		if policy == SyncNever {
			return fmt.Errorf("daxkv: remap %s: device DAX has no page cache: %w", m.path, errors.ErrUnsupported)
		}
		return nil
	}
	was := m.mapSync.Load()
	m.mapSync.Store(false)
	if err := m.mapFirst(policy, m.mapped); err != nil {
		if rerr := mapShared(m.fd, 0, m.base, uintptr(m.mapped), false, was); rerr != nil {
			panic(fmt.Sprintf("daxkv: assertion failed: restoring the mapping of %s after a refused remap: %v", m.path, rerr))
		}
		m.mapSync.Store(was)
		return fmt.Errorf("daxkv: remap %s: %w", m.path, err)
	}
	return nil
}

// Sync makes every store to the mapping and the file's size durable
// (fdatasync): the catch-all of the page-cache path. It is a no-op on device
// DAX, which has no page cache, and on a read-only Map. Its error wraps
// ErrSync when fdatasync fails.
func (m *Map) Sync() error {
	if m.closed.Load() {
		return ErrClosed
	}
	if m.deviceDAX || m.readOnly {
		return nil
	}
	if err := datasyncFD(m.fd); err != nil {
		return fmt.Errorf("daxkv: sync %s: %w: %w", m.path, ErrSync, err)
	}
	return nil
}

// Close unmaps the reservation, unlocks and closes the file, in that order,
// and returns the first error. Every slice from Bytes or Region becomes
// invalid: touching one faults. Close is idempotent; later calls return nil.
func (m *Map) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closeLocked(0)
}

// CloseToZeros closes m as Close does, except that the mapped part of the
// address range is not given back: one mmap (MAP_FIXED) puts private,
// read-only zero pages in place of the file's, at once for every thread,
// so that a slice of Bytes taken before and read after reads zeros instead
// of faulting. The reservation past it is given back. unmap gives the rest
// back (once; later calls do nothing); until then it costs address space,
// not memory. Where the zero pages cannot be mapped, CloseToZeros gives the
// whole range back as Close does, and unmap does nothing.
func (m *Map) CloseToZeros() (unmap func() error, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return func() error { return nil }, nil
	}
	keep := uintptr(m.mapped)
	if keep > 0 && mapZeros(m.base, keep) != nil {
		keep = 0
	}
	base := m.base
	var once sync.Once
	return func() (err error) {
		once.Do(func() {
			if err = release(base, keep); err != nil {
				err = fmt.Errorf("daxkv: give back the address range of %s: %w", m.path, err)
			}
		})
		return err
	}, m.closeLocked(keep)
}

// closeLocked closes m, giving back its address range but the first keep
// bytes (zero pages CloseToZeros put there). m.mu is held.
func (m *Map) closeLocked(keep uintptr) error {
	if m.closed.Load() {
		return nil
	}
	m.closed.Store(true)
	m.size.Store(0)
	for i := range m.backed.leaves {
		m.backed.leaves[i].Store(nil) // Fault must not answer from the bitmap any more
	}
	var first error
	for _, err := range []error{
		release(addPtr(m.base, int64(keep)), uintptr(len(m.region))-keep),
		unlockFile(m.fd),
		closeFD(m.fd),
		m.closeZeroFD(),
	} {
		if first == nil && err != nil {
			first = fmt.Errorf("daxkv: close %s: %w", m.path, err)
		}
	}
	return first
}

// closeZeroFD closes zeroFD, if open.
func (m *Map) closeZeroFD() error {
	if m.zeroFD < 0 {
		return nil
	}
	return closeFD(m.zeroFD) // once: Close runs closeLocked once
}

// DirtyBytes returns how many bytes of the pool file's page cache are dirty
// or being written back: stored through the mapping but not yet on the
// media. It reads the kernel's page-cache statistics (cachestat, Linux 6.5
// and later) and returns an error where they are not available. Device DAX
// has no page cache: 0. It is a diagnostic: in the emulated mode it is what a
// power failure would lose.
func (m *Map) DirtyBytes() (int64, error) {
	if m.closed.Load() {
		return 0, ErrClosed
	}
	if m.deviceDAX {
		return 0, nil
	}
	return dirtyBytes(m.fd)
}
