package daxmap

import "sync/atomic"

// leafBits is the number of chunks one leaf of a bitmap covers.
const leafBits = 1 << 12

// leaf is one lazily allocated piece of a bitmap.
type leaf [leafBits / 64]atomic.Uint64

// bitmap is a fixed-length set of bits, safe for concurrent use without a
// lock. Its leaves are allocated on first set, so a bitmap sized for a whole
// reservation (up to 2^24 chunks of 64 KiB in 1 TiB) costs only its leaf
// pointers (8 bytes per 4096 chunks) until chunks are marked.
type bitmap struct {
	n      int64
	leaves []atomic.Pointer[leaf]
}

func newBitmap(n int64) bitmap {
	return bitmap{n: n, leaves: make([]atomic.Pointer[leaf], (n+leafBits-1)/leafBits)}
}

// get reports whether bit i is set; i must be in [0, n).
func (b *bitmap) get(i int64) bool {
	l := b.leaves[i/leafBits].Load()
	return l != nil && l[i%leafBits/64].Load()&(1<<(i%64)) != 0
}

// set sets bit i; i must be in [0, n).
func (b *bitmap) set(i int64) {
	p := &b.leaves[i/leafBits]
	l := p.Load()
	if l == nil {
		p.CompareAndSwap(nil, new(leaf)) // losing the race is fine: Load returns the winner
		l = p.Load()
	}
	l[i%leafBits/64].Or(1 << (i % 64))
}

// clear clears bit i; i must be in [0, n).
func (b *bitmap) clear(i int64) {
	if l := b.leaves[i/leafBits].Load(); l != nil {
		l[i%leafBits/64].And(^uint64(1 << (i % 64)))
	}
}
