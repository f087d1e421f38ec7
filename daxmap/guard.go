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
	addr, ok := faultAddress(r)
	if !ok || err == nil {
		panic(r)
	}
	*err = m.faultError(addr)
}

// faultAddress returns the faulting address of r, a recovered panic, if it
// is a memory fault (a runtime.Error carrying the address).
func faultAddress(r any) (uintptr, bool) {
	f, ok := r.(interface {
		runtime.Error
		Addr() uintptr
	})
	if !ok {
		return 0, false
	}
	return f.Addr(), true
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

// FaultError is a memory fault caught by Catch.
type FaultError struct {
	// Off is the faulting address's offset from the start of the slice
	// Catch was given, or -1 when the address lies outside it.
	Off int64
	// Addr is the faulting address.
	Addr uintptr
}

func (e *FaultError) Error() string {
	if e.Off < 0 {
		return fmt.Sprintf("%v: address %#x is outside the mapping", ErrFault, e.Addr)
	}
	return fmt.Sprintf("%v at offset %d", ErrFault, e.Off)
}

// Unwrap makes errors.Is(err, ErrFault) true.
func (e *FaultError) Unwrap() error { return ErrFault }

// Catch calls fn with memory faults turned into errors, for code that
// reads a mapping without a Map at hand (package recovery) and for every
// goroutine that touches one: SetPanicOnFault is per goroutine, so a
// worker goroutine that reads the mapping without its own guard turns a bad
// block or a truncated file into a fatal fault of the whole process. A
// fault during fn is returned as a *FaultError with the offset from the
// start of mem; any other panic is re-panicked.
func Catch(mem []byte, fn func() error) (err error) {
	defer catch(mem, debug.SetPanicOnFault(true), &err)
	return fn()
}

// catch is Catch's deferred half; it must be deferred directly because it
// calls recover.
func catch(mem []byte, prev bool, err *error) {
	debug.SetPanicOnFault(prev)
	r := recover()
	if r == nil {
		return
	}
	addr, ok := faultAddress(r)
	if !ok {
		panic(r)
	}
	fe := &FaultError{Off: -1, Addr: addr}
	if base := sliceAddr(mem); len(mem) > 0 && fe.Addr >= base && fe.Addr-base < uintptr(len(mem)) {
		fe.Off = int64(fe.Addr - base)
	}
	*err = fe
}
