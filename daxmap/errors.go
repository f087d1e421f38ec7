package daxmap

import "errors"

var (
	// ErrLocked is returned by Open when another handle, in this process or
	// another, holds a conflicting lock on the pool file: any handle against a
	// writer, a writer against read-only handles.
	ErrLocked = errors.New("daxkv: pool is locked by another handle")

	// ErrDAXUnsupported is returned by Open with SyncRequire when the kernel
	// refuses MAP_SHARED_VALIDATE|MAP_SYNC for the file, which it does on
	// every filesystem that is not mounted with DAX over persistent memory.
	ErrDAXUnsupported = errors.New("daxkv: filesystem does not support MAP_SYNC")

	// ErrNoSpace is returned by Grow when the pool cannot reach the requested
	// size: device DAX has a fixed size, the address reservation (MaxSize) is
	// full, or the filesystem refuses a larger file. Fault wraps it too when
	// the filesystem has no blocks left for a chunk (ENOSPC).
	ErrNoSpace = errors.New("daxkv: pool cannot grow")

	// ErrFault is returned (through Guard) when an access to the mapping
	// raised a memory fault: the file was truncated under the mapping, or a
	// block of persistent memory is bad. The error says at which pool offset.
	ErrFault = errors.New("daxkv: memory fault in pool mapping")

	// ErrReadOnly is returned by Grow, Fault and Punch on a handle opened
	// with Options.ReadOnly (and by kv's writes on a read-only DB: one
	// sentinel for both).
	ErrReadOnly = errors.New("daxkv: pool is read-only")

	// ErrSync is wrapped by the errors of Grow and Sync when fdatasync
	// fails: the file's size or its pages may not be durable, and a later
	// fdatasync that succeeds does not prove they are (the kernel may have
	// dropped the dirty state of what it failed to write).
	ErrSync = errors.New("daxkv: fdatasync failed")

	// ErrClosed is returned by Grow, Fault, Punch and Sync after Close (and
	// by kv's methods after DB.Close: one sentinel for both).
	ErrClosed = errors.New("daxkv: pool is closed")
)

// lockedError is ErrLocked with the holders of the lock, as far as the
// kernel's lock table names them.
type lockedError struct{ holders string }

func (e *lockedError) Error() string {
	if e.holders == "" {
		return "pool is locked by another handle"
	}
	return "pool is locked by another handle, " + e.holders
}

func (e *lockedError) Unwrap() error { return ErrLocked }
