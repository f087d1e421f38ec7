package daxmap

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// Limits of Options.
const (
	// DefaultMaxSize is the address reservation tried when Options.MaxSize is
	// zero: 1 TiB of address space, which costs no memory.
	DefaultMaxSize = 1 << 40

	// minDefaultReservation is the smallest reservation Open falls back to
	// when the default one is refused (and the pool needs less than a quarter
	// of it).
	minDefaultReservation = 1 << 30
)

// SyncPolicy says whether Open asks for a synchronous DAX mapping.
type SyncPolicy int

const (
	// SyncAuto tries MAP_SHARED_VALIDATE|MAP_SYNC and falls back to a plain
	// MAP_SHARED page-cache mapping when the kernel refuses it (EOPNOTSUPP
	// or EINVAL). The default.
	SyncAuto SyncPolicy = iota

	// SyncRequire insists on MAP_SYNC: Open fails with an error wrapping
	// ErrDAXUnsupported when the kernel refuses it.
	SyncRequire

	// SyncNever maps with plain MAP_SHARED through the page cache, for the
	// msync durability path and for the emulated mode (CPU flushes on a
	// page-cache mapping, durable only against process crashes).
	SyncNever
)

// String returns the policy's name.
func (p SyncPolicy) String() string {
	switch p {
	case SyncAuto:
		return "auto"
	case SyncRequire:
		return "require"
	case SyncNever:
		return "never"
	}
	return fmt.Sprintf("SyncPolicy(%d)", int(p))
}

// Options configure Open. The zero value is valid: every zero field means its
// default.
type Options struct {
	// Size is the size in bytes a new or empty file is created with, rounded
	// up to a multiple of ChunkSize; required for a new file. It is ignored
	// for an existing, non-empty file and for device DAX. The file is
	// sparse: its blocks are allocated per chunk by Fault.
	Size int64

	// ChunkSize is the unit of growth and of Fault, in bytes; required. The
	// mapping needs only that it be a power of two and a multiple of the
	// page size; which chunk sizes a pool may have is package alloc's rule
	// (alloc.ValidChunkSize), applied by the caller. Hazard: every caller of
	// one pool must agree on it, since chunk numbers and sizes are
	// multiples of it.
	ChunkSize int64

	// MaxSize is the size in bytes of the address range reserved at Open,
	// rounded down to a multiple of ChunkSize; the pool can never grow past
	// it (Grow returns ErrNoSpace). Default: DefaultMaxSize, and if the
	// kernel refuses that, successively halved sizes down to the larger of
	// 1 GiB and four times the pool's size. An explicit MaxSize is tried
	// alone. Reserved address space costs no memory. Ignored for device
	// DAX, whose reservation is the device's size.
	MaxSize int64

	// ReadOnly opens the file O_RDONLY, takes a shared lock and maps it
	// PROT_READ. Grow, Fault and Punch return ErrReadOnly, and a write
	// through Bytes faults.
	ReadOnly bool

	// Sync chooses whether to ask for MAP_SYNC. Default SyncAuto.
	Sync SyncPolicy

	// FaultAlso, when set, is wrapped by the errors Guard returns in
	// addition to ErrFault, so that a caller's own sentinel (kv's
	// ErrCorrupt) matches a memory fault too.
	FaultAlso error

	// Perm is the permission of a file Open creates (before the umask).
	// Default 0600.
	Perm os.FileMode

	// LockWait is how long Open waits for another handle's conflicting
	// lock to go before it fails with ErrLocked. Default 0: it fails at
	// once.
	LockWait time.Duration
}

// withDefaults returns a copy of o with defaults filled in, or every problem
// with it joined into one error.
func withDefaults(o Options) (Options, error) {
	var errs []error
	page := int64(os.Getpagesize())
	if o.ChunkSize <= 0 || o.ChunkSize&(o.ChunkSize-1) != 0 || o.ChunkSize%page != 0 {
		errs = append(errs, fmt.Errorf("daxkv: ChunkSize %d is not a power of two and a multiple of the page size %d", o.ChunkSize, page))
		o.ChunkSize = page // keeps the checks below meaningful
	}
	if o.Size < 0 {
		errs = append(errs, fmt.Errorf("daxkv: negative Size %d", o.Size))
	}
	o.Size = roundUp(o.Size, o.ChunkSize)
	switch {
	case o.MaxSize < 0:
		errs = append(errs, fmt.Errorf("daxkv: negative MaxSize %d", o.MaxSize))
	case o.MaxSize > 0:
		o.MaxSize = roundDown(o.MaxSize, o.ChunkSize)
		if o.MaxSize < o.Size || o.MaxSize == 0 {
			errs = append(errs, fmt.Errorf("daxkv: MaxSize %d is smaller than Size %d (both rounded to ChunkSize %d)",
				o.MaxSize, o.Size, o.ChunkSize))
		}
	}
	if o.Sync < SyncAuto || o.Sync > SyncNever {
		errs = append(errs, fmt.Errorf("daxkv: unknown Sync policy %v", o.Sync))
	}
	if o.Perm == 0 {
		o.Perm = 0o600
	}
	if o.Perm&^os.ModePerm != 0 {
		errs = append(errs, fmt.Errorf("daxkv: Perm %v has bits other than permissions", o.Perm))
	}
	return o, errors.Join(errs...)
}

// reservationPlan lists the reservation sizes Open tries, largest first, for a
// pool that needs poolSize bytes now.
func reservationPlan(o Options, poolSize int64) ([]int64, error) {
	if o.MaxSize > 0 {
		if poolSize > o.MaxSize {
			return nil, fmt.Errorf("%w: pool file holds %d bytes, more than MaxSize %d", ErrNoSpace, poolSize, o.MaxSize)
		}
		return []int64{o.MaxSize}, nil
	}
	floor := roundUp(max(4*poolSize, minDefaultReservation), o.ChunkSize)
	var plan []int64
	for s := int64(DefaultMaxSize); s > floor; s /= 2 {
		plan = append(plan, s)
	}
	return append(plan, floor), nil
}

// roundUp rounds n up to a multiple of unit, a power of two.
func roundUp(n, unit int64) int64 { return (n + unit - 1) &^ (unit - 1) }

// roundDown rounds n down to a multiple of unit, a power of two.
func roundDown(n, unit int64) int64 { return n &^ (unit - 1) }
