package kv

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/daxkv/daxkv/internal/mutant"
	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/recovery"
)

// Compaction gives space back to the filesystem while the DB stays open,
// readers never blocked. A pool's records never move on their own, so the
// space of deleted records stays inside the file: free for new records,
// but still occupying blocks. Compact empties sparse chunks and punches
// them out of the file (fallocate PUNCH_HOLE, keeping its size):
//
//  1. Wholly free chunks, but the few the chunk preparer keeps ready, are
//     taken off the allocator and punched.
//  2. The sparsest chunks (at most CompactMaxFill full) are evacuated: the
//     allocator hands out nothing in them any more (alloc.Evacuate).
//  3. Every live record in them is moved: under its key's stripe, if the
//     index still points at it, the key and value are written anew
//     elsewhere exactly as a Put writes them (a record with a higher
//     sequence number, flushed and fenced before the index changes), and
//     the old record is freed and retired as a Put retires the version it
//     replaces. A crash at any instant leaves the old record, or both (the
//     newer wins), or the new one: the key never changes value.
//  4. The layout is broken before any block goes: a chunk is punched only
//     once it holds nothing, neither a record nor a limbo extent, which
//     happens when the reader epoch has moved past every retirement in it:
//     every reader, snapshot and iterator that could reach a byte of it is
//     gone, and none can start (the index no longer leads there). Compact
//     waits for that, and when ctx ends first it gives the chunks still
//     held back to the allocator and returns an error wrapping ErrBusy.
//     Everything moved stays moved; nothing is lost.
//
// On device DAX nothing can be punched: Compact still consolidates (the
// emptied chunks become whole free chunks) and says so in its result.

// CompactResult reports what one Compact did.
type CompactResult struct {
	Moved   int   // records moved out of sparse chunks
	Emptied int   // chunks emptied (each punched, but on device DAX)
	Punched int   // chunks whose blocks went back to the filesystem
	Freed   int64 // bytes of blocks given back (Punched x ChunkSize)
	// Consolidated is set where nothing can be punched (device DAX): the
	// chunks were emptied, and are free for new records, but the device
	// keeps its size.
	Consolidated bool
}

// compactRound bounds how many chunks one round evacuates: their free
// space is held off the allocator until they are empty.
const compactRound = 64

// scanPoll is how often a punch looks again whether a Check's scan of the
// pool is over (DB.scanMu).
const scanPoll = time.Millisecond

// rewalkEvery is how often a compaction waiting for readers walks the
// index again for records published into its chunks since the last pass.
const rewalkEvery = 250 * time.Millisecond

// Compact moves the live records out of sparse chunks and gives whole
// chunks back to the filesystem (see the package documentation of
// compaction in compact.go, and docs/DESIGN-NOTES.md). It runs beside
// readers and writers; only one Compact runs at a time: a second call
// waits for the first while its ctx lasts, and returns an error wrapping
// ErrBusy when ctx ends first. It returns nil when every chunk it emptied is
// punched; an error wrapping ErrBusy when ctx ended while snapshots,
// iterators or readers still held records of a chunk being emptied, or a
// Check was reading the pool (the records moved so far stay moved,
// nothing is lost); ErrReadOnly,
// ErrClosed, or the error of a failed write. Like Close, it must not be
// called from inside a View or Scan callback without a deadline on ctx:
// it would wait for that very reader to leave.
func (db *DB) Compact(ctx context.Context) error {
	_, err := db.CompactWithResult(ctx)
	return err
}

// CompactWithResult is Compact, also reporting what it did.
func (db *DB) CompactWithResult(ctx context.Context) (res CompactResult, err error) {
	if db.readOnly {
		return res, ErrReadOnly
	}
	if !db.bg.begin() {
		return res, ErrClosed
	}
	defer db.bg.end()
	if err := db.compactErr(); err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("%w: compaction not started (%w)", ErrBusy, err)
	}
	// Another Compact (the background one, say, waiting up to 10 s for a
	// snapshot to go) is waited for only while ctx lasts.
	select {
	case db.compacting <- struct{}{}:
	default:
		select {
		case db.compacting <- struct{}{}:
		case <-ctx.Done():
			return res, fmt.Errorf("%w: another compaction is running (%w)", ErrBusy, ctx.Err())
		}
	}
	defer func() { <-db.compacting }()
	if err := db.compactErr(); err != nil {
		return res, err
	}
	res.Consolidated = db.m.DeviceDAX() || db.noPunch.Load()
	db.reclaimAll() // what readers no longer hold counts as free when picking
	// Empty chunks first, those that still have blocks: nothing to move.
	var free []int64
	for _, c := range db.al.EmptyChunks(prepReserve) {
		if db.m.HasData(c) {
			free = append(free, c)
		}
	}
	if cs := db.al.Evacuate(free); len(cs) > 0 {
		if err := db.finishEvacuation(ctx, &res, nil); err != nil {
			return res, err
		}
	}
	// Each round empties chunks that no earlier round wrote to: the moved
	// records fill other chunks densely, and a chunk they landed in is not
	// emptied again by the same Compact (it would only move them on).
	dest := make(map[int64]bool)
	for range db.m.Size() / db.m.ChunkSize() {
		victims := db.pickVictims(dest)
		if len(victims) == 0 {
			break
		}
		db.al.Evacuate(victims)
		if err := db.finishEvacuation(ctx, &res, dest); err != nil {
			return res, err
		}
	}
	return res, nil
}

// compactErr is the error a compaction step must stop with: ErrClosed once
// Close has begun, a failed write's error, else nil.
func (db *DB) compactErr() error {
	if db.closed.Load() {
		return ErrClosed
	}
	return db.failedErr()
}

// pickVictims returns the chunks worth emptying now: at most CompactMaxFill
// full, sparsest first, none holding a damaged record or a bad block (those
// bytes never leave), and no more than the free space and limbo outside
// them can take (a move that finds no whole free chunk grows the pool, as
// any write does).
func (db *DB) pickVictims(dest map[int64]bool) []int64 {
	chunk := db.m.ChunkSize()
	maxUsed := int64(float64(chunk) * db.opts.CompactMaxFill)
	pinned := db.pinnedChunk()
	cands := db.al.Sparse(maxUsed, compactRound, func(c int64) bool {
		_, stuck := db.stuck.Load(c)
		return dest[c] || stuck || (pinned != nil && pinned(c))
	})
	room := db.al.FreeBytes() - db.al.HeldBytes() + db.al.LimboBytes() // limbo comes back as readers leave
	var out []int64
	for _, c := range cands {
		used := db.al.Used(c)
		room -= chunk - used // the victim's own free space is held, not usable
		if room-used < 0 {
			break
		}
		room -= used
		out = append(out, c)
	}
	return out
}

// pinnedChunk returns a test for chunks Compact must leave alone: those
// holding a damaged record or a range the kernel lists as bad.
func (db *DB) pinnedChunk() func(c int64) bool {
	chunk := db.m.ChunkSize()
	var pinned map[int64]bool
	for _, off := range db.damaged.copy() {
		if pinned == nil {
			pinned = make(map[int64]bool)
		}
		pinned[off/chunk] = true
	}
	for _, r := range db.media.Bad {
		if pinned == nil {
			pinned = make(map[int64]bool)
		}
		for c := r.Off / chunk; c <= (r.Off+r.Len-1)/chunk; c++ {
			pinned[c] = true
		}
	}
	if pinned == nil {
		return nil
	}
	return func(c int64) bool { return pinned[c] }
}

// finishEvacuation moves every record out of the chunks being emptied and
// punches each one as it empties, until none is left; when ctx ends or
// the DB closes first, it gives the rest back to the allocator.
func (db *DB) finishEvacuation(ctx context.Context, res *CompactResult, dest map[int64]bool) (err error) {
	defer func() {
		if err != nil {
			for _, c := range db.al.EvacuatingChunks() {
				db.al.Release(c)
			}
		}
	}()
	wait := 100 * time.Microsecond
	var walked time.Time
	moved := 1
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: compaction gave up with %d chunks being emptied (%w)", ErrBusy, db.al.Evacuating(), err)
		}
		// A pass walks the whole index. While the moves are done and only
		// readers hold the chunks, look again for records published since
		// (a Put that allocated before the evacuation) a few times a
		// second, not at every wake-up.
		if moved > 0 || time.Since(walked) >= rewalkEvery {
			var err error
			moved, err = db.moveOut(ctx, dest)
			walked = time.Now()
			res.Moved += moved
			if err != nil {
				return err
			}
		}
		if mutant.Enabled && mutant.On(mutant.CompactPunchEarly) {
			for _, c := range db.al.EvacuatingChunks() {
				_ = db.m.Punch(c) // the layout is not broken first
			}
		}
		db.reclaimAll()
		for _, c := range db.al.Emptied() {
			if err := db.punch(ctx, c, res); err != nil {
				return err
			}
			db.al.Release(c)
		}
		if db.al.Evacuating() == 0 {
			return nil
		}
		if err := db.compactErr(); err != nil {
			return err
		}
		// Limbo waits for readers (or a record was published after the
		// pass): let them go on, then look again.
		db.at(seam.CompactWait)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: compaction gave up: %d chunks still held by readers, snapshots or iterators (%w)",
				ErrBusy, db.al.Evacuating(), ctx.Err())
		case <-time.After(wait):
		}
		if moved == 0 {
			wait = min(2*wait, 10*time.Millisecond)
		}
	}
}

// reclaimAll advances the reader epoch as far as the readers let it and
// reclaims every limbo extent behind it: twice, since one advance only
// passes the readers that were already in.
func (db *DB) reclaimAll() {
	db.reclaim()
	db.reclaim()
}

// moveOut moves every live record found in a chunk being emptied, as the
// index holds them now, and returns how many it moved. The chunks the
// moved records land in are added to dest (when not nil). A record that
// cannot be read (a bad block the kernel did not list) stays where it is:
// its chunk is given back to the allocator and left out of compaction for
// as long as the DB is open (stuck), instead of failing the DB.
func (db *DB) moveOut(ctx context.Context, dest map[int64]bool) (int, error) {
	recs, err := db.victimRecords()
	if err != nil {
		return 0, err
	}
	chunk := db.m.ChunkSize()
	moved := 0
	var buf []byte
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return moved, fmt.Errorf("%w: compaction gave up (%w)", ErrBusy, err)
		}
		if r.bad {
			db.giveUpChunk(r.off / chunk)
			continue
		}
		to, nbuf, err := db.relocate(ctx, r.key, r.off, buf)
		buf = nbuf
		switch {
		case errors.Is(err, ErrCorrupt):
			db.giveUpChunk(r.off / chunk)
		case err != nil:
			return moved, err
		case to >= 0:
			moved++
			if dest != nil {
				dest[to/chunk] = true
			}
		}
	}
	return moved, nil
}

// giveUpChunk ends the evacuation of chunk c, whose records cannot all be
// read, and keeps it out of later compactions.
func (db *DB) giveUpChunk(c int64) {
	db.stuck.Store(c, true)
	db.al.Release(c)
}

// victimRecord is a live record of a chunk being emptied: its offset and
// key (copied), or bad when the key could not be read.
type victimRecord struct {
	off int64
	key []byte
	bad bool
}

// victimRecords lists the live records of the chunks being emptied, with
// their keys, read while the reader epoch is pinned: the index is cloned
// after the pin, so no record it reaches can be reclaimed (and reused, or
// poisoned by invariants builds) before the keys are copied.
func (db *DB) victimRecords() ([]victimRecord, error) {
	evac := db.al.EvacuatingChunks()
	if len(evac) == 0 {
		return nil, nil
	}
	tok, err := db.enter()
	if err != nil {
		return nil, err
	}
	defer db.ep.unpin(tok)
	chunk := db.m.ChunkSize()
	var refs []uint64
	db.idx.clone().Ascend(func(it item) bool {
		if _, found := slices.BinarySearch(evac, it.off()/chunk); found {
			refs = append(refs, it.ref)
		}
		return true
	})
	out := make([]victimRecord, 0, len(refs))
	mem := db.m.Bytes()
	for _, ref := range refs {
		r := victimRecord{off: int64(ref >> refKeyBits)}
		func() {
			var err error
			defer db.m.Guard(debug.SetPanicOnFault(true), &err)
			k, _, err := db.recordAt(mem, ref)
			if err == nil {
				r.key = append([]byte(nil), k...)
			}
			r.bad = err != nil
		}()
		out = append(out, r)
	}
	return out, nil
}

// relocate writes key's record at from anew, elsewhere, if the index still
// points there, and returns the new record's offset, or -1 when it did not
// move it. It is a Put of the key's own value (same protocol, same crash
// points), made under the key's stripe so that no write of the key
// interleaves. The value is first copied into buf (returned, grown as
// needed) under its own guard, before anything is allocated or written: a
// record on an unknown bad block is an error wrapping ErrCorrupt, and the
// DB stays writable. It waits for the key's stripe only while ctx lasts
// (ErrBusy after).
func (db *DB) relocate(ctx context.Context, key []byte, from int64, buf []byte) (to int64, _ []byte, err error) {
	h := hashKey(key)
	s := stripeOf(h)
	// A Check holds every stripe for its whole scan: wait for it, or for
	// the key's writers, only while ctx lasts.
	if err := db.locks.lockCtx(ctx, s); err != nil {
		return -1, buf, fmt.Errorf("%w: compaction gave up waiting for a key's stripe (%w)", ErrBusy, err)
	}
	if err := db.writeErr(); err != nil {
		db.locks.unlock(s)
		return -1, buf, err
	}
	defer db.unlockKey(s)
	it, ok := db.idx.lookup(key, h)
	if !ok || it.off() != from {
		return -1, buf, nil // deleted or overwritten since the pass looked
	}
	err = func() (err error) {
		defer db.m.Guard(debug.SetPanicOnFault(true), &err)
		_, v, err := db.recordAt(db.m.Bytes(), it.ref)
		if err == nil {
			buf = append(buf[:0], v...)
		}
		return err
	}()
	if err != nil {
		return -1, buf, fmt.Errorf("%w: compact: record at %d: %w", ErrCorrupt, from, err)
	}
	err = func() (err error) {
		defer db.failOnFault(&err)
		defer db.m.Guard(debug.SetPanicOnFault(true), &err)
		db.at(seam.Move)
		return db.putLocked(key, h, buf, true)
	}()
	if err != nil {
		return -1, buf, err
	}
	it, _ = db.idx.lookup(key, h)
	return it.off(), buf, nil
}

// punch gives the blocks of the emptied chunk c back to the filesystem
// (but on device DAX, where it only counts it emptied). It waits for a
// running Check (DB.scanMu) only while ctx lasts: then it returns an error
// wrapping ErrBusy, and the caller gives the chunk back to the allocator.
func (db *DB) punch(ctx context.Context, c int64, res *CompactResult) error {
	if res.Consolidated {
		res.Emptied++
		return nil
	}
	db.at(seam.Punch)
	for !db.scanMu.TryLock() {
		if err := db.compactErr(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: compaction gave up waiting for a Check to finish (%w)", ErrBusy, ctx.Err())
		case <-time.After(scanPoll):
		}
	}
	err := db.m.Punch(c)
	db.scanMu.Unlock()
	res.Emptied++
	if err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			// Nothing here can be punched: consolidate from now on, and
			// stop the background compaction from trying every second.
			db.noPunch.Store(true)
			res.Consolidated = true
			return nil
		}
		return fmt.Errorf("daxkv: compact: %w", err)
	}
	res.Punched++
	res.Freed += db.m.ChunkSize()
	db.punched.Add(1)
	return nil
}

// bgWork counts the background work in progress (compactions) that Close
// must wait for before it unmaps the pool: a punch works on the file.
type bgWork struct {
	mu      sync.Mutex
	cond    sync.Cond
	n       int
	closing bool
}

// begin registers one piece of work; false once Close has begun.
func (w *bgWork) begin() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return false
	}
	w.n++
	return true
}

func (w *bgWork) end() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n--; w.n == 0 {
		w.cond.Broadcast()
	}
}

// close refuses new work and waits for the work in progress.
func (w *bgWork) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closing = true
	if w.cond.L == nil {
		w.cond.L = &w.mu
	}
	for w.n > 0 {
		w.cond.Wait()
	}
}

// The background compaction (Options.CompactTrigger, NoAutoCompact) checks
// once per compactCheck whether the file's blocks hold enough dead bytes
// and runs a Compact bounded by compactBudget when they do.
const (
	compactCheck  = time.Second
	compactBudget = 10 * time.Second
)

// autoCompact is the background compaction's goroutine state.
type autoCompact struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startAutoCompact starts the background compaction of a writable DB,
// unless the options turn it off or the pool is on device DAX.
func (db *DB) startAutoCompact() {
	if db.opts.NoAutoCompact || db.m.DeviceDAX() {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	db.auto = autoCompact{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(db.auto.done)
		t := time.NewTicker(compactCheck)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if db.compactDue() {
				rctx, stop := context.WithTimeout(ctx, compactBudget)
				_ = db.Compact(rctx) // ErrBusy: again at the next check; a failure: every write reports it
				stop()
			}
		}
	}()
}

// stopAutoCompact stops the background compaction and waits for it.
func (db *DB) stopAutoCompact() {
	if db.auto.cancel != nil {
		db.auto.cancel()
		<-db.auto.done
	}
}

// compactDue reports whether the file's blocks hold at least
// CompactTrigger dead bytes (blocks not under a live record or limbo) and
// eight chunks' worth of them.
func (db *DB) compactDue() bool {
	if db.noPunch.Load() {
		return false
	}
	_, allocated, err := db.m.FileUsage()
	if err != nil || allocated <= 0 {
		return false
	}
	used := db.m.Size() - recovery.HeapStart - db.al.FreeBytes() // records and limbo
	dead := allocated - used
	return dead >= 8*db.m.ChunkSize() && float64(dead) >= db.opts.CompactTrigger*float64(allocated)
}
