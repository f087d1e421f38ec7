package kv

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/daxkv/daxkv/recovery"
)

// buildIndex builds the index of the live records list (in key order), at
// the end of an open: from the index checkpoint, or from the winners the
// scan streamed. workers goroutines compute the items and the key hashes over parts of
// list, then fill the hash table a range of shards each, every shard's
// inserts together (a shard's table fits in the cache, where inserts in
// key order miss on every one). The tree is filled in the background, as
// after a scan. Long keys are read from mem, each worker under its own
// guard: a memory fault returns an error wrapping ErrCorrupt.
func buildIndex(mem []byte, view func() []byte, list []recovery.Listed, workers int) (*index, error) {
	n := len(list)
	workers, part := recovery.WorkParts(n, workers)
	items := make([]item, n)
	pairs := make([]uint64, 2*n) // (stored hash, ref), grouped by shard below
	counts := make([][hashShards]int, workers)
	errs := make([]error, workers)
	recovery.Parallel(workers, func(w int) {
		errs[w] = recovery.Guard(mem, func() error {
			return hashItems(mem, list[w*part:min((w+1)*part, n)], items[w*part:], pairs[2*w*part:], &counts[w])
		})
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Each worker's pairs go, in order, to its place in each shard's run.
	starts := make([][hashShards]int, workers)
	var runs [hashShards + 1]int
	off := 0
	for s := range hashShards {
		runs[s] = off
		for w := range workers {
			starts[w][s] = off
			off += counts[w][s]
		}
	}
	runs[hashShards] = off
	grouped := make([]uint64, 2*n)
	recovery.Parallel(workers, func(w int) {
		next := starts[w]
		for i := w * part; i < min((w+1)*part, n); i++ {
			h := pairs[2*i]
			s := h >> (64 - hashShardBits)
			grouped[2*next[s]], grouped[2*next[s]+1] = h, pairs[2*i+1]
			next[s]++
		}
	})
	x := &index{view: view, tree: newTree(), hash: newHashTable(n)}
	added := make([]int, workers)
	shardPart := (hashShards + workers - 1) / workers
	recovery.Parallel(workers, func(w int) {
		for s := w * shardPart; s < min((w+1)*shardPart, hashShards); s++ {
			sh := &x.hash.shards[s]
			tab := sh.tab.Load()
			for j := runs[s]; j < runs[s+1]; j++ {
				h, ref := grouped[2*j], grouped[2*j+1]
				if _, dup, _ := tab.probe(h); dup {
					ref = refAmbiguous // two present keys share the hash
				}
				if sh.set(h, ref) {
					added[w]++
				}
				tab = sh.tab.Load()
			}
		}
	})
	for _, a := range added {
		x.hash.n += a
	}
	x.startFill(items)
	return x, nil
}

// hashItems fills items and pairs (hash, ref) for the lines of list, and
// counts the hashes per shard. A line whose key would lie outside mem is
// an error (the list may not be verified yet).
func hashItems(mem []byte, list []recovery.Listed, items []item, pairs []uint64, counts *[hashShards]int) error {
	var kb [16]byte
	for i := range list {
		l := &list[i]
		it := item{p0: l.P0, p1: l.P1, ref: l.Ref}
		var key []byte
		if kl := int64(l.KeyLen()); kl > 16 {
			off := l.Off()
			if off < 0 || off+recovery.HeaderSize+kl > int64(len(mem)) {
				return fmt.Errorf("%w: key at offset %d lies outside the pool", recovery.ErrStaleCheckpoint, off)
			}
			key = mem[off+recovery.HeaderSize : off+recovery.HeaderSize+kl]
			rest := string(key[16:])
			it.rest = &rest
		} else {
			binary.BigEndian.PutUint64(kb[0:], l.P0)
			binary.BigEndian.PutUint64(kb[8:], l.P1)
			key = kb[:kl]
		}
		items[i] = it
		h := stored(hashKey(key))
		pairs[2*i], pairs[2*i+1] = h, it.ref
		counts[h>>(64-hashShardBits)]++
	}
	return nil
}
