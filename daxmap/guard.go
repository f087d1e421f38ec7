package daxmap

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Guard turns a memory fault during an access to the mapping into an error
// instead of a crash. A file truncated by another program raises SIGBUS on
// access past its new end, and so does a bad block of persistent memory.
// Every entry point that touches the mapping uses it as
//
//	func (db *DB) get(...) (..., err error) {
//		defer m.Guard(debug.SetPanicOnFault(true), &err)
//		... read or write through m.Bytes() ...
//	}
//
// It must be deferred directly, as above (not called from inside a deferred
// closure), because it calls recover. It restores the goroutine's previous
// SetPanicOnFault setting, then recovers: a fault panic (a runtime.Error
// carrying the faulting address) becomes an error wrapping ErrFault in *err,
// with the pool offset when the address lies inside the reservation; any
// other panic, or a fault with err nil, is re-panicked.
func (m *Map) Guard(prev bool, err *error) {
	debug.SetPanicOnFault(prev)
	r := recover()
	if r == nil {
		return
	}
	f, ok := r.(interface {
		runtime.Error
		Addr() uintptr
	})
	if !ok || err == nil {
		panic(r)
	}
	*err = m.faultError(f.Addr())
}

// faultError describes a memory fault at address addr.
func (m *Map) faultError(addr uintptr) error {
	base := addrOf(m.base)
	fault := ErrFault
	if m.faultAlso != nil {
		fault = fmt.Errorf("%w: %w", m.faultAlso, ErrFault)
	}
	if addr >= base && addr-base < uintptr(len(m.region)) {
		return fmt.Errorf("%w at offset %d of %s", fault, addr-base, m.path)
	}
	return fmt.Errorf("%w: address %#x is outside the pool's reservation", fault, addr)
}
