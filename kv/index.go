package kv

import (
	"bytes"
	"cmp"
	"strings"
	"sync"

	"github.com/cespare/xxhash/v2"
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

func newTree() *btree.BTreeG[item] { return btree.NewG(indexDegree, lessItem) }

// refAmbiguous marks a hash shared by two present keys: lookups of that hash
// go to the B-tree.
const refAmbiguous = ^uint64(0)

// index maps keys to records. The B-tree orders them (Scan); the hash map,
// xxhash64(key) -> ref, answers point lookups in about one cache miss
// instead of one per B-tree level. Invariant: a present key's hash is in
// hash, holding the key's ref or refAmbiguous; a hash not in the map
// belongs to no present key.
type index struct {
	mu   sync.RWMutex        // protects tree and hash
	tree *btree.BTreeG[item] // every present key, ordered
	hash *hashTable          // xxhash64(key) -> ref, or refAmbiguous
}

func newIndex(sizeHint int) *index {
	return &index{tree: newTree(), hash: newHashTable(sizeHint)}
}

func hashKey(key []byte) uint64 { return xxhash.Sum64(key) }

// get finds key (whose hash is h). mem is the mapping, to confirm that a
// hash hit is the key itself.
func (x *index) get(key []byte, h uint64, mem []byte) (item, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.getLocked(key, h, mem)
}

func (x *index) getLocked(key []byte, h uint64, mem []byte) (item, bool) {
	ref, ok := x.hash.get(h)
	if !ok {
		return item{}, false
	}
	if ref == refAmbiguous {
		return x.tree.Get(probe(key))
	}
	// The item carries only ref: callers need the record's place, not
	// the key they already have.
	it := item{ref: ref}
	off := it.off()
	if it.keyLen() != len(key) || !bytes.Equal(mem[off+recovery.HeaderSize:off+recovery.HeaderSize+int64(len(key))], key) {
		return item{}, false // another key with the same hash
	}
	return it, true
}

// putLocked inserts or replaces key; it returns the replaced item.
func (x *index) putLocked(key []byte, h uint64, off int64) (item, bool) {
	it := makeItem(key, off)
	old, had := x.tree.ReplaceOrInsert(it)
	switch cur, ok := x.hash.get(h); {
	case !ok:
		x.hash.set(h, it.ref)
	case cur == refAmbiguous:
	case had && cur == old.ref:
		x.hash.set(h, it.ref)
	default:
		x.hash.set(h, refAmbiguous) // a second key with this hash
	}
	return old, had
}

func (x *index) put(key []byte, h uint64, off int64) (item, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.putLocked(key, h, off)
}

// delLocked removes key; an ambiguous hash stays ambiguous (lookups of it
// keep going to the B-tree, which is always right).
func (x *index) delLocked(key []byte, h uint64) (item, bool) {
	old, had := x.tree.Delete(probe(key))
	if cur, ok := x.hash.get(h); had && ok && cur == old.ref {
		x.hash.del(h)
	}
	return old, had
}

func (x *index) del(key []byte, h uint64) (item, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.delLocked(key, h)
}

func (x *index) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.tree.Len()
}

// indexBuild builds the index at open from the winners recovery streams
// in key order: one goroutine fills the B-tree (ordered inserts always
// append at its right edge), another the hash map, both while recovery is
// still deciding later keys.
type indexBuild struct {
	mem   []byte
	x     *index
	tree  chan []recovery.Entry
	hash  chan []recovery.Entry
	wg    sync.WaitGroup
	sized bool
	hint  int // records scanned, an upper bound of the keys: set before the first send
}

func startIndexBuild(mem []byte) *indexBuild {
	b := &indexBuild{mem: mem, x: &index{tree: newTree()},
		tree: make(chan []recovery.Entry, 64), hash: make(chan []recovery.Entry, 64)}
	b.wg.Add(2)
	go func() {
		defer b.wg.Done()
		for batch := range b.tree {
			for i := range batch {
				e := &batch[i]
				b.x.tree.ReplaceOrInsert(makeItem(e.Key(mem), e.Off))
			}
		}
	}()
	go func() {
		defer b.wg.Done()
		for batch := range b.hash {
			if b.x.hash == nil {
				// Sized on the first batch (sent with the record count),
				// before any insert: no rehashing.
				b.x.hash = newHashTable(b.hint)
			}
			for i := range batch {
				e := &batch[i]
				k := e.Key(mem)
				h := hashKey(k)
				ref := uint64(e.Off)<<refKeyBits | uint64(len(k))
				if _, ok := b.x.hash.get(h); ok {
					ref = refAmbiguous
				}
				b.x.hash.set(h, ref)
			}
		}
	}()
	return b
}

// add is recovery.RecoverStream's callback.
func (b *indexBuild) add(batch []recovery.Entry, total int) {
	if !b.sized {
		b.sized = true
		b.hint = total
	}
	b.tree <- batch
	b.hash <- batch
}

// finish waits for both builders and returns the index.
func (b *indexBuild) finish() *index {
	close(b.tree)
	close(b.hash)
	b.wg.Wait()
	if b.x.hash == nil {
		b.x.hash = newHashTable(0)
	}
	return b.x
}
