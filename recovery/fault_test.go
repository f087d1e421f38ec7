package recovery

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/daxkv/daxkv/daxmap"
)

// TestScanFaultIsAnError truncates a mapped pool file underneath and runs
// Recover and Check on the mapping: the scan workers, the merges and the
// caller's goroutine all read the lost range, and each must turn the
// resulting memory fault into an error wrapping ErrCorrupt with the offset,
// never a fatal fault of the process (as it was before: the workers ran
// without a guard).
func TestScanFaultIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pool")
	m, err := daxmap.Open(path, daxmap.Options{Size: 4 * testChunk, ChunkSize: testChunk, Sync: daxmap.SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for c := int64(0); c < 4; c++ {
		if err := m.Fault(c); err != nil {
			t.Fatal(err)
		}
	}
	mem := m.Bytes()
	p := &memPersister{}
	sb, err := Format(mem, p, testChunk, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCodec(&sb)
	for i, off := 0, int64(HeapStart); off+1024 < int64(len(mem)); i, off = i+1, off+1024 {
		if off/testChunk != (off+1024)/testChunk {
			continue
		}
		key := fmt.Appendf(nil, "a-rather-long-key-%06d", i)
		c.Write(p, mem[off:off+RecordSize(len(key), 900)], off, TagLive, uint64(i+1), 0, key, make([]byte, 900))
	}
	if res, err := Recover(mem, int64(len(mem)), &sb, nil, Scan{Workers: 2}); err != nil || len(res.Live) < 200 {
		t.Fatalf("before the truncation: %v, %v", res, err)
	}
	if err := os.Truncate(path, testChunk); err != nil {
		t.Fatal(err)
	}
	for _, workers := range []int{1, 2, 4} {
		_, err := Recover(mem, int64(len(mem)), &sb, nil, Scan{Workers: workers})
		checkFault(t, fmt.Sprintf("Recover with %d workers", workers), err)
		_, err = Check(mem, int64(len(mem)), Scan{Workers: workers})
		checkFault(t, fmt.Sprintf("Check with %d workers", workers), err)
	}
}

func checkFault(t *testing.T, what string, err error) {
	t.Helper()
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("%s on a truncated mapping: %v, want a CorruptError", what, err)
	}
	if ce.Off < testChunk || ce.Off >= 4*testChunk {
		t.Fatalf("%s: fault reported at offset %d, outside the lost range", what, ce.Off)
	}
}
