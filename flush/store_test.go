package flush

import (
	"encoding/binary"
	"testing"
)

func TestStore64(t *testing.T) {
	buf := make([]byte, 32)
	base := (8 - int(addr(buf)%8)) % 8
	w := buf[base+8 : base+24]
	Store64(w, 0x0102030405060708)
	if got := binary.LittleEndian.Uint64(w); got != 0x0102030405060708 {
		t.Fatalf("stored %#x, want 0x0102030405060708 little-endian", got)
	}
	for i, c := range buf {
		if (i < base+8 || i >= base+16) && c != 0 {
			t.Fatalf("byte %d outside the word changed", i)
		}
	}
	mustPanic(t, func() { Store64(buf[base+1:], 1) })
	defer func() {
		if recover() == nil {
			t.Fatal("Store64 on a 7-byte slice did not panic")
		}
	}()
	Store64(w[:7], 1)
}
