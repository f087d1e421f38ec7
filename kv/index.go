package kv

import (
	"cmp"
	"strings"

	"github.com/google/btree"

	"github.com/daxkv/daxkv/recovery"
)

// item is one index entry: 40 bytes, with the first 16 key bytes inline so
// that nearly every comparison is two integer compares and touches no other
// memory. rest holds the key bytes past 16 (empty for short keys, the common
// case, which then cost no allocation). ref packs the record offset and the
// key length.
type item struct {
	p0, p1 uint64 // key bytes [0,16), big-endian, zero padded
	ref    uint64 // offset<<16 | key length
	rest   string // key bytes [16:]
}

const refKeyBits = 16

func makeItem(key []byte, off int64) item {
	p0, p1 := recovery.Prefix(key)
	it := item{p0: p0, p1: p1, ref: uint64(off)<<refKeyBits | uint64(len(key))}
	if len(key) > 16 {
		it.rest = string(key[16:])
	}
	return it
}

// probe builds a search item for key. Keys longer than 16 bytes cost one
// small allocation per lookup (the tail copied into rest); shorter keys none.
func probe(key []byte) item { return makeItem(key, 0) }

func (it item) off() int64  { return int64(it.ref >> refKeyBits) }
func (it item) keyLen() int { return int(it.ref & (1<<refKeyBits - 1)) }
func (it item) withOff(off int64) item {
	it.ref = uint64(off)<<refKeyBits | it.ref&(1<<refKeyBits-1)
	return it
}

// lessItem orders items by key bytes (see makeItem for why this equals
// bytes.Compare of the full keys: zero padding ties are broken by rest, then
// by length).
func lessItem(a, b item) bool {
	if a.p0 != b.p0 {
		return a.p0 < b.p0
	}
	if a.p1 != b.p1 {
		return a.p1 < b.p1
	}
	if c := strings.Compare(a.rest, b.rest); c != 0 {
		return c < 0
	}
	return cmp.Less(a.keyLen(), b.keyLen())
}

// indexDegree is the B-tree degree: nodes of up to 63 items of 40 bytes.
const indexDegree = 32

func newIndex() *btree.BTreeG[item] { return btree.NewG(indexDegree, lessItem) }
