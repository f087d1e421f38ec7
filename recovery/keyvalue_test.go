package recovery

import (
	"encoding/binary"
	"math"
	"testing"
)

// oldKeyValue is KeyValue as it was before it was made inlinable: the
// reference the new one must agree with.
func oldKeyValue(mem []byte, off int64, keyLen int) (key, value []byte, ok bool) {
	if off < 0 || off > int64(len(mem))-HeaderSize {
		return nil, nil, false
	}
	h := mem[off : off+HeaderSize]
	kl := int64(binary.LittleEndian.Uint16(h[16:]))
	vl := int64(binary.LittleEndian.Uint32(h[20:]))
	k := off + HeaderSize
	if kl != int64(keyLen) || k+kl+vl > int64(len(mem)) {
		return nil, nil, false
	}
	return mem[k : k+kl], mem[k+kl : k+kl+vl], true
}

// TestKeyValueBounds compares the new KeyValue with the old one on
// offsets and lengths at and past every edge, and checks that it never
// panics.
func TestKeyValueBounds(t *testing.T) {
	for _, size := range []int{0, 1, 23, 24, 25, 63, 64, 200, 4096} {
		mem := make([]byte, size)
		offs := []int64{-1, math.MinInt64, math.MaxInt64, math.MaxInt64 - 7, 0, 1, int64(size) - 24, int64(size) - 23, int64(size) - 25, int64(size), int64(size) + 1, 1 << 48}
		kls := []int{-1, 0, 1, 5, 16, 65535, 65536, 1 << 20, math.MaxInt, math.MinInt}
		vls := []uint32{0, 1, 7, 100, math.MaxUint32, math.MaxUint32 - 30}
		for _, off := range offs {
			for _, hkl := range []uint16{0, 1, 5, 16, 65535} {
				for _, vl := range vls {
					for i := range mem {
						mem[i] = 0
					}
					if off >= 0 && off <= int64(size)-24 {
						binary.LittleEndian.PutUint16(mem[off+16:], hkl)
						binary.LittleEndian.PutUint16(mem[off+18:], 0xffff)
						binary.LittleEndian.PutUint32(mem[off+20:], vl)
					}
					for _, kl := range kls {
						var k, v []byte
						var ok bool
						func() {
							defer func() {
								if r := recover(); r != nil {
									t.Fatalf("KeyValue(len %d, off %d, keyLen %d; header kl %d vl %d) panicked: %v", size, off, kl, hkl, vl, r)
								}
							}()
							k, v, ok = KeyValue(mem, off, kl)
						}()
						ok0 := false
						var k0, v0 []byte
						func() {
							defer func() { recover() }()
							k0, v0, ok0 = oldKeyValue(mem, off, kl)
						}()
						if ok != ok0 || len(k) != len(k0) || len(v) != len(v0) {
							t.Fatalf("KeyValue(len %d, off %d, keyLen %d; header kl %d vl %d) = %d,%d,%v; before %d,%d,%v", size, off, kl, hkl, vl, len(k), len(v), ok, len(k0), len(v0), ok0)
						}
						if ok && len(k) > 0 && &k[0] != &mem[off+24] {
							t.Fatal("key slice misplaced")
						}
					}
				}
			}
		}
	}
}
