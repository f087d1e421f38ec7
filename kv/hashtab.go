package kv

import "math"

// hashTable maps a key's 64-bit hash to its record ref. It is split into
// hashShards shards by the hash's top bits, each an open-addressing table
// with linear probing and (hash, ref) pairs side by side in one flat slice,
// so a lookup usually touches one cache line, where a Go map touches
// several. Deletion shifts the following entries back, so there are no
// tombstones.
//
// A shard doubles alone when it fills, so a write that triggers growth
// rehashes 1/hashShards of the table, never all of it: at 1M keys about a
// thousand entries (microseconds), where one flat table stalled the write
// for milliseconds at every doubling.
//
// Not safe for concurrent use: index.mu protects it.
type hashTable struct {
	shards [hashShards]hashShard
	n      int // entries, over all shards
}

type hashShard struct {
	slots []uint64 // slots[2i] = hash (0: empty), slots[2i+1] = ref
	mask  uint64   // capacity in pairs - 1 (a power of two)
	n     int      // entries
}

const (
	hashShardBits = 10
	hashShards    = 1 << hashShardBits
	// minShardPairs is a new shard's capacity: 1024 shards of 8 pairs
	// cost 128 KiB.
	minShardPairs = 8
)

// maxLoad: a shard doubles when more than 5/8 of its pairs are in use.
const maxLoadNum, maxLoadDen = 5, 8

// newHashTable returns a table sized for hint keys: each shard for its
// mean share plus five standard deviations of the (Poisson) spread of keys
// over shards, so that loading hint keys practically never grows a shard.
func newHashTable(hint int) *hashTable {
	mean := float64(hint) / hashShards
	need := uint64(mean + 5*math.Sqrt(mean) + 1)
	c := uint64(minShardPairs)
	for c*maxLoadNum/maxLoadDen < need {
		c *= 2
	}
	t := &hashTable{}
	for i := range t.shards {
		t.shards[i] = hashShard{slots: make([]uint64, 2*c), mask: c - 1}
	}
	return t
}

// stored maps the hash to what a slot holds: 0 marks an empty slot, so a
// hash of 0 is stored as 1 (two keys then share a slot value, which the
// index treats like any other collision).
func stored(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

func (t *hashTable) len() int { return t.n }

// shard returns the shard of a stored hash: its top bits (the home slot
// within the shard comes from its low bits).
func (t *hashTable) shard(h uint64) *hashShard { return &t.shards[h>>(64-hashShardBits)] }

func (t *hashTable) get(h uint64) (uint64, bool) {
	h = stored(h)
	s := t.shard(h)
	i, ok := s.find(h)
	return s.slots[2*i+1], ok
}

func (t *hashTable) set(h, ref uint64) {
	h = stored(h)
	if t.shard(h).set(h, ref) {
		t.n++
	}
}

func (t *hashTable) del(h uint64) {
	h = stored(h)
	if t.shard(h).del(h) {
		t.n--
	}
}

// find returns the pair index holding h, or the empty pair where it would go.
func (s *hashShard) find(h uint64) (i uint64, found bool) {
	for i = h & s.mask; ; i = (i + 1) & s.mask {
		switch s.slots[2*i] {
		case h:
			return i, true
		case 0:
			return i, false
		}
	}
}

// set stores ref under h and reports whether h is new.
func (s *hashShard) set(h, ref uint64) bool {
	i, ok := s.find(h)
	if !ok {
		if uint64(s.n+1)*maxLoadDen > (s.mask+1)*maxLoadNum {
			s.grow()
			i, _ = s.find(h)
		}
		s.slots[2*i] = h
		s.n++
	}
	s.slots[2*i+1] = ref
	return !ok
}

// del removes h and reports whether it was there.
func (s *hashShard) del(h uint64) bool {
	i, ok := s.find(h)
	if !ok {
		return false
	}
	// Backward-shift deletion: move later entries of the probe run into
	// the hole when their home slot does not lie after it.
	for j := (i + 1) & s.mask; s.slots[2*j] != 0; j = (j + 1) & s.mask {
		home := s.slots[2*j] & s.mask
		if (j-home)&s.mask >= (j-i)&s.mask {
			s.slots[2*i], s.slots[2*i+1] = s.slots[2*j], s.slots[2*j+1]
			i = j
		}
	}
	s.slots[2*i], s.slots[2*i+1] = 0, 0
	s.n--
	return true
}

func (s *hashShard) grow() {
	old := s.slots
	s.slots = make([]uint64, 2*len(old))
	s.mask = uint64(len(s.slots)/2) - 1
	for p := 0; p < len(old); p += 2 {
		if h := old[p]; h != 0 {
			i, _ := s.find(h)
			s.slots[2*i], s.slots[2*i+1] = h, old[p+1]
		}
	}
}
