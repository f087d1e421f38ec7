package alloc

import "math/bits"

// A bitmap holds one bit per Unit of the pool, bit u%64 of word u/64 for unit
// u. Since a chunk is at least 1024 Units, each chunk owns whole words.
type bitmap []uint64

// mask returns the bits of word u/64 that units [u, u+n) cover, and how many
// of the n units that is.
func mask(u, n int) (uint64, int) {
	s := u & 63
	k := min(n, 64-s)
	if k == 64 {
		return ^uint64(0), k
	}
	return (uint64(1)<<k - 1) << s, k
}

// set marks units [u, u+n).
func (m bitmap) set(u, n int) {
	for n > 0 {
		x, k := mask(u, n)
		m[u>>6] |= x
		u, n = u+k, n-k
	}
}

// clear unmarks units [u, u+n).
func (m bitmap) clear(u, n int) {
	for n > 0 {
		x, k := mask(u, n)
		m[u>>6] &^= x
		u, n = u+k, n-k
	}
}

// anySet reports whether any of units [u, u+n) is marked.
func (m bitmap) anySet(u, n int) bool {
	for n > 0 {
		x, k := mask(u, n)
		if m[u>>6]&x != 0 {
			return true
		}
		u, n = u+k, n-k
	}
	return false
}

// allSet reports whether every one of units [u, u+n) is marked.
func (m bitmap) allSet(u, n int) bool {
	for n > 0 {
		x, k := mask(u, n)
		if m[u>>6]&x != x {
			return false
		}
		u, n = u+k, n-k
	}
	return true
}

// nextZero returns the first unmarked unit at or after u, or len(m)*64.
func (m bitmap) nextZero(u int) int {
	w := u >> 6
	if w >= len(m) {
		return len(m) * 64
	}
	if x := ^m[w] >> (u & 63); x != 0 {
		return u + bits.TrailingZeros64(x)
	}
	for w++; w < len(m); w++ {
		if x := ^m[w]; x != 0 {
			return w*64 + bits.TrailingZeros64(x)
		}
	}
	return len(m) * 64
}

// nextOne returns the first marked unit at or after u, or len(m)*64.
func (m bitmap) nextOne(u int) int {
	w := u >> 6
	if w >= len(m) {
		return len(m) * 64
	}
	if x := m[w] >> (u & 63); x != 0 {
		return u + bits.TrailingZeros64(x)
	}
	for w++; w < len(m); w++ {
		if x := m[w]; x != 0 {
			return w*64 + bits.TrailingZeros64(x)
		}
	}
	return len(m) * 64
}

// count returns the number of marked units.
func (m bitmap) count() int {
	n := 0
	for _, x := range m {
		n += bits.OnesCount64(x)
	}
	return n
}
