package recovery

import (
	"errors"

	"github.com/daxkv/daxkv/daxmap"
)

// Guard calls fn with memory faults turned into errors: a fault reading
// mem (a bad block of persistent memory, or the pool file truncated
// underneath the mapping) becomes a CorruptError at the fault's offset
// instead of killing the process. The guard is per goroutine, so every
// goroutine that reads the pool must run its work under one (package kv
// uses it for its index builders).
func Guard(mem []byte, fn func() error) error {
	err := daxmap.Catch(mem, fn)
	var fe *daxmap.FaultError
	if errors.As(err, &fe) {
		return &CorruptError{Off: fe.Off, Reason: "memory fault reading the pool (a bad block, or the file truncated underneath)"}
	}
	return err
}

// firstError collects the first error of several goroutines.
type firstError struct {
	ch chan error
}

func newFirstError() firstError { return firstError{ch: make(chan error, 1)} }

// set records err if it is the first.
func (f firstError) set(err error) {
	if err == nil {
		return
	}
	select {
	case f.ch <- err:
	default:
	}
}

// get returns the first error recorded, or nil; call it after the
// goroutines are done.
func (f firstError) get() error {
	select {
	case err := <-f.ch:
		return err
	default:
		return nil
	}
}
