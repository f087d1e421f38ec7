package recovery

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"

	"github.com/cespare/xxhash/v2"

	"github.com/daxkv/daxkv/alloc"
	"github.com/daxkv/daxkv/flush"
)

// Layout: pool (part of the format: do not change). All integers are
// little-endian; offsets are bytes from the start of the pool.
//
//	0        4096     8192              12288    16384 (HeapStart)
//	+--------+--------+-----------------+--------+--------------------------- ...
//	| super  | super  | batch log:      | zero   | heap: chunk 0 (rest), chunk 1, ...
//	| copy 0 | copy 1 | 64 slots x 64 B |        | records, each 64-byte aligned
//	+--------+--------+-----------------+--------+--------------------------- ...
//
// The pool is a whole number of chunks (Superblock.ChunkSize, a power of two,
// at least 64 KiB). A record never crosses a chunk boundary but a run's
// (version 2: longer than half a chunk, chunk-aligned, whole chunks), so
// each chunk can be scanned alone, in parallel with the others, and the
// runs settled afterwards (resolveRuns).
//
// Layout: superblock (part of the format: do not change). 128 bytes at offset
// 0 and at offset 4096; the rest of each 4 KiB page is zero.
//
//	 0 +----------------+ magic "DAXKVPL\x00"
//	 8 | version  u32   | format version (2; 1 is read: a pool without runs)
//	12 | flags    u32   | bit 0: closed cleanly; other bits zero
//	16 | gen      u64   | generation; copy gen%2 holds generation gen
//	24 | uuid   [16]B   | pool identity; seeds every record and slot checksum
//	40 | chunk    u64   | chunk size in bytes
//	48 | seqfloor u64   | above every sequence number ever handed out
//	56 | prefmode u32   | preferred mode: 0 auto, 1 on, 2 off, 3 emulated (PrefMode)
//	60 | zero     u32   |
//	64 | shutdowns u64  | the DIMMs' unsafe-shutdown count at the last writable open, plus 1 (0: unknown)
//	72 | index    u64   | check of the index checkpoint the clean Close wrote beside the pool (0: none)
//	80 | zero    [40]B  |
//	120| check    u64   | xxhash64 (seed 0) of bytes [0, 120)
//	128+----------------+
//
// The valid copy with the higher generation wins. An update writes the other
// copy (the older one) with generation+1, so a torn update leaves the previous
// state intact in the copy it did not touch.
const (
	Version       = 2 // format version written; 1 is still read (no runs)
	superOff0     = 0
	superOff1     = 4096
	superSize     = 128
	LogOffset     = 8192  // first batch log slot
	LogSlots      = 64    // slots in the batch log ring
	LogSlotSize   = 64    // bytes per slot
	HeapStart     = 16384 // first byte of the heap in chunk 0
	FlagClean     = 1     // Superblock.Flags: the pool was closed cleanly
	superCheckOff = 120
)

var magic = [8]byte{'D', 'A', 'X', 'K', 'V', 'P', 'L', 0}

// PrefMode is a pool's preferred durability mode as the superblock stores
// it (part of the format: do not change the values). It is its own type so
// that no API enum's order can ever change what is on the media.
type PrefMode uint32

// The preferred modes.
const (
	PrefAuto     PrefMode = 0 // no preference: MAP_SYNC where granted, else the page cache
	PrefOn       PrefMode = 1 // MAP_SYNC and CPU flushes
	PrefOff      PrefMode = 2 // the page cache and msync
	PrefEmulated PrefMode = 3 // CPU flushes without MAP_SYNC (tests and benchmarks)
)

// Superblock is the decoded pool header.
type Superblock struct {
	Version    uint32
	Flags      uint32
	Generation uint64
	UUID       [16]byte
	ChunkSize  int64
	SeqFloor   uint64
	Preferred  PrefMode // the durability mode the pool prefers
	// Shutdowns is the persistent memory's unsafe-shutdown count when the
	// pool was last opened for writing, plus one; 0 when unknown (not on
	// NVDIMMs that report one, or written by a release that did not
	// record it: such readers ignore it, the bytes having been zero).
	Shutdowns uint64
	// Index is the check of the index checkpoint (checkpoint.go) that the
	// clean Close writing this copy left beside the pool, or 0. A writable
	// open clears it before its first write. Readers of a release without
	// checkpoints ignore it (the bytes were zero), and their writes clear
	// it.
	Index uint64
}

// Clean reports whether the pool was closed cleanly.
func (sb *Superblock) Clean() bool { return sb.Flags&FlagClean != 0 }

func (sb *Superblock) encode(b []byte) {
	clear(b[:superSize])
	copy(b[0:8], magic[:])
	binary.LittleEndian.PutUint32(b[8:], sb.Version)
	binary.LittleEndian.PutUint32(b[12:], sb.Flags)
	binary.LittleEndian.PutUint64(b[16:], sb.Generation)
	copy(b[24:40], sb.UUID[:])
	binary.LittleEndian.PutUint64(b[40:], uint64(sb.ChunkSize))
	binary.LittleEndian.PutUint64(b[48:], sb.SeqFloor)
	binary.LittleEndian.PutUint32(b[56:], uint32(sb.Preferred))
	binary.LittleEndian.PutUint64(b[64:], sb.Shutdowns)
	binary.LittleEndian.PutUint64(b[72:], sb.Index)
	binary.LittleEndian.PutUint64(b[superCheckOff:], xxhash.Sum64(b[:superCheckOff]))
}

// decodeSuperblock decodes one copy. It reports ErrVersion for a valid copy
// of a newer format, and a CorruptError for anything else it cannot use.
func decodeSuperblock(b []byte, off int64) (Superblock, error) {
	var sb Superblock
	if len(b) < superSize {
		return sb, corruptf(off, "superblock truncated")
	}
	if !bytes.Equal(b[0:8], magic[:]) {
		return sb, corruptf(off, "bad superblock magic")
	}
	if xxhash.Sum64(b[:superCheckOff]) != binary.LittleEndian.Uint64(b[superCheckOff:]) {
		return sb, corruptf(off, "superblock checksum mismatch")
	}
	sb.Version = binary.LittleEndian.Uint32(b[8:])
	sb.Flags = binary.LittleEndian.Uint32(b[12:])
	sb.Generation = binary.LittleEndian.Uint64(b[16:])
	copy(sb.UUID[:], b[24:40])
	sb.ChunkSize = int64(binary.LittleEndian.Uint64(b[40:]))
	sb.SeqFloor = binary.LittleEndian.Uint64(b[48:])
	sb.Preferred = PrefMode(binary.LittleEndian.Uint32(b[56:]))
	sb.Shutdowns = binary.LittleEndian.Uint64(b[64:])
	sb.Index = binary.LittleEndian.Uint64(b[72:])
	if sb.Version != Version && sb.Version != 1 {
		if sb.Version > Version {
			return sb, ErrVersion
		}
		return sb, corruptf(off, "superblock version %d", sb.Version)
	}
	if sb.Flags&^FlagClean != 0 {
		return sb, corruptf(off+12, "superblock flags %#x have unknown bits", sb.Flags)
	}
	if alloc.ValidChunkSize(sb.ChunkSize) != nil {
		return sb, corruptf(off+40, "superblock chunk size %d", sb.ChunkSize)
	}
	if sb.Generation%2 != uint64(off/superOff1) {
		return sb, corruptf(off+16, "superblock generation %d in copy %d", sb.Generation, off/superOff1)
	}
	return sb, nil
}

// ReadSuperblock returns the newer valid copy of the superblock in mem. It
// returns ErrVersion when either copy is a valid copy of a newer format.
func ReadSuperblock(mem []byte) (Superblock, error) {
	if int64(len(mem)) < HeapStart {
		return Superblock{}, corruptf(int64(len(mem)), "pool shorter than its header (%d bytes)", len(mem))
	}
	a, errA := decodeSuperblock(mem[superOff0:], superOff0)
	b, errB := decodeSuperblock(mem[superOff1:], superOff1)
	switch {
	case errA == ErrVersion || errB == ErrVersion:
		// A newer daxkv wrote (or is writing) this pool: whatever the
		// other copy says, the pool's format is no longer ours to read or
		// to overwrite.
		return Superblock{}, ErrVersion
	case errA == nil && errB == nil:
		if a.UUID != b.UUID {
			// Both copies validate but name different pools: refuse to guess.
			return Superblock{}, corruptf(superOff1+24, "superblock copies disagree on the pool identity")
		}
		if b.Generation > a.Generation {
			return b, nil
		}
		return a, nil
	case errA == nil:
		return a, nil
	case errB == nil:
		return b, nil
	default:
		return Superblock{}, errA
	}
}

// PeekSuperblock reads the superblock of an existing pool through r,
// before the pool is mapped: the mapping needs its chunk size and preferred
// mode. It returns ErrVersion for a pool of a newer format, and another
// error when r holds no valid superblock (a new or empty file, a torn
// creation, or damage: the caller's Open decides once the pool is mapped).
// Nothing is locked: the caller validates what it read again then.
func PeekSuperblock(r io.ReaderAt) (Superblock, error) {
	buf := make([]byte, superOff1+superSize)
	if n, _ := r.ReadAt(buf, 0); n < len(buf) {
		return Superblock{}, corruptf(int64(n), "pool shorter than its superblocks (%d bytes)", n)
	}
	return ReadSuperblock(append(buf, make([]byte, HeapStart-len(buf))...))
}

// Write makes sb durable as the next generation: it writes the older copy,
// flushes it and drains, so that a crash leaves either the old or the new
// state. sb.Generation is advanced.
func (sb *Superblock) Write(mem []byte, p flush.Persister) error {
	sb.Generation++
	off := superOff0
	if sb.Generation%2 == 1 {
		off = superOff1
	}
	var buf [superSize]byte
	sb.encode(buf[:])
	// A torn copy is possible (only aligned 8-byte stores are atomic); the
	// checksum then fails and the other copy, untouched, wins.
	copy(mem[off:off+superSize], buf[:])
	p.Flush(mem[off : off+superSize])
	return p.Drain()
}

// NewUUID returns a random pool identity.
func NewUUID() [16]byte {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		panic("daxkv: assertion failed: crypto/rand: " + err.Error())
	}
	return u
}

// Format writes a fresh pool header into mem: both superblock copies and an
// empty batch log. The heap must be zero (a new, sparse file is).
func Format(mem []byte, p flush.Persister, chunkSize int64, preferred PrefMode) (Superblock, error) {
	if err := alloc.ValidChunkSize(chunkSize); err != nil {
		return Superblock{}, fmt.Errorf("daxkv: format: %w", err)
	}
	if int64(len(mem)) < chunkSize {
		return Superblock{}, corruptf(int64(len(mem)), "pool of %d bytes is smaller than one chunk", len(mem))
	}
	clear(mem[:HeapStart])
	p.Flush(mem[:HeapStart])
	sb := Superblock{Version: Version, UUID: NewUUID(), ChunkSize: chunkSize, SeqFloor: 1, Preferred: preferred}
	// Two generations: copy 1 then copy 0, both valid afterwards.
	if err := sb.Write(mem, p); err != nil {
		return sb, err
	}
	return sb, sb.Write(mem, p)
}

// Unformatted reports whether mem holds no pool yet: its heap is all zero.
// Format writes no record, and nothing writes one before Format has made
// both superblock copies durable, so a crash during creation leaves a zero
// heap (and perhaps a torn header). Anything else without a valid
// superblock is corruption, never silently reformatted.
func Unformatted(mem []byte) bool {
	if len(mem) < HeapStart {
		mem = mem[:0]
	} else {
		mem = mem[HeapStart:]
	}
	for i := 0; i+8 <= len(mem); i += 8 {
		if binary.LittleEndian.Uint64(mem[i:]) != 0 {
			return false
		}
	}
	return true
}

// seed is the checksum seed of a record or log slot at off.
func seed(uuid *[16]byte, off int64) uint64 {
	u0 := binary.LittleEndian.Uint64(uuid[0:8])
	u1 := binary.LittleEndian.Uint64(uuid[8:16])
	return u0 ^ bits.RotateLeft64(u1, 29) ^ (uint64(off) * 0x9E3779B97F4A7C15)
}
