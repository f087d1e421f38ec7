// Package daxmap owns a daxkv pool file and its memory mapping.
//
// Open locks the file, reserves one large range of address space and maps the
// file into the start of it. Growth maps each new piece of the file at the next
// address of the same reservation, so the pool never moves: a slice taken from
// Bytes stays valid, and keeps pointing at the same file offsets, until Close.
//
// # Promises
//
//   - One writer per pool. Open takes flock(LOCK_EX|LOCK_NB) on the file (or
//     LOCK_SH for a read-only handle); a second handle, in this process or
//     another, gets an error wrapping ErrLocked instead of a shared mapping.
//   - Stable addresses. The base of Bytes never changes between Open and Close.
//     Readers never block: Bytes is one atomic load and takes no lock.
//   - Opt-in DAX. SyncAuto and SyncRequire ask the kernel for
//     MAP_SHARED_VALIDATE|MAP_SYNC, which only a DAX filesystem (or a device-DAX
//     character device) grants. MapSync reports what was granted: when it is
//     true, CPU cache flushes and a fence alone make stores durable; when it is
//     false, durability needs msync or Sync.
//   - Blocks before the first write. A new or grown file is sparse. Fault
//     allocates a chunk's blocks before the caller first writes to it, so that
//     a write never faults on a hole of a full filesystem (a SIGBUS) and, with
//     MAP_SYNC, the metadata fsync happens here and not on the write path.
//   - Faults become errors. A memory fault inside the mapping (the file
//     truncated by another program, a bad block of persistent memory) is turned
//     into an error wrapping ErrFault by Guard rather than crashing the process.
//
// # Invariants
//
//   - Size is a multiple of ChunkSize, only grows, and never exceeds the
//     reservation. The bytes [0, Size) of the reservation are mapped to the
//     same offsets of the file; the file is at least Size bytes long.
//   - A chunk marked backed in the bitmap has had its blocks allocated by this
//     handle, or had no hole when a writable handle opened the file (or lives
//     on device DAX, where every block always exists).
//   - Faulting in, allocating and punching out one chunk are serialized by one
//     stripe of a package-wide table of 4096 mutexes indexed by
//     xxhash(device, inode, chunk), the userspace stand-in for the page lock
//     that DAX mappings lack. No code path holds two stripes at once, and no
//     stripe is held while waiting for another lock.
//
// # Locks
//
// Map.mu serializes Grow and Close; Fault and Punch take one stripe. No path
// holds Map.mu and a stripe together, or two stripes, so there is no lock
// order to keep.
//
// Linux is the only supported operating system; elsewhere Open returns an error
// wrapping errors.ErrUnsupported.
package daxmap
