package recovery

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt is returned when the pool's bytes contradict the format: no
	// valid superblock, an impossible field, or a record that cannot be read.
	// Errors that wrap it are *CorruptError values carrying the offset.
	ErrCorrupt = errors.New("daxkv: corrupt pool")

	// ErrVersion is returned when the pool was written by a newer format
	// version than this code reads.
	ErrVersion = errors.New("daxkv: unsupported pool format version")
)

// CorruptError describes a corruption found at a byte offset of the pool.
type CorruptError struct {
	Off    int64  // byte offset from the start of the pool
	Reason string // what is wrong there
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("daxkv: corrupt pool at offset %d: %s", e.Off, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

func corruptf(off int64, format string, args ...any) error {
	return &CorruptError{Off: off, Reason: fmt.Sprintf(format, args...)}
}
