package flush

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// usableMethods returns the CPU methods the tests may execute: those the CPU
// has, no stronger than what Detect picks. Under qemu-user, DAXKV_FLUSH=cvac
// keeps DC CVAP (which raises SIGILL there) out of the list.
func usableMethods() []Method {
	best := Detect()
	var ms []Method
	for m := MethodCLFLUSH; m <= MethodDCCVAP; m++ {
		if Available(m) && m <= best {
			ms = append(ms, m)
		}
	}
	return ms
}

func requireMethods(t *testing.T) []Method {
	t.Helper()
	ms := usableMethods()
	if len(ms) == 0 {
		t.Skipf("no CPU flush method usable (detected %v)", Detect())
	}
	return ms
}

func fill(b []byte, seed byte) {
	for i := range b {
		b[i] = seed + byte(i*7+i>>8)
	}
}

// mustPanic runs f and fails unless it panics with an assertion message.
func mustPanic(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatal("no panic")
		}
		if s := fmt.Sprint(r); !strings.HasPrefix(s, "daxkv: assertion failed: ") {
			t.Fatalf("panic %q, want a daxkv assertion", s)
		}
	}()
	f()
}

// TestFlushMethods runs every usable method over ranges of every alignment
// and checks that a write-back never changes memory.
func TestFlushMethods(t *testing.T) {
	region, _ := mapFile(t, 4*4096)
	fill(region, 3)
	want := bytes.Clone(region)
	for _, m := range requireMethods(t) {
		t.Run(m.String(), func(t *testing.T) {
			p := NewCPU(m)
			for _, off := range []int{0, 1, 31, 63, 64, 65, 4095, 4096} {
				for _, n := range []int{0, 1, 2, 63, 64, 65, 127, 128, 129, 4096, 8191} {
					FlushLines(m, region[off:off+n])
					p.Flush(region[off : off+n])
				}
			}
			Fence()
			if err := p.Drain(); err != nil {
				t.Fatalf("Drain: %v", err)
			}
			if !bytes.Equal(region, want) {
				t.Fatal("flushing changed memory")
			}
			// The last byte of the mapping: the loop must stop at its line.
			p.Flush(region[len(region)-1:])
			if err := p.Drain(); err != nil {
				t.Fatalf("Drain: %v", err)
			}
		})
	}
}

func TestNewCPURejects(t *testing.T) {
	mustPanic(t, func() { NewCPU(MethodNone) })
	mustPanic(t, func() { NewCPU(Method(99)) })
	mustPanic(t, func() { FlushLines(MethodNone, make([]byte, 1)) })
	for m := MethodCLFLUSH; m <= MethodDCCVAP; m++ {
		if !Available(m) {
			mustPanic(t, func() { NewCPU(m) })
		}
	}
}

// copySizes are the Copy sizes tested: every size up to a bit past
// NTThreshold, then a spread up to 4 KiB.
func copySizes() []int {
	var s []int
	for n := 0; n <= NTThreshold+70; n++ {
		s = append(s, n)
	}
	for n := NTThreshold + 71; n < 4096; n += 61 {
		s = append(s, n)
	}
	return append(s, 511, 512, 513, 1023, 1024, 4095, 4096)
}

// checkCopy fills region with a guard pattern, copies n bytes from src into
// region[off:] through p, and checks the copy and every byte around it.
func checkCopy(t *testing.T, p Persister, region, guard, src []byte, off, n int) {
	t.Helper()
	copy(region, guard)
	p.Copy(region[off:off+n], src[:n])
	if err := p.Drain(); err != nil {
		t.Fatalf("off %d n %d: Drain: %v", off, n, err)
	}
	if !bytes.Equal(region[off:off+n], src[:n]) {
		t.Fatalf("off %d n %d: copied bytes differ", off, n)
	}
	if !bytes.Equal(region[:off], guard[:off]) || !bytes.Equal(region[off+n:], guard[off+n:]) {
		t.Fatalf("off %d n %d: bytes outside dst changed", off, n)
	}
}

func TestCopySizesAndAlignments(t *testing.T) {
	const size = 3 * 4096
	region, _ := mapFile(t, size)
	guard := make([]byte, size)
	fill(guard, 0xa5)
	srcBuf := make([]byte, 4096+64)
	fill(srcBuf, 17)
	persisters := map[string]Persister{"msync": NewMsync(region)}
	for _, m := range usableMethods() {
		persisters[m.String()] = NewCPU(m)
	}
	for name, p := range persisters {
		t.Run(name, func(t *testing.T) {
			for _, dstOff := range []int{0, 1, 7, 8, 15, 16, 33, 63, 64, 4095} {
				for _, srcOff := range []int{0, 3, 16} {
					src := srcBuf[srcOff:]
					for _, n := range copySizes() {
						checkCopy(t, p, region, guard, src, dstOff, n)
					}
				}
			}
		})
	}
}

func TestCopyUnequalLengths(t *testing.T) {
	region, _ := mapFile(t, 8192)
	src := make([]byte, 1000)
	fill(src, 9)
	persisters := map[string]Persister{"msync": NewMsync(region)}
	for _, m := range usableMethods() {
		persisters[m.String()] = NewCPU(m)
	}
	for name, p := range persisters {
		t.Run(name, func(t *testing.T) {
			clear(region)
			// dst shorter than src: len(dst) bytes.
			p.Copy(region[100:400], src)
			// src shorter than dst: len(src) bytes, rest untouched.
			p.Copy(region[2000:5000], src[:700])
			if err := p.Drain(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(region[100:400], src[:300]) || !bytes.Equal(region[2000:2700], src[:700]) {
				t.Fatal("copied bytes differ")
			}
			if bytes.ContainsFunc(region[:100], nonZero) || bytes.ContainsFunc(region[400:2000], nonZero) ||
				bytes.ContainsFunc(region[2700:], nonZero) {
				t.Fatal("bytes outside the copies changed")
			}
		})
	}
}

func nonZero(r rune) bool { return r != 0 }

// TestCopyOverlap checks that overlapping slices get copy semantics, which a
// forward non-temporal copy alone would break.
func TestCopyOverlap(t *testing.T) {
	region, _ := mapFile(t, 8192)
	for _, m := range requireMethods(t) {
		t.Run(m.String(), func(t *testing.T) {
			p := NewCPU(m)
			for _, shift := range []int{-100, -1, 1, 64, 100} {
				fill(region, 1)
				want := bytes.Clone(region)
				copy(want[1000+shift:1000+shift+1024], want[1000:2024])
				p.Copy(region[1000+shift:1000+shift+1024], region[1000:2024])
				if err := p.Drain(); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(region, want) {
					t.Fatalf("shift %d: overlapping copy differs from copy()", shift)
				}
			}
		})
	}
}

func TestCounting(t *testing.T) {
	region, _ := mapFile(t, 4096)
	c := &Counting{P: NewMsync(region)}
	c.Flush(region[:10])
	c.Flush(region[10:20])
	c.Copy(region[100:], []byte("abc"))
	if err := c.Drain(); err != nil {
		t.Fatal(err)
	}
	if f, cp, d := c.Flushes.Load(), c.Copies.Load(), c.Drains.Load(); f != 2 || cp != 1 || d != 1 {
		t.Fatalf("counted %d flushes, %d copies, %d drains; want 2, 1, 1", f, cp, d)
	}
	if string(region[100:103]) != "abc" {
		t.Fatal("Copy was not forwarded")
	}
}
