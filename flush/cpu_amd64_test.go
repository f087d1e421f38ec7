//go:build amd64

package flush

import (
	"bytes"
	"testing"
)

// TestCopyNTSplit calls the assembly copy directly at every destination
// alignment and checks the head and tail it reports and every byte it
// writes.
func TestCopyNTSplit(t *testing.T) {
	region, _ := mapFile(t, 4096)
	guard := make([]byte, len(region))
	fill(guard, 0x5a)
	src := make([]byte, 1024)
	fill(src, 1)
	for off := 0; off < 64; off++ {
		for n := 128; n <= 600; n += 1 + n%7 {
			copy(region, guard)
			dst := region[off : off+n]
			head, tail := copyNT(ptr(dst), ptr(src), uintptr(n))
			wantHead := (64 - int(addr(dst)%64)) % 64
			wantTail := (n - wantHead) % 64
			if int(head) != wantHead || int(tail) != wantTail {
				t.Fatalf("off %d n %d: head, tail = %d, %d; want %d, %d", off, n, head, tail, wantHead, wantTail)
			}
			if !bytes.Equal(dst, src[:n]) {
				t.Fatalf("off %d n %d: copied bytes differ", off, n)
			}
			if !bytes.Equal(region[:off], guard[:off]) || !bytes.Equal(region[off+n:], guard[off+n:]) {
				t.Fatalf("off %d n %d: bytes outside dst changed", off, n)
			}
		}
	}
	sfence()
}
