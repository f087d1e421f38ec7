//go:build linux

package daxmap

import (
	"bytes"
	"os"
	"runtime/debug"
	"testing"
)

// readFault reads every byte of b and returns the panic a fault caused,
// or nil, and whether every byte read was zero.
func readFault(b []byte) (fault any, zero bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() { fault = recover() }()
	return nil, bytes.Count(b, []byte{0}) == len(b)
}

// CloseToZeros: a slice of the pool taken before reads zeros after, the
// file keeps its bytes, and the returned function gives the range back
// (a read then faults); calling it again does nothing. Close after it
// does nothing either.
func TestCloseToZeros(t *testing.T) {
	path := poolPath(t)
	m, err := Open(path, Options{Size: 2 * testChunk, ChunkSize: testChunk})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Fault(0); err != nil {
		t.Fatal(err)
	}
	if err := m.Grow(4 * testChunk); err != nil { // a range mapped by Grow too
		t.Fatal(err)
	}
	if err := m.Fault(3); err != nil {
		t.Fatal(err)
	}
	b := m.Bytes()
	fill(b[:testChunk], 7)
	fill(b[3*testChunk:], 9)
	want := bytes.Clone(b)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	unmap, err := m.CloseToZeros()
	if err != nil {
		t.Fatal(err)
	}
	if fault, zero := readFault(b); fault != nil || !zero {
		t.Fatalf("after CloseToZeros a slice taken before: fault %v, all zeros %v", fault, zero)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close after CloseToZeros: %v", err)
	}
	if u, err := m.CloseToZeros(); err != nil || u() != nil {
		t.Errorf("CloseToZeros again: %v", err)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
		t.Errorf("the file after CloseToZeros: %d bytes, %v; equal to what was written: %v", len(got), err, bytes.Equal(got, want))
	}
	m2 := mustOpen(t, path, Options{ChunkSize: testChunk}) // the lock went with the close
	if !bytes.Equal(m2.Bytes(), want) {
		t.Error("a reopen does not read what was written")
	}
	if err := unmap(); err != nil {
		t.Fatal(err)
	}
	// The range is given back: its lowest page (a mapping made since, at
	// the top of the hole, would not reach it) faults.
	if fault, _ := readFault(b[:1]); fault == nil {
		t.Error("the range still reads after unmap")
	}
	if err := unmap(); err != nil {
		t.Errorf("a second unmap: %v", err)
	}
}
