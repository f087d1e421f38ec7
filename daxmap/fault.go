package daxmap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"

	"github.com/cespare/xxhash/v2"
)

// stripeBits sizes the stripe table like the kernel's DAX wait table
// (DAX_WAIT_TABLE_BITS).
const stripeBits = 12

// stripes serialize faulting in, allocating and punching out one chunk.
// The table is shared by every Map, like the kernel's, which is why the hash
// includes the pool's identity: two pools' chunks rarely share a stripe, and
// when they do it costs a wait, never a wrong result.
var stripes [1 << stripeBits]struct {
	mu sync.Mutex // protects the fault-in, allocation and punch of every chunk that hashes here
	_  [56]byte   // one stripe per cache line: neighbours do not contend
}

// stripe returns the mutex for chunk c of the pool with identity dev, ino.
func stripe(dev, ino uint64, c int64) *sync.Mutex {
	var key [24]byte
	binary.LittleEndian.PutUint64(key[0:], dev)
	binary.LittleEndian.PutUint64(key[8:], ino)
	binary.LittleEndian.PutUint64(key[16:], uint64(c))
	return &stripes[xxhash.Sum64(key[:])&(1<<stripeBits-1)].mu
}

// Fault makes chunk c (the bytes [c*ChunkSize, (c+1)*ChunkSize) of the pool)
// backed by real blocks; call it before the first write to the chunk. Under
// the chunk's stripe it first faults the chunk in for reading, which maps a
// hole as zeros and turns a memory fault into an error, then allocates its
// blocks (fallocate with FALLOC_FL_KEEP_SIZE; not needed on device DAX, and
// skipped where the filesystem does not implement it), then, for a chunk
// that was a hole in a page-cache mapping of a file on ext4 or XFS, writes
// zeros over it, and marks it backed.
// Once a chunk is backed, Fault is a few atomic loads.
//
// Fault returns an error for a chunk outside [0, Size/ChunkSize); one
// wrapping ErrNoSpace when the filesystem is full (also where the read
// itself faults for want of space, as on a full tmpfs); ErrFault when the
// chunk cannot be read; ErrReadOnly on a read-only Map; ErrClosed after Close.
func (m *Map) Fault(c int64) error {
	if c >= 0 && c < m.backed.n && m.backed.get(c) {
		return nil
	}
	if err := m.writableChunk("fault", c); err != nil {
		return err
	}
	mu := stripe(m.dev, m.ino, c)
	mu.Lock()
	defer mu.Unlock()
	if m.backed.get(c) {
		return nil
	}
	off := c * m.chunk
	allocated := false // the chunk's blocks were allocated on the retry path below
	// A chunk with no data at all, asked before the read below fills the
	// cache: no record lies there, so nothing stores into it until Fault
	// returns (writers fault a chunk in before its first store).
	fresh := m.ZeroFills() && !hasData(m.fd, off, m.chunk)
	if err := m.touch(off, m.chunk); err != nil {
		// On tmpfs a read fault of a hole allocates a page, and raises
		// SIGBUS when the filesystem is full: a full filesystem, not a bad
		// block. fallocate then says ENOSPC (it allocates nothing there
		// that the read did not need anyway), and so does Fault: the fault
		// is named, not wrapped, for it is no damage to the pool. When
		// fallocate succeeds (space came free meanwhile), the read is tried
		// once more: it fails again only on a page that is really bad.
		if m.deviceDAX {
			return fmt.Errorf("daxkv: read chunk %d of %s: %w", c, m.path, err)
		}
		aerr := m.allocate(m.fd, off, m.chunk)
		if isNoSpace(aerr) {
			return fmt.Errorf("%w: read chunk %d of %s at offset %d: the filesystem is full (%v)", ErrNoSpace, c, m.path, off, err)
		}
		if err := m.touch(off, m.chunk); err != nil {
			return fmt.Errorf("daxkv: read chunk %d of %s: %w", c, m.path, err)
		}
		allocated = aerr == nil
	}
	if !m.deviceDAX && !allocated {
		err := m.allocate(m.fd, off, m.chunk)
		switch {
		case err == nil || isNotSupported(err):
		case isNoSpace(err):
			return fmt.Errorf("%w: allocate chunk %d of %s at offset %d: %w", ErrNoSpace, c, m.path, off, err)
		default:
			return fmt.Errorf("daxkv: allocate chunk %d of %s at offset %d: %w", c, m.path, off, err)
		}
	}
	if fresh {
		// fallocate's blocks are unwritten: each msync of a part of them
		// would convert that part, a write of the file's extent tree
		// beside the data's, and the tree grows with every split. Zeros
		// written now make them plain blocks that an msync overwrites
		// (once per chunk for the pool's life; a punched chunk is a hole
		// again). An advice: on an error the chunk reads as zeros anyway.
		writeZeros(m.zeroFD, off, m.chunk)
	}
	m.backed.set(c)
	return nil
}

// adoptAllocated marks backed, at a writable Open, every chunk of the pool
// file that has no hole: an earlier handle allocated its blocks, so Fault
// would have nothing to allocate there, and the read-fault that protects an
// allocation (seed 002's rule) protects nothing. The first writes after a
// reopen into such a chunk (an extent freed by a delete, say) then cost a
// page fault each instead of faulting in the whole chunk inside one write.
// A poisoned page there still surfaces as an error: every write runs under
// the caller's Guard.
//
// It trusts the file's hole map only when it adds up: the holes reported
// (SEEK_HOLE) plus the blocks allocated (st_blocks) must cover the file.
// A filesystem without real SEEK_HOLE support reports none and fails the
// sum on a sparse file; then nothing is adopted and Fault works as before.
// Errors are not returned for the same reason: adopting is an optimization.
func (m *Map) adoptAllocated() {
	size := m.Size()
	hs, err := holes(m.fd, size)
	if err != nil {
		return
	}
	st, err := statFD(m.fd)
	if err != nil || st.size < size {
		return
	}
	var hole int64
	for _, h := range hs {
		hole += h.Len
	}
	if hole+st.blocks*512 < size {
		return // holes the map does not show
	}
	for c, i := int64(0), 0; c*m.chunk < size; c++ {
		lo, hi := c*m.chunk, (c+1)*m.chunk
		for i < len(hs) && hs[i].Off+hs[i].Len <= lo {
			i++
		}
		if hi > size || (i < len(hs) && hs[i].Off < hi) {
			continue
		}
		m.backed.set(c)
	}
}

// HasData reports whether chunk c of the pool file has any block (by
// SEEK_DATA): false for a hole, such as a chunk never written or one
// punched. True where the filesystem cannot say, and on device DAX.
func (m *Map) HasData(c int64) bool {
	if m.deviceDAX || m.closed.Load() {
		return !m.closed.Load()
	}
	return hasData(m.fd, c*m.chunk, m.chunk)
}

// Backed reports whether chunk c is backed in this handle: Fault made it
// so, or it had no hole at Open.
func (m *Map) Backed(c int64) bool {
	return c >= 0 && c < m.backed.n && m.backed.get(c)
}

// Punch frees the blocks of chunk c (fallocate with FALLOC_FL_PUNCH_HOLE),
// keeping the pool's size: the chunk reads as zeros afterwards and needs
// Fault again before it is written. The caller must make sure nobody uses
// the chunk's bytes meanwhile (no pins on it). Device DAX, and a
// filesystem without hole punching, cannot free blocks: Punch returns an
// error wrapping errors.ErrUnsupported there.
func (m *Map) Punch(c int64) error {
	if err := m.writableChunk("punch", c); err != nil {
		return err
	}
	if m.deviceDAX {
		return fmt.Errorf("daxkv: punch chunk %d of %s: device DAX: %w", c, m.path, errors.ErrUnsupported)
	}
	mu := stripe(m.dev, m.ino, c)
	mu.Lock()
	defer mu.Unlock()
	// Unmark first: from here on a Fault of this chunk waits for the stripe
	// and then allocates again, whatever happens to the punch.
	m.backed.clear(c)
	off := c * m.chunk
	if err := punchHole(m.fd, off, m.chunk); err != nil {
		if isNotSupported(err) {
			return fmt.Errorf("daxkv: punch chunk %d of %s: the filesystem cannot punch holes: %w: %w", c, m.path, errors.ErrUnsupported, err)
		}
		return fmt.Errorf("daxkv: punch chunk %d of %s at offset %d: %w", c, m.path, off, err)
	}
	return nil
}

// writableChunk returns the error an operation op that changes chunk c's
// blocks must return: ErrReadOnly, ErrClosed, or a chunk outside the pool.
func (m *Map) writableChunk(op string, c int64) error {
	if m.readOnly {
		return fmt.Errorf("daxkv: %s chunk %d of %s: %w", op, c, m.path, ErrReadOnly)
	}
	if m.closed.Load() {
		return ErrClosed
	}
	if n := m.size.Load() / m.chunk; c < 0 || c >= n {
		return fmt.Errorf("daxkv: chunk %d of %s is outside the pool's %d chunks", c, m.path, n)
	}
	return nil
}

// touch faults in every page of [off, off+n) of the pool for reading, under
// a guard. It asks the kernel to do it in one call (MADV_POPULATE_READ,
// Linux 5.14: read faults without a trap per page, about a fifth cheaper
// for a fresh 4 MiB chunk on tmpfs); where that call fails for any reason
// (an older kernel, a mapping it does not handle, a page that would raise
// SIGBUS), it reads one byte of every page instead, so a fault surfaces as
// it always did: as an error from the guard.
func (m *Map) touch(off, n int64) (err error) {
	defer m.Guard(debug.SetPanicOnFault(true), &err)
	b := m.region[off : off+n]
	if populateRead(b) == nil {
		return nil
	}
	touchPages(b, os.Getpagesize())
	return nil
}

// touchPages reads b[0], b[step], b[2*step], ... and returns their sum, so
// that the reads cannot be optimized away.
//
//go:noinline
func touchPages(b []byte, step int) byte {
	var sum byte
	for i := 0; i < len(b); i += step {
		sum += b[i]
	}
	return sum
}
