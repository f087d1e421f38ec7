package kv

import (
	"errors"

	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/recovery"
)

// Sentinel errors. Test for them with errors.Is: the errors returned wrap
// them with the path, key or offset involved.
var (
	// ErrNotFound is returned by Get and View when the key is absent.
	ErrNotFound = errors.New("daxkv: key not found")

	// ErrClosed is returned by every method called after Close, and by Close
	// itself the second time.
	ErrClosed = daxmap.ErrClosed

	// ErrCorrupt is returned when the pool's bytes contradict the format, or
	// when a memory fault (a bad block, a file truncated underneath the
	// mapping) hits an access; the error carries the offset.
	ErrCorrupt = recovery.ErrCorrupt

	// ErrVersion is returned by Open for a pool written by a newer format.
	ErrVersion = recovery.ErrVersion

	// ErrLocked is returned by Open when the pool is already open in another
	// DB, in this process or another (an exclusive flock; read-only handles
	// share a lock with each other but not with a writer).
	ErrLocked = daxmap.ErrLocked

	// ErrDAXUnsupported is returned by Open with DAXOn when the filesystem
	// refuses a synchronous DAX mapping (MAP_SYNC), or the CPU has no
	// cache-line flush instruction; and with DAXEmulated on such a CPU.
	ErrDAXUnsupported = daxmap.ErrDAXUnsupported

	// ErrReadOnly is returned by writes to a DB opened with ReadOnly.
	ErrReadOnly = daxmap.ErrReadOnly

	// ErrFailed is returned by every write (and by Sync and Close) once a
	// write failed to reach the media: a fence, an msync or an fdatasync
	// returned an error. From then on memory and media may disagree, so the
	// DB refuses writes; reads keep working on what memory holds. The error
	// also wraps the first failure. Close the DB and open it again: Open
	// recovers from the media, where every acknowledged write is.
	ErrFailed = errors.New("daxkv: a write failed to reach the media; writes are refused until the pool is reopened")

	// ErrBusy is returned by SwitchMode when the writers in progress did
	// not finish before the caller's context ended.
	ErrBusy = errors.New("daxkv: database is busy")

	// ErrKeyRequired is returned for an empty key.
	ErrKeyRequired = errors.New("daxkv: key required")

	// ErrKeyTooLarge is returned for a key longer than MaxKeySize.
	ErrKeyTooLarge = errors.New("daxkv: key too large")

	// ErrValueTooLarge is returned for a value longer than the pool's
	// MaxValueSize (Stats.MaxValueSize).
	ErrValueTooLarge = errors.New("daxkv: value too large")

	// ErrNoSpace is returned when the pool cannot grow: a device-DAX pool is
	// full, the address reservation (Options.MaxSize) is exhausted, or the
	// filesystem is out of space.
	ErrNoSpace = daxmap.ErrNoSpace

	// ErrInvalidOptions is returned by Open when an option is out of range;
	// the error lists every problem found.
	ErrInvalidOptions = errors.New("daxkv: invalid options")
)
