//go:build linux

package daxmap

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"testing"
)

// readAt reads byte off of the pool the way the store's entry points do.
func readAt(m *Map, off int64) (b byte, err error) {
	defer m.Guard(debug.SetPanicOnFault(true), &err)
	return m.Bytes()[off], nil
}

func TestGuardTruncatedFile(t *testing.T) {
	path := poolPath(t)
	m := mustOpen(t, path, Options{Size: 4 * testChunk, ChunkSize: testChunk})
	for c := range int64(3) {
		if err := m.Fault(c); err != nil {
			t.Fatal(err)
		}
	}
	m.Bytes()[10] = 42
	m.Bytes()[2*testChunk+10] = 43

	// Another program cuts the file under the mapping.
	if err := os.Truncate(path, testChunk); err != nil {
		t.Fatal(err)
	}
	if b, err := readAt(m, 10); err != nil || b != 42 {
		t.Fatalf("read inside the file: %d, %v; want 42", b, err)
	}
	off := int64(2*testChunk + 10)
	_, err := readAt(m, off)
	if !errors.Is(err, ErrFault) {
		t.Fatalf("read past the new end: %v, want ErrFault", err)
	}
	if want := fmt.Sprintf("offset %d", off); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	// Fault reads the chunk under the guard too.
	if err := m.Fault(3); !errors.Is(err, ErrFault) {
		t.Errorf("Fault of a chunk past the new end: %v, want ErrFault", err)
	}
	if m.Backed(3) {
		t.Error("a chunk that faulted is marked backed")
	}
}

func TestGuardRestoresPanicOnFault(t *testing.T) {
	m := mustOpen(t, poolPath(t), Options{Size: testChunk, ChunkSize: testChunk})
	for _, prev := range []bool{false, true} {
		debug.SetPanicOnFault(prev)
		if _, err := readAt(m, 0); err != nil {
			t.Fatal(err)
		}
		if got := debug.SetPanicOnFault(false); got != prev {
			t.Errorf("after Guard SetPanicOnFault is %v, want the previous %v", got, prev)
		}
	}
}

func TestGuardPassesOtherPanics(t *testing.T) {
	m := mustOpen(t, poolPath(t), Options{Size: testChunk, ChunkSize: testChunk})
	var nilMap map[string]int
	var nilPtr *int
	tests := []struct {
		name string
		fn   func()
	}{
		{"value", func() { panic("boom") }},
		{"nil map write", func() { nilMap["x"] = 1 }},
		{"nil pointer", func() { *nilPtr = 1 }},
		{"index", func() { _ = m.Bytes()[testChunk] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			guarded := func() (err error) {
				defer m.Guard(debug.SetPanicOnFault(true), &err)
				tt.fn()
				return nil
			}
			var err error
			r := func() (r any) {
				defer func() { r = recover() }()
				err = guarded()
				return nil
			}()
			if r == nil {
				t.Fatalf("the panic was swallowed; err = %v", err)
			}
			if e, ok := r.(error); ok && errors.Is(e, ErrFault) {
				t.Fatalf("re-panicked with a fault error: %v", e)
			}
			if tt.name == "value" && r != "boom" {
				t.Errorf("recovered %v, want the original value", r)
			}
			if debug.SetPanicOnFault(false) {
				t.Error("SetPanicOnFault left on after a passed-through panic")
			}
		})
	}
}

func TestGuardFaultOutsideReservation(t *testing.T) {
	m := mustOpen(t, poolPath(t), Options{Size: testChunk, ChunkSize: testChunk})
	err := m.faultError(1)
	if !errors.Is(err, ErrFault) || strings.Contains(err.Error(), "offset") {
		t.Errorf("fault outside the reservation: %v", err)
	}
	err = m.faultError(addrOf(m.base) + 12345)
	if !errors.Is(err, ErrFault) || !strings.Contains(err.Error(), "offset 12345") {
		t.Errorf("fault inside the reservation: %v", err)
	}
}
