package kv

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/google/btree"

	"github.com/daxkv/daxkv/internal/invariants"
	"github.com/daxkv/daxkv/recovery"
)

// item is one index entry: 32 bytes, with the first 16 key bytes inline so
// that nearly every comparison is two integer compares and touches no other
// memory. rest points to the key bytes past 16 (nil for short keys, the
// common case, which then cost no allocation; a longer key costs two, the
// bytes and the string header). It is a pointer rather than a string, 8
// bytes rather than 16, so that a tree walk, whose cost is mostly its
// nodes' cache misses, reads a fifth less: BenchmarkIterate gained about
// a seventh (DESIGN-NOTES). ref packs the record offset and the key length.
type item struct {
	p0, p1 uint64  // key bytes [0,16), big-endian, zero padded
	ref    uint64  // offset<<16 | key length
	rest   *string // key bytes [16:], nil for a key of up to 16 bytes
}

const refKeyBits = 16

func makeItem(key []byte, off int64) item {
	p0, p1 := recovery.Prefix(key)
	it := item{p0: p0, p1: p1, ref: makeRef(off, len(key))}
	if len(key) > 16 {
		rest := string(key[16:])
		it.rest = &rest
	}
	return it
}

// probe builds a search item for key, which may be a Scan bound of any
// length. Keys longer than 16 bytes cost one small allocation per lookup
// (the tail copied into rest); shorter keys none. A bound longer than
// MaxKeySize+1 bytes is cut to that length: it then compares with every
// storable key as the whole bound does, and its length fits the ref.
func probe(key []byte) item {
	if len(key) > MaxKeySize+1 {
		key = key[:MaxKeySize+1]
	}
	return makeItem(key, 0)
}

// tail returns the key's bytes past its first 16.
func (it item) tail() string {
	if it.rest == nil {
		return ""
	}
	return *it.rest
}

func (it item) off() int64  { return int64(it.ref >> refKeyBits) }
func (it item) keyLen() int { return int(it.ref & (1<<refKeyBits - 1)) }

// lessItem orders items by key bytes, with recovery.CompareKeys, the one
// definition of key order (the scan that streams the index at open sorts by
// it too).
func lessItem(a, b item) bool {
	// The prefixes decide nearly every comparison: compared here, without
	// the call (lessItem is the B-tree's, called through a func value).
	switch {
	case a.p0 != b.p0:
		return a.p0 < b.p0
	case a.p1 != b.p1:
		return a.p1 < b.p1
	}
	return recovery.CompareKeys(a.p0, a.p1, a.tail(), a.keyLen(), b.p0, b.p1, b.tail(), b.keyLen()) < 0
}

// indexDegree is the B-tree degree: nodes of up to 63 items of 32 bytes.
const indexDegree = 32

// fillPasses is how many passes index.fill makes over the keys of an open,
// each inserting every fillPasses-th key in order. In one pass (keys in
// order) each leaf is split when full and keeps indexDegree-1 items; in
// two, the first pass's leaves hold indexDegree-1 of every other key, and
// the second adds the indexDegree keys between their neighbours (every
// separator above a leaf is a first-pass key too): 2*indexDegree-1 items,
// full, with no split. Only the edges differ: the first leaf ends one
// short (no key precedes its first), and the second pass splits the last
// leaf or two and the right-edge nodes above them that the first left
// full (a tree of under 2*indexDegree keys splits its root). A walk of the ordered index then enters half as
// many leaves, and each leaf it enters costs several dependent cache
// misses (the node, its items, the binary search from a page's edge):
// BenchmarkIterate's tree walk took about half the time (DESIGN-NOTES).
const fillPasses = 2

func newTree() *btree.BTreeG[item] { return btree.NewG(indexDegree, lessItem) }

// refAmbiguous marks a hash shared by two present keys: lookups of that hash
// go to the B-tree.
const refAmbiguous = ^uint64(0)

// maxPending bounds the tree updates waiting for the applier: a writer
// that finds more waits until the backlog is back under the bound. The
// applier applies and reports in chunks of applyChunk changes, so such a
// wait lasts about one chunk (tens of microseconds at 1M keys, plus a
// wake-up), where waiting for the whole backlog stalled a write for a
// hundred milliseconds. (Writers assisting the applier instead measured no
// better: tree inserts run cold on the writer's core.)
const (
	maxPending = 1 << 16
	applyChunk = 16
)

// index maps keys to records. The hash table, xxhash64(key) -> ref, is the
// point index: it is updated by every write before the write returns, and
// answers Get, View, Delete and a batch's lookups in about one cache miss.
// The B-tree orders the keys for Scan; writers do not update it themselves
// but queue the change, and an applier goroutine applies the queue in order,
// on the other core, so that a Put does not pay a B-tree descent. Everything
// that reads the tree first waits until the changes queued before it are
// applied (drain).
//
// Invariants: a present key's hash is in hash, holding the key's ref or
// refAmbiguous; a hash not in hash belongs to no present key; work[workPos:]
// then pend hold, in order, every change not yet in tree; a change is queued before the
// record it supersedes is retired, so a reader that drains after pinning
// never finds a reclaimed record in the tree.
//
// Every lock of the index is taken in this file, behind the methods below;
// callers only hold their key stripes. Lock order: workMu first (the
// applier takes mu, treeMu and amu under it, one at a time); mu, then
// treeMu (only audit holds both); amu alone. Nothing holds mu, treeMu or
// amu while taking workMu.
type index struct {
	// view returns the pool mapping as it is now (daxmap.Map.Bytes). A key
	// comparison takes its view after reading the ref it checks, under mu:
	// a writer grows the pool before it publishes a record in the new
	// chunk, so that view covers every offset the index can hold then. A
	// view taken before the lookup could end short of it.
	view func() []byte

	// mu serializes the writers of hash, and protects keys, pend and
	// enq. Readers of hash take no lock (hashTable.load).
	mu   sync.RWMutex
	hash *hashTable // xxhash64(key) -> ref, or refAmbiguous
	// pub is odd while apply publishes a batch of several changes to hash
	// (under mu): a lock-free lookup that overlaps it retries, so that no
	// reader sees a batch in part (a Get that found one of its keys new
	// finds every other one new too).
	pub  atomic.Uint64
	keys int      // present keys
	pend []treeOp // changes not yet applied to tree, in order
	enq  uint64   // changes ever queued
	// enqA mirrors enq, for the applier's polls (awaitWork).
	enqA atomic.Uint64
	// polling counts the goroutines polling in poll.
	polling atomic.Int32
	// procs is GOMAXPROCS as of procsAt (monoNanos), for poll: noted by
	// the applier when it parks or yields, and by a poll that finds it
	// older than a millisecond (noteProcs).
	procs   atomic.Int32
	procsAt atomic.Int64
	// yieldAsked asks the applier to yield its P after its current chunk
	// (a writer yielding its own, in DB.yieldTurn, waits for a free one).
	yieldAsked atomic.Bool

	treeMu sync.RWMutex        // protects tree
	tree   *btree.BTreeG[item] // every present key as of the last applied change

	amu     sync.Mutex // protects applied; cond waits on it
	cond    *sync.Cond
	applied uint64 // changes applied to tree
	// appliedA mirrors applied, for writers that only check the backlog.
	appliedA atomic.Uint64
	// filling counts the keys an open put in the index as the first
	// changes (1..filling), which fill inserts into the tree after Open
	// has returned: the writers' backlog bound does not count them.
	filling uint64

	// workMu serializes applying changes to the tree (the applier's, and
	// close's last pass); it is taken before mu, treeMu and amu.
	workMu  sync.Mutex
	work    []treeOp // the changes being applied; work[workPos:] not yet in tree
	workPos int

	kick chan struct{} // wakes the applier (buffered, 1)
	stop chan struct{} // closed by close
	done chan struct{} // closed when the applier has exited
	// tablesDone is closed when hash's table preparer has exited.
	tablesDone chan struct{}
}

type treeOp struct {
	it  item
	del bool
}

func newIndex(sizeHint int, view func() []byte) *index {
	x := &index{view: view, tree: newTree(), hash: newHashTable(sizeHint)}
	x.start()
	return x
}

// start launches the applier and the hash table's table preparer.
func (x *index) start() {
	x.cond = sync.NewCond(&x.amu)
	x.kick = make(chan struct{}, 1)
	x.stop = make(chan struct{})
	x.done = make(chan struct{})
	x.tablesDone = make(chan struct{})
	x.noteProcs()
	go x.applier()
	go x.hash.prepareTables(x.stop, x.tablesDone)
}

func (x *index) applier() {
	defer close(x.done)
	for {
		x.noteProcs()
		select {
		case <-x.kick:
		case <-x.stop:
			x.applyPending()
			return
		}
		x.applyPending()
		for x.awaitWork() {
			x.applyPending()
		}
	}
}

// applySpin is how long the applier, having applied every change, polls
// for more before it parks, and how long a goroutine that needs one of the
// index's locks, or the applier's progress, polls before it blocks.
//
// Parking is what costs. A goroutine readied while a P is idle makes the
// runtime wake a thread for it, and the kernel here puts that thread on
// the waking writer's core though the other one is idle: at the next tick
// the two swap, and the writer waits out the other's time slice. Scheduler
// traces of BenchmarkLoadLatency (perf sched, one writer) found 32 such
// waits of 1.4-58 ms in a load when the applier parked whenever it had
// caught up, and 2 with the polls. A goroutine that polls keeps its thread
// on its own core, and no thread is woken (see poll).
const applySpin = 50 * time.Microsecond

// lockSpin takes l, polling TryLock for up to applySpin before it blocks
// in Lock: the index's locks are held for microseconds, and a goroutine
// that blocks on one parks, so that its unlocker has the runtime wake a
// thread for it (see applySpin).
func (x *index) lockSpin(l interface {
	TryLock() bool
	Lock()
}) {
	if !x.poll(l.TryLock) {
		l.Lock()
	}
}

// awaitWork polls for a change queued after the applier has applied all
// of them, for up to applySpin, and reports whether one came. A writer
// that asked the applier to yield (yieldAsked) gets its P meanwhile.
func (x *index) awaitWork() bool {
	return x.poll(func() bool {
		if x.yieldAsked.Load() {
			x.yieldAsked.Store(false)
			runtime.Gosched()
		}
		return x.enqA.Load() > x.appliedA.Load()
	})
}

// poll calls ready until it reports true or applySpin has passed, and
// reports whether it did. It polls only when the process has more than
// one P (procs): with one P the goroutine it waits for cannot run while it
// polls, and a poller that yields its P between tries goes to the back of
// the run queue, behind any goroutine that runs until the runtime preempts
// it (10 ms): a wait beside a goroutine that only computed took 20 ms.
// With more Ps it yields between tries: a poller that kept its P (waiting
// on the clock) held it from the goroutine it waited for, and two writers
// loaded 424-483 k keys/s against 719-875 k. polling counts the pollers:
// each waits in the run queue between its tries, and the writers' looks at
// the scheduler (yieldTurn) discount them.
func (x *index) poll(ready func() bool) bool {
	if ready() {
		return true
	}
	if d := monoNanos() - x.procsAt.Load(); d > int64(time.Millisecond) || d < 0 {
		x.noteProcs()
	}
	if x.procs.Load() == 1 {
		return false
	}
	x.polling.Add(1)
	defer x.polling.Add(-1)
	for until := time.Now().Add(applySpin); time.Now().Before(until); {
		runtime.Gosched()
		if ready() {
			return true
		}
	}
	return false
}

// noteProcs records GOMAXPROCS for poll (reading it takes the scheduler's
// lock, so it is not read at every poll).
func (x *index) noteProcs() {
	x.procs.Store(int32(runtime.GOMAXPROCS(0)))
	x.procsAt.Store(monoNanos())
}

// monoBase anchors monoNanos.
var monoBase = time.Now()

// monoNanos is a monotonic clock in nanoseconds (a wall clock's step back
// would make procs look fresh for as long as the step).
func monoNanos() int64 { return int64(time.Since(monoBase)) }

// applyYield is how long the applier runs before it yields its P.
//
// Under a write load the applier is busy for as long as the writers are,
// and the Go scheduler takes a P from a busy goroutine only every 10 ms.
// A writer it wakes (a backlog wait, a lock handed over) is queued on the
// applier's P, and a goroutine preempted off the other P (by the GC, say)
// waits for one: either then waited up to 10 ms for the applier. Yielding
// every 200 µs bounds that wait; yielding after every chunk cost a quarter
// of the load's throughput (BenchmarkLoadLatency).
const applyYield = 200 * time.Microsecond

// applyPending applies the queue to the tree until it is empty, yielding
// every applyYield, and after a chunk when a writer asked (yieldAsked),
// when the process has more than one P.
func (x *index) applyPending() {
	last := time.Now()
	for {
		x.workMu.Lock()
		more := x.applyChunkLocked(applyChunk)
		x.workMu.Unlock()
		if !more {
			return
		}
		if now := time.Now(); now.Sub(last) >= applyYield || x.yieldAsked.Load() {
			// With one P the writers wait for this goroutine, and a
			// yield would only hand the P to whatever else runs there
			// for a whole slice.
			x.yieldAsked.Store(false)
			if x.noteProcs(); x.procs.Load() > 1 {
				runtime.Gosched()
			}
			last = time.Now()
		}
	}
}

// applyChunkLocked applies the next at most limit queued changes to the
// tree, refilling work from pend when it is used up, and reports whether
// there was any. Called with workMu held.
func (x *index) applyChunkLocked(limit int) bool {
	if x.workPos == len(x.work) {
		// Every change before pend's first is applied: pend holds changes
		// applied+1 .. enq, in order. Swap it in; the used-up slice
		// (cleared chunk by chunk) becomes the new pend.
		done := x.work[:0]
		x.lockSpin(&x.mu)
		x.work, x.pend = x.pend, done
		x.mu.Unlock()
		x.workPos = 0
		if len(x.work) == 0 {
			return false
		}
	}
	k := min(len(x.work)-x.workPos, limit)
	ops := x.work[x.workPos : x.workPos+k]
	x.treeMu.Lock()
	for _, op := range ops {
		if op.del {
			x.tree.Delete(op.it)
		} else {
			x.tree.ReplaceOrInsert(op.it)
		}
	}
	x.treeMu.Unlock()
	clear(ops) // drop the key tails the items hold
	x.workPos += k
	x.lockSpin(&x.amu)
	x.applied += uint64(k)
	x.appliedA.Store(x.applied)
	x.cond.Broadcast()
	x.amu.Unlock()
	return true
}

// drain waits until every change queued before the call is in the tree.
func (x *index) drain() {
	x.mu.RLock()
	target := x.enq
	x.mu.RUnlock()
	x.waitApplied(target)
}

// waitApplied waits until the first target changes are in the tree.
func (x *index) waitApplied(target uint64) {
	if x.appliedA.Load() >= target {
		return
	}
	x.wake()
	if x.poll(func() bool { return x.appliedA.Load() >= target }) {
		return
	}
	x.amu.Lock()
	defer x.amu.Unlock()
	if x.applied >= target {
		return
	}
	x.wake()
	for x.applied < target {
		x.cond.Wait()
	}
}

func (x *index) wake() {
	select {
	case x.kick <- struct{}{}:
	default:
	}
}

// close applies what is queued and stops the applier. No write may run
// meanwhile or after.
func (x *index) close() {
	close(x.stop)
	<-x.done
	<-x.tablesDone
}

func hashKey(key []byte) uint64 { return xxhash.Sum64(key) }

// makeRef packs a record offset and its key length into a ref.
func makeRef(off int64, keyLen int) uint64 { return uint64(off)<<refKeyBits | uint64(keyLen) }

// keyAt reports whether the record of ref holds key. mem must be a view of
// the mapping taken after ref was read (see index.view).
func keyAt(mem []byte, ref uint64, key []byte) bool {
	it := item{ref: ref}
	off := it.off()
	return it.keyLen() == len(key) && bytes.Equal(mem[off+recovery.HeaderSize:off+recovery.HeaderSize+int64(len(key))], key)
}

// lookup finds key (whose hash is h). The returned item carries only ref:
// callers need the record's place, not the key they already have.
func (x *index) lookup(key []byte, h uint64) (item, bool) {
	ref, ok, ambiguous := x.lookupHashed(key, h)
	if !ambiguous {
		return item{ref: ref}, ok
	}
	return x.lookupTree(key)
}

// lookupHashed is lookup's fast path, through the hash table. It takes no
// lock and writes no shared memory: the table is read under its shards'
// sequence locks. The caller has pinned its epoch, so a ref the table held
// at any instant of the lookup names a record that is not reused before
// the caller unpins (a record is retired only after the change that
// supersedes it is in the table). The view is taken after the ref is read:
// a writer grows the pool before it publishes a record in the new chunk.
// The key comparison reads the mapping, which can fault; the caller guards.
func (x *index) lookupHashed(key []byte, h uint64) (ref uint64, ok, ambiguous bool) {
	for spins := 0; ; spins++ {
		p := x.pub.Load()
		if p&1 == 0 {
			ref, ok = x.hash.load(h)
			if x.pub.Load() == p {
				break
			}
		}
		if spins > 64 {
			runtime.Gosched() // a batch's publisher is descheduled
		}
	}
	switch {
	case !ok:
		return 0, false, false
	case ref == refAmbiguous:
		return 0, false, true
	}
	return ref, keyAt(x.view(), ref, key), false // a mismatch is another key with the same hash
}

// lookupTree finds key in the B-tree, once it has caught up: the path for
// a hash that two present keys share.
func (x *index) lookupTree(key []byte) (item, bool) {
	x.drain()
	x.treeMu.RLock()
	defer x.treeMu.RUnlock()
	it, ok := x.tree.Get(probe(key))
	return item{ref: it.ref}, ok
}

// replace is Put's one trip through the index: it finds key's current
// record (old; had whether present) and records that key now lives at off.
// The caller holds the key's stripe, so no other writer changes the key
// meanwhile. When two present keys share the hash, the old record is found
// through the tree first, outside mu (drain takes it).
func (x *index) replace(key []byte, h uint64, off int64) (old item, had bool) {
	var n int
	var enq uint64
	if old, had, n, enq = x.replaceHashed(key, h, off); n >= 0 {
		x.queued(n, enq)
		if invariants.Enabled {
			x.assertAgree(key, h)
		}
		return old, had
	}
	old, had = x.lookupTree(key)
	x.apply([]change{{key: key, h: h, off: off, old: old, had: had}})
	return old, had
}

// replaceHashed is replace under one hold of mu; n is the queue length, or
// -1 when the hash is ambiguous and nothing was changed, and enq the count
// of changes ever queued. The unlock is
// deferred because the key comparison reads the mapping, which can fault.
func (x *index) replaceHashed(key []byte, h uint64, off int64) (old item, had bool, n int, enq uint64) {
	x.lockSpin(&x.mu)
	defer x.mu.Unlock()
	cur, ok := x.hash.get(h)
	if ok && cur == refAmbiguous {
		return item{}, false, -1, 0
	}
	had = ok && keyAt(x.view(), cur, key)
	old = item{ref: cur}
	return old, had, x.putLocked(key, h, off, old, had), x.enq
}

// change is one key's change in a batch applied by apply.
type change struct {
	key  []byte
	h    uint64
	off  int64 // the key's new record (puts)
	old  item  // the key's previous record, from lookup
	had  bool  // whether the key was present
	del  bool
	skip bool // nothing to publish (a delete of an absent key)
}

// touch loads the hash slots of cs's keys (see hashTable.touch): the
// lookups that follow then find them in the cache. The loads are atomic,
// which the compiler never leaves out.
func (x *index) touch(cs []change) {
	for i := range cs {
		x.hash.touch(cs[i].h)
	}
}

// apply publishes a batch's changes to readers at once, under one hold of
// mu. Each change's old and had come from lookup, with the key's stripe
// held since.
func (x *index) apply(cs []change) {
	n := 0
	x.lockSpin(&x.mu)
	batch := len(cs) > 1
	if batch {
		x.pub.Add(1) // odd: lookups wait for the whole batch
	}
	for i := range cs { // nothing here reads the mapping: no fault can skip the unlock
		c := &cs[i]
		switch {
		case c.skip:
		case c.del:
			n = x.delLocked(c.key, c.h, c.old)
		default:
			n = x.putLocked(c.key, c.h, c.off, c.old, c.had)
		}
	}
	if batch {
		x.pub.Add(1)
	}
	enq := x.enq
	x.mu.Unlock()
	x.queued(n, enq)
	if invariants.Enabled {
		for _, c := range cs {
			x.assertAgree(c.key, c.h)
		}
	}
}

// assertAgree checks, in invariants builds, that the hash table and the
// B-tree agree about key, which the caller's stripe keeps still: both find
// it at the same record, or neither finds it (an ambiguous hash defers to
// the tree), and the key count is not negative.
func (x *index) assertAgree(key []byte, h uint64) {
	ref, ok, ambiguous := x.lookupHashed(key, h)
	it, inTree := x.lookupTree(key)
	if !ambiguous && (ok != inTree || ok && ref != it.ref) {
		panic(fmt.Sprintf("daxkv: assertion failed: the hash table (%v, ref %#x) and the B-tree (%v, ref %#x) disagree about key %q",
			ok, ref, inTree, it.ref, key))
	}
	if n := x.len(); n < 0 {
		panic(fmt.Sprintf("daxkv: assertion failed: the index counts %d keys", n))
	}
}

func (x *index) putLocked(key []byte, h uint64, off int64, old item, had bool) int {
	it := makeItem(key, off)
	switch cur, ok := x.hash.get(h); {
	case !ok:
		x.hash.set(h, it.ref)
	case cur == refAmbiguous:
	case had && cur == old.ref:
		x.hash.set(h, it.ref)
	default:
		x.hash.set(h, refAmbiguous) // a second key with this hash
	}
	if !had {
		x.keys++
	}
	x.pend = append(x.pend, treeOp{it: it})
	x.enq++
	x.enqA.Store(x.enq)
	return len(x.pend)
}

// remove records that key (hash h), present as old, is gone. An ambiguous
// hash stays ambiguous (lookups of it keep going to the tree, which is
// always right).
func (x *index) remove(key []byte, h uint64, old item) {
	x.apply([]change{{key: key, h: h, old: old, had: true, del: true}})
}

func (x *index) delLocked(key []byte, h uint64, old item) int {
	if cur, ok := x.hash.get(h); ok && cur == old.ref {
		x.hash.del(h)
	}
	x.keys--
	x.pend = append(x.pend, treeOp{it: probe(key), del: true})
	x.enq++
	x.enqA.Store(x.enq)
	return len(x.pend)
}

// queued follows a writer's change, the enq-th ever queued, with n waiting
// in pend: it wakes the applier for the first, and makes the writer wait
// while more than maxPending changes are not yet in the tree.
func (x *index) queued(n int, enq uint64) {
	if n == 1 {
		x.wake()
	}
	if enq-x.filling > maxPending && x.appliedA.Load() < enq-maxPending {
		x.waitApplied(enq - maxPending)
	}
}

// ascend copies into buf the refs of the keys in [from, end) in order, up
// to len(buf) of them, skipping from itself when exclusive; a nil from
// starts at the first key, a nil end runs to the last. It prefetches each
// record as it goes (prefetchRecord, with span the caller's estimate of a
// record's length). It sees every change
// queued before the call (it drains the applier first), so that a reader
// that pinned its epoch before calling never finds a record that was
// retired before its pin.
func (x *index) ascend(from []byte, exclusive bool, end []byte, buf []uint64, span uint64) int {
	var endItem, fromItem item
	if end != nil {
		endItem = probe(end)
	}
	if from != nil {
		fromItem = probe(from)
	}
	mem := x.view()
	n := 0
	visit := func(it item) bool {
		if exclusive && !lessItem(fromItem, it) {
			return true
		}
		if end != nil && !lessItem(it, endItem) {
			return false
		}
		buf[n] = it.ref
		prefetchRecord(mem, it.ref>>refKeyBits, span)
		n++
		return n < len(buf)
	}
	x.drain()
	x.treeMu.RLock()
	defer x.treeMu.RUnlock()
	if from == nil {
		x.tree.Ascend(visit)
	} else {
		x.tree.AscendGreaterOrEqual(fromItem, visit)
	}
	return n
}

func (x *index) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.keys
}

// audit calls visit for every item of the tree in key order, with the whole
// index still (every writer must be stopped by the caller), and returns the
// tree's key count, the key count and the hash table's entry count. It
// holds both locks while visit reads the mapping, so the unlocks are
// deferred (a fault there becomes an error, not a held lock).
func (x *index) audit(visit func(it item) bool) (treeKeys, keys, hashed int) {
	x.drain()
	x.mu.RLock()
	defer x.mu.RUnlock()
	x.treeMu.RLock()
	defer x.treeMu.RUnlock()
	x.tree.Ascend(visit)
	return x.tree.Len(), x.keys, x.hash.len()
}

// startFill starts the applier and fills the tree with items, every key in
// key order, in the background: their inserts are the first len(items)
// changes, which every reader of the tree waits for (drain, clone), while
// Get, Put and Delete go through the hash table at once.
func (x *index) startFill(items []item) {
	n := uint64(len(items))
	x.keys, x.enq, x.filling = len(items), n, n
	x.enqA.Store(n)
	x.start()
	x.workMu.Lock() // before the applier can take it: fill releases it
	go x.fill(items)
}

// fill inserts items, the keys in key order, into the empty tree, as the
// first len(items) changes; the caller holds workMu, which fill releases
// when done. It reads no mapping (the key tails are in the items).
//
// It inserts every other item first, then the rest (fillPasses): keys
// inserted in order leave every leaf half full (a full leaf splits in two
// and only the right half grows on), and the second pass fills each
// leaf's gaps without splitting it (see fillPasses). Nothing reads the
// tree before the fill ends (readers wait for the changes applied), so
// the order is invisible but in the shape of the tree.
func (x *index) fill(items []item) {
	defer x.workMu.Unlock()
	fillTree(x.tree, items, &x.treeMu)
	x.amu.Lock()
	x.applied = uint64(len(items))
	x.appliedA.Store(x.applied)
	x.cond.Broadcast()
	x.amu.Unlock()
}

// fillTree inserts items, in key order, into t in fillPasses passes,
// holding mu a step of inserts at a time.
func fillTree(t *btree.BTreeG[item], items []item, mu sync.Locker) {
	const step = 4096
	for pass := range fillPasses {
		for i := pass; i < len(items); i += step * fillPasses {
			mu.Lock()
			for j := i; j < min(i+step*fillPasses, len(items)); j += fillPasses {
				t.ReplaceOrInsert(items[j])
			}
			mu.Unlock()
		}
	}
}

// clone returns a copy-on-write clone of the tree holding every change
// queued before the call (it drains the applier first, as ascend does: the
// caller has pinned, and a record retired before its pin is then in no
// clone). The clone is read concurrently with the applier's writes to the
// live tree, which copy the nodes they change from then on.
//
// The clone holds whole batches only: it applies the queue itself, under
// workMu, up to exactly the changes queued when it starts, a batch boundary
// (apply queues a batch under one hold of mu), where the applier, working
// in chunks, could stop in the middle of one.
func (x *index) clone() *btree.BTreeG[item] {
	x.workMu.Lock()
	defer x.workMu.Unlock()
	x.mu.RLock()
	target := x.enq
	x.mu.RUnlock()
	for x.appliedA.Load() < target { // only workMu's holder moves applied
		x.applyChunkLocked(int(min(applyChunk, target-x.appliedA.Load())))
	}
	x.treeMu.Lock()
	defer x.treeMu.Unlock()
	return x.tree.Clone()
}
