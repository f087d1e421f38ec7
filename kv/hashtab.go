package kv

// hashTable maps a key's 64-bit hash to its record ref: open addressing,
// linear probing, (hash, ref) pairs side by side in one flat slice, so a
// lookup usually touches one cache line, where a Go map touches several.
// Deletion shifts the following entries back, so there are no tombstones.
// Not safe for concurrent use: index.mu protects it.
type hashTable struct {
	slots []uint64 // slots[2i] = hash (0: empty), slots[2i+1] = ref
	mask  uint64   // capacity in pairs - 1 (a power of two)
	n     int      // entries
}

// maxLoad: the table doubles when more than 5/8 of its pairs are in use.
const maxLoadNum, maxLoadDen = 5, 8

func newHashTable(hint int) *hashTable {
	c := uint64(1024)
	for c*maxLoadNum/maxLoadDen < uint64(hint) {
		c *= 2
	}
	return &hashTable{slots: make([]uint64, 2*c), mask: c - 1}
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

// find returns the pair index holding h, or the empty pair where it would go.
func (t *hashTable) find(h uint64) (i uint64, found bool) {
	for i = h & t.mask; ; i = (i + 1) & t.mask {
		switch t.slots[2*i] {
		case h:
			return i, true
		case 0:
			return i, false
		}
	}
}

func (t *hashTable) get(h uint64) (uint64, bool) {
	h = stored(h)
	i, ok := t.find(h)
	return t.slots[2*i+1], ok
}

func (t *hashTable) set(h, ref uint64) {
	h = stored(h)
	i, ok := t.find(h)
	if !ok {
		if uint64(t.n+1)*maxLoadDen > (t.mask+1)*maxLoadNum {
			t.grow()
			i, _ = t.find(h)
		}
		t.slots[2*i] = h
		t.n++
	}
	t.slots[2*i+1] = ref
}

func (t *hashTable) del(h uint64) {
	h = stored(h)
	i, ok := t.find(h)
	if !ok {
		return
	}
	// Backward-shift deletion: move later entries of the probe run into
	// the hole when their home slot does not lie after it.
	for j := (i + 1) & t.mask; t.slots[2*j] != 0; j = (j + 1) & t.mask {
		home := t.slots[2*j] & t.mask
		if (j-home)&t.mask >= (j-i)&t.mask {
			t.slots[2*i], t.slots[2*i+1] = t.slots[2*j], t.slots[2*j+1]
			i = j
		}
	}
	t.slots[2*i], t.slots[2*i+1] = 0, 0
	t.n--
}

func (t *hashTable) grow() {
	old := t.slots
	t.slots = make([]uint64, 2*len(old))
	t.mask = uint64(len(t.slots)/2) - 1
	for p := 0; p < len(old); p += 2 {
		if h := old[p]; h != 0 {
			i, _ := t.find(h)
			t.slots[2*i], t.slots[2*i+1] = h, old[p+1]
		}
	}
}
