package kv

import (
	"math"
	"runtime"
	"sync/atomic"
)

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
// Writers (set, del) must be serialized by the caller (index.mu). Readers
// (load) take no lock and write nothing: each shard is a sequence lock. A
// writer makes the shard's sequence odd, changes its slots (or publishes a
// grown table), and makes it even again; a reader reads the sequence, probes,
// and retries when the sequence was odd or has changed meanwhile. Slots are
// atomics, so a reader racing a writer reads torn state only as a retry,
// never as a data race, and two readers never write a shared cache line.
//
// A shard's bigger table is made ahead of need, off the write path (see
// prepareTables): a writer whose insert takes a shard past 19/32 full asks
// for it, and the writer that grows the shard then only moves entries.
type hashTable struct {
	shards [hashShards]hashShard
	n      int // entries, over all shards (writers only)
	// grows carries the shards that will soon grow to prepareTables.
	grows chan growRequest
}

// growRequest asks prepareTables for the next table of shard s, whose
// table had pairs pairs when it asked.
type growRequest struct {
	s     *hashShard
	pairs uint64
}

type hashShard struct {
	seq atomic.Uint64            // odd while a writer changes the shard
	tab atomic.Pointer[shardTab] // replaced whole when the shard grows
	n   int                      // entries (writers only)
	// next is a zeroed table made ahead for the shard's next growth, or
	// nil; grow uses it when it has twice tab's capacity.
	next atomic.Pointer[shardTab]
	// asked is set once next was asked for at tab's capacity (writers
	// only).
	asked bool
}

// shardTab is one shard's open-addressing table.
type shardTab struct {
	// slots[2i] = hash (0: empty), slots[2i+1] = ref. Read and written
	// with atomic loads and stores (load, store) once the table is
	// published; grow fills a new one with plain stores first.
	slots []uint64
	mask  uint64 // capacity in pairs - 1 (a power of two)
}

func (t *shardTab) load(i uint64) uint64     { return atomic.LoadUint64(&t.slots[i]) }
func (t *shardTab) store(i uint64, v uint64) { atomic.StoreUint64(&t.slots[i], v) }

func newShardTab(pairs uint64) *shardTab {
	return &shardTab{slots: make([]uint64, 2*pairs), mask: pairs - 1}
}

// faultIn writes a zero to every page of a table not yet published, so
// that the page faults of fresh memory are taken now: a large table comes
// from the operating system untouched, and filling it in grow took a fault
// per 4 KiB page (three quarters of grow's time in a profile of raftstore's
// StoreLogs, where a page fault cost several microseconds).
func (tab *shardTab) faultIn() {
	const wordsPerPage = 4096 / 8
	for i := 0; i < len(tab.slots); i += wordsPerPage {
		tab.slots[i] = 0
	}
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
	t := &hashTable{grows: make(chan growRequest, growQueue)}
	for i := range t.shards {
		t.shards[i].tab.Store(newShardTab(c))
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

// load is the readers' lookup: safe concurrently with one writer, lock-free
// and write-free (see hashTable).
func (t *hashTable) load(h uint64) (ref uint64, ok bool) {
	h = stored(h)
	s := t.shard(h)
	for spins := 0; ; spins++ {
		seq := s.seq.Load()
		if seq&1 == 0 {
			tab := s.tab.Load()
			i, found, done := tab.probe(h)
			if found {
				ref = tab.load(2*i + 1)
			}
			if done && s.seq.Load() == seq {
				return ref, found
			}
		}
		if spins > 64 {
			runtime.Gosched() // a writer is descheduled inside the shard
		}
	}
}

// touch loads the hash word of the pair a lookup of h probes first and
// returns it. A batch touches its keys' pairs a few keys ahead of their
// lookups (touchAhead), so that the cache misses overlap instead of coming
// one lookup at a time.
func (t *hashTable) touch(h uint64) uint64 {
	h = stored(h)
	tab := t.shard(h).tab.Load()
	return tab.load(2 * (h & tab.mask))
}

// get is the writers' lookup (under the writers' lock).
func (t *hashTable) get(h uint64) (uint64, bool) {
	h = stored(h)
	tab := t.shard(h).tab.Load()
	i, ok, _ := tab.probe(h)
	return tab.load(2*i + 1), ok
}

func (t *hashTable) set(h, ref uint64) {
	h = stored(h)
	s := t.shard(h)
	if s.set(h, ref) {
		t.n++
		if pairs := s.tab.Load().mask + 1; !s.asked && uint64(s.n)*prepareDen > pairs*prepareNum {
			select {
			case t.grows <- growRequest{s, pairs}:
				s.asked = true
			default: // the preparer is behind: grow allocates, as before
			}
		}
	}
}

// A writer asks for a shard's next table once the shard is more than 19/32
// full: it grows at 20/32 (maxLoad), a thirty-second of its capacity of
// inserts later (64 at 1M keys, about 64K writes), which gives
// prepareTables ample time to make the table. Not earlier: a table made
// ahead is memory held until the shard grows (twice the shard's own), so
// the band of key counts that leaves it held is kept narrow, and a table
// sized from a key count at open (newHashTable) has its shards about half
// full. A shard whose deletes take it to half full or less drops its
// table (del).
const (
	prepareNum, prepareDen = 19, 32
	growQueue              = 64
)

// prepareTables makes the tables the writers ask for until stop is closed,
// then closes done.
//
// Growing a shard needs a table of twice its capacity. Allocated by the
// writer that grows it, the table made that writer pay for the garbage
// collector: an allocation during a GC cycle charges the allocating
// goroutine mark work in proportion to its size, and a writer with no
// work left to do parks until the background workers catch up. Execution
// traces of BenchmarkLoadLatency showed Puts of 2-7 ms parked so in
// hashShard.grow. The tables are pointer-free slices; made here, the
// charge falls on this goroutine, and so do the page faults of their fresh
// memory (faultIn).
func (t *hashTable) prepareTables(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case r := <-t.grows:
			// A request the shard has outgrown meanwhile (grow allocated
			// its table itself) is dropped. Reading tab races the writers
			// harmlessly: grow checks the size of what it takes.
			if r.s.tab.Load().mask+1 == r.pairs {
				tab := newShardTab(2 * r.pairs)
				tab.faultIn()
				r.s.next.Store(tab)
			}
		case <-stop:
			return
		}
	}
}

func (t *hashTable) del(h uint64) {
	h = stored(h)
	s := t.shard(h)
	if s.del(h) {
		t.n--
		if uint64(s.n)*2 <= s.tab.Load().mask+1 { // far from growing: hold no next table
			if s.next.Load() != nil {
				s.next.Store(nil)
			}
			s.asked = false
		}
	}
}

// probe returns the pair index holding h, or the empty pair where it would
// go. done is false when a whole lap found neither, which only a reader
// racing writers can see (a shard always has empty pairs): it retries.
func (tab *shardTab) probe(h uint64) (i uint64, found, done bool) {
	i = h & tab.mask
	for range tab.mask + 1 {
		switch tab.load(2 * i) {
		case h:
			return i, true, true
		case 0:
			return i, false, true
		}
		i = (i + 1) & tab.mask
	}
	return 0, false, false
}

// begin and end bracket a writer's change of the shard.
func (s *hashShard) begin() { s.seq.Store(s.seq.Load() + 1) }
func (s *hashShard) end()   { s.seq.Store(s.seq.Load() + 1) }

// set stores ref under h and reports whether h is new.
func (s *hashShard) set(h, ref uint64) bool {
	s.begin()
	defer s.end()
	tab := s.tab.Load()
	i, ok, _ := tab.probe(h)
	if !ok {
		if uint64(s.n+1)*maxLoadDen > (tab.mask+1)*maxLoadNum {
			tab = s.grow(tab)
			i, _, _ = tab.probe(h)
		}
		tab.store(2*i+1, ref)
		tab.store(2*i, h)
		s.n++
		return true
	}
	tab.store(2*i+1, ref)
	return false
}

// del removes h and reports whether it was there.
func (s *hashShard) del(h uint64) bool {
	tab := s.tab.Load()
	i, ok, _ := tab.probe(h)
	if !ok {
		return false
	}
	s.begin()
	defer s.end()
	// Backward-shift deletion: move later entries of the probe run into
	// the hole when their home slot does not lie after it.
	for j := (i + 1) & tab.mask; tab.load(2*j) != 0; j = (j + 1) & tab.mask {
		hj := tab.load(2 * j)
		home := hj & tab.mask
		if (j-home)&tab.mask >= (j-i)&tab.mask {
			tab.store(2*i, hj)
			tab.store(2*i+1, tab.load(2*j+1))
			i = j
		}
	}
	tab.store(2*i, 0)
	tab.store(2*i+1, 0)
	s.n--
	return true
}

// grow publishes a table of twice old's capacity holding old's entries and
// returns it. Readers of old retry (the shard's sequence is odd).
func (s *hashShard) grow(old *shardTab) *shardTab {
	s.asked = false
	tab := s.next.Swap(nil)
	if tab == nil || tab.mask != 2*(old.mask+1)-1 {
		tab = newShardTab(2 * (old.mask + 1)) // not made ahead (or made for a smaller table)
	}
	// The new table is private until s.tab publishes it, so it is filled
	// with plain stores: an atomic store is a locked exchange on amd64.
	// BenchmarkHashTableInsert, 1.28M inserts into a table that grows:
	// 181-232 ns an insert with two atomic stores per entry moved, 162-193
	// with plain ones, 138-156 into a table sized ahead. The publishing
	// Store orders them before any reader's Load of the table.
	for p := uint64(0); p < uint64(len(old.slots)); p += 2 {
		if h := old.load(p); h != 0 {
			i := h & tab.mask
			for tab.slots[2*i] != 0 {
				i = (i + 1) & tab.mask
			}
			tab.slots[2*i] = h
			tab.slots[2*i+1] = old.load(p + 1)
		}
	}
	s.tab.Store(tab)
	return tab
}
