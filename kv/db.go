package kv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/daxkv/daxkv/alloc"
	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/invariants"
	"github.com/daxkv/daxkv/internal/mutant"
	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/recovery"
)

// MaxKeySize is the longest key, in bytes.
const MaxKeySize = recovery.MaxKeySize

var _ io.Closer = (*DB)(nil)

// DB is an open pool. All methods are safe for concurrent use.
type DB struct {
	writeRecords bool // a Put pwrites its record (DAXOff on a filesystem with blocks: writeRecord); set by setPersister
	path         string
	opts         Options
	m            *daxmap.Map
	codec        *recovery.Codec
	maxValue     int
	progress     *progressGate // Options.Progress's calls
	ckpt         string        // the index checkpoint's absolute path ("": none)
	applies      sync.Pool     // *applyState, reused by Apply

	// sbMu protects sb and superblock writes; together with every key
	// stripe it protects p, mode and method, which SwitchMode replaces.
	// Writers read p under their stripe; Sync, Stats and SetPreferredMode
	// under sbMu. Lock order: stripes, then sbMu.
	sbMu   sync.Mutex
	sb     recovery.Superblock
	p      flush.Persister // the durability path every write goes through
	mode   DAXMode         // effective mode
	method string          // flush method name

	readOnly bool

	al     *alloc.Allocator // nil when read-only
	growMu sync.Mutex       // serializes pool growth, and growth with SwitchMode (taken after the stripes and sbMu)

	idx    *index        // key -> record
	seq    atomic.Uint64 // last sequence number handed out
	writes atomic.Uint64 // operations of the writes that succeeded, for yieldTurn
	sched  struct {      // yieldTurn's look at the scheduler
		sync.Mutex
		sample [1]metrics.Sample
	}
	leaseEnd atomic.Uint64 // the durable floor: numbers below it may be handed out (seq.go)
	ep       epochs        // reader pins
	locks    stripes       // writers, by key
	slots    chan int      // free batch log slots
	retired  atomic.Int64  // extents retired since the last reclaim attempt

	hooks *seam.Hooks  // test seams, from Options
	mut   *mutantState // the mutation gate's (mutants.go; builds with the mutants tag)

	failed  atomic.Pointer[failure] // the first I/O failure of a write (fail.go)
	closed  atomic.Bool
	closeMu sync.Mutex // serializes Close

	prep preparer // faults chunks in ahead of the writers (prepare.go)

	// compacting holds a token while a Compact runs: one at a time, and a
	// second waits for it only as long as its context allows (compact.go).
	compacting chan struct{}
	bg         bgWork       // compactions in progress, which Close waits for
	punched    atomic.Int64 // chunks punched by Compact since Open
	auto       autoCompact  // the background compaction (compact.go)
	stuck      sync.Map     // chunk index -> true: a record there cannot be read; compaction leaves it
	noPunch    atomic.Bool  // the filesystem cannot punch holes: compaction only consolidates
	// scanMu keeps punches out of a whole-pool scan of the open pool
	// (Verify holds it shared, punch alone): on tmpfs a read of a page
	// punched after the scan took the file's holes allocates the page
	// again, and on a full filesystem faults, which the scan would report
	// as damage.
	scanMu sync.RWMutex

	recovery recoveryStats
	prefNote string       // why Open did not apply the preferred mode; set once
	media    daxmap.Media // what the kernel says about the memory under the pool (media.go)
	damaged  damagedKeys  // keys whose newest record lies on a bad block (media.go)
}

type recoveryStats struct {
	liveBytes      int64 // recovery.Result.Used, for a read-only Stats
	crashed        bool
	took           time.Duration
	replayed       int
	dropped        int
	discarded      int
	unsafeShutdown bool   // the memory shut down unsafely while the pool was open
	indexed        bool   // built from the index checkpoint, without a scan
	indexNote      string // why a clean pool's checkpoint was not used
}

// Open opens the pool at path, creating it if it does not exist. A nil
// opts means defaults. When the pool was not closed cleanly, Open recovers
// it first: it scans every chunk in parallel, rebuilds the index and the free
// space, replays the committed batches and drops the others, and makes a new
// sequence floor durable before it returns. After a clean Close it reads
// the index checkpoint that Close left beside the pool (CheckpointPath)
// and verifies the records it lists instead of scanning, falling back to
// the scan when the checkpoint is missing or does not match
// (Stats.FromCheckpoint, Stats.CheckpointNote). Either way the ordered
// index fills in the background: Scan, iterators and snapshots taken
// right after Open wait for it; Get, Put and Delete do not.
func Open(path string, opts *Options) (db *DB, err error) {
	o := opts.ensureDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	// The superblock read before the lock is taken can be stale by the time
	// it is (LockWait: the holder may have formatted the pool or changed
	// its preferred mode meanwhile): then it is read again, under the lock.
	for range 3 {
		db, err = open(path, o)
		if !errors.Is(err, errStalePeek) {
			return db, err
		}
	}
	return nil, fmt.Errorf("daxkv: open %s: %w: the pool's header keeps changing under the open", path, ErrLocked)
}

// errStalePeek: the pool's header changed between Open's first read of it
// and the lock.
var errStalePeek = errors.New("daxkv: the pool's header changed before the lock was taken")

// open is one attempt of Open.
func open(path string, o Options) (db *DB, err error) {
	// Decide the mode before mapping: an existing pool's superblock says
	// its chunk size and the mode it prefers.
	chunk, mode, note := o.ChunkSize, o.DAX, ""
	pref := recovery.PrefAuto
	if f, err := os.Open(path); err == nil {
		sb, err := recovery.PeekSuperblock(f)
		f.Close()
		switch {
		case errors.Is(err, ErrVersion):
			// Refused before anything is mapped: a newer daxkv's pool may
			// use a geometry this version cannot even map.
			return nil, fmt.Errorf("daxkv: open %s: %w", path, err)
		case err == nil:
			chunk = sb.ChunkSize
			if o.DAX == DAXAuto {
				pref = sb.Preferred
				mode, note = preferred(pref)
			}
		}
	}
	policy := map[DAXMode]daxmap.SyncPolicy{DAXAuto: daxmap.SyncAuto, DAXOn: daxmap.SyncRequire,
		DAXOff: daxmap.SyncNever, DAXEmulated: daxmap.SyncNever}[mode]
	var method flush.Method
	if mode == DAXOn || mode == DAXEmulated {
		if method = flush.Detect(); method == flush.MethodNone {
			return nil, fmt.Errorf("%w: no cache-line flush instruction on this CPU", ErrDAXUnsupported)
		}
	}
	m, err := daxmap.Open(path, daxmap.Options{
		Size:      o.Size,
		ChunkSize: chunk,
		MaxSize:   o.MaxSize,
		ReadOnly:  o.ReadOnly,
		Sync:      policy,
		Perm:      o.Perm,
		FaultAlso: ErrCorrupt,
		LockWait:  o.LockWait,
	})
	if err != nil {
		return nil, err // daxmap names the path
	}
	if f, err := os.Open(path); err == nil { // again, under the lock
		sb, err := recovery.PeekSuperblock(f)
		f.Close()
		if err == nil && (sb.ChunkSize != chunk || o.DAX == DAXAuto && sb.Preferred != pref) {
			m.Close()
			return nil, errStalePeek
		}
	}
	d := &DB{path: path, opts: o, m: m, progress: &progressGate{fn: o.Progress}, ckpt: checkpointFile(path, m.DeviceDAX()), readOnly: o.ReadOnly, hooks: o.hooks, prefNote: note, media: m.Media(), compacting: make(chan struct{}, 1)}
	if h := d.hooks; h != nil {
		if h.Media != nil {
			h.Media(&d.media)
		}
		for _, off := range h.Poison {
			if err := m.Poison(off); err != nil {
				m.Close()
				return nil, err
			}
		}
	}
	db = d
	defer func() {
		if err != nil {
			if d.idx != nil {
				d.idx.close()
			}
			m.Close()
			db = nil
		}
	}()
	defer m.Guard(debug.SetPanicOnFault(true), &err)

	db.setPersister(mode, method)
	if pref == recovery.PrefOn && !m.MapSync() {
		db.prefNote = "the pool prefers on, but this filesystem refuses MAP_SYNC: opened as auto (page cache)"
	}
	if err := db.load(); err != nil {
		return nil, fmt.Errorf("daxkv: open %s: %w", path, err)
	}
	if !db.readOnly {
		db.startPreparer()
		db.startAutoCompact()
	}
	return db, nil
}

// load reads or formats the superblock and recovers the heap.
func (db *DB) load() error {
	mem := db.m.Bytes()
	fresh := false
	sb, err := recovery.ReadSuperblock(mem)
	// A new file is formatted; so is an existing one whose heap is all
	// zero (a crash during creation, which may leave a torn superblock but
	// never a record); never one that holds a record.
	if err != nil && !errors.Is(err, recovery.ErrVersion) && (db.m.Created() || recovery.Unformatted(mem)) {
		if db.readOnly {
			return fmt.Errorf("%w: pool is empty (never formatted) and the open is read-only", ErrCorrupt)
		}
		sb, err = recovery.Format(mem, db.p, db.m.ChunkSize(), recovery.PrefAuto) // no preference until SetPreferredMode
		fresh = true
	}
	if err != nil {
		return err
	}
	if sb.ChunkSize != db.m.ChunkSize() {
		return fmt.Errorf("%w: superblock chunk size %d changed under the open", ErrCorrupt, sb.ChunkSize)
	}
	db.sb = sb
	db.codec = recovery.NewCodec(&sb)
	db.maxValue = db.codec.MaxValue()

	start := time.Now()
	var p flush.Persister
	if !db.readOnly {
		p = db.p
	}
	var res *recovery.Result
	indexed := false
	if fresh {
		// Just formatted: nothing to scan.
		res = recovery.Empty(&sb, db.m.Size())
		db.idx = newIndex(0, db.m.Bytes)
	} else if res, err = db.recoverIndexed(mem, &sb, p); res != nil || err != nil {
		indexed = res != nil
	} else {
		// The winners come in key order, in batches, while recovery goes
		// on; the index is built from them once it is done.
		var list []recovery.Listed
		res, err = recovery.RecoverStream(mem, db.m.Size(), &sb, p, db.scan("recover"), func(batch []recovery.Entry, total int) {
			if list == nil {
				list = make([]recovery.Listed, 0, total)
			}
			for i := range batch {
				e := &batch[i]
				list = append(list, recovery.Listed{Ref: makeRef(e.Off, int(e.KeyLen)), P0: e.P0, P1: e.P1})
			}
		})
		if err == nil {
			db.idx, err = buildIndex(mem, db.m.Bytes, list, db.opts.RecoveryWorkers)
		}
	}
	if err != nil {
		return err
	}
	db.recovery = recoveryStats{
		indexed:   indexed,
		indexNote: db.recovery.indexNote,
		liveBytes: res.Used,
		crashed:   !fresh && !sb.Clean(), // a pool formatted by this open did not crash
		took:      time.Since(start),
		replayed:  res.Replayed,
		dropped:   res.Dropped,
		discarded: res.Discarded,
	}
	db.damaged.set(res.Damaged)
	if err := db.checkShutdowns(mem, fresh); err != nil {
		return err
	}
	db.seq.Store(res.Floor - 1)
	db.slots = make(chan int, recovery.LogSlots)
	for i := 0; i < recovery.LogSlots; i++ {
		db.slots <- i
	}
	if db.readOnly {
		return nil
	}
	db.al = res.Alloc
	if invariants.Enabled {
		db.al.OnReclaim(db.poison)
	}
	// Before any new write: the floor is durable, leased past the first
	// number this open hands out (seq.go), and the pool is marked in use
	// (not clean), so a crash from here on is recovered.
	db.sb.SeqFloor = res.Floor + db.lease()
	db.sb.Flags &^= recovery.FlagClean
	// A version-1 pool becomes version 2 (runs) with the same superblock
	// write: it holds no run, and a release that reads only version 1
	// refuses it from now on (ErrVersion) rather than misreading a run.
	db.sb.Version = recovery.Version
	db.sb.Index = 0 // the checkpoint stops matching before the first write
	db.sb.Shutdowns = 0
	if n := db.media.UnsafeShutdowns; n >= 0 {
		db.sb.Shutdowns = uint64(n) + 1
	}
	if err := db.sb.Write(mem, db.p); err != nil {
		return err
	}
	db.leaseEnd.Store(db.sb.SeqFloor)
	db.codec = recovery.NewCodec(&db.sb) // of the version just written
	db.maxValue = db.codec.MaxValue()
	removeCheckpoint(db.ckpt) // stale now; Close writes a new one
	return nil
}

// Close makes everything durable, marks the pool cleanly closed and releases
// the mapping and the lock, in reverse order of acquisition. It waits for
// operations in progress. The first call returns the first error met (after
// a write failed, an error wrapping ErrFailed: the pool is then left as the
// media hold it, for the next Open to recover); every later call returns
// ErrClosed. Close must not be called from inside a View or Scan callback:
// it would wait for that reader to finish.
//
// Close does not wait for open snapshots and iterators: it closes them
// (their methods return ErrClosed). The key and value slices their
// iterators handed out are then past their validity, but reading one reads
// zeros, never faults: while any of them is open, Close puts read-only
// zero pages in place of the pool's mapping (one mmap, at once for every
// thread), and the last one's Close gives the address range back. An
// iterator never closed keeps that range (address space, no memory; the
// pool's size, or on device DAX the device's) for the life of the process.
func (db *DB) Close() (err error) {
	db.closeMu.Lock()
	defer db.closeMu.Unlock()
	if db.closed.Swap(true) {
		return ErrClosed
	}
	db.stopAutoCompact()
	db.bg.close() // a compaction sees closed and stops at its next step
	db.ep.drain()
	// No read can start now, and every read of a snapshot or an iterator
	// takes a slot pin: their holds can go.
	ghosts := db.ep.releaseAll()
	db.locks.lockAll()
	defer db.locks.unlockAll()
	db.stopPreparer()
	switch {
	case db.readOnly:
	case db.failed.Load() != nil:
		// Memory and media may disagree: write nothing, leave the pool
		// marked in use, and let the next Open recover from the media.
		err = db.failedErr()
	default:
		func() {
			defer db.m.Guard(debug.SetPanicOnFault(true), &err)
			if err = db.p.Drain(); err != nil {
				err = db.fail(err)
				return
			}
			db.sbMu.Lock()
			defer db.sbMu.Unlock()
			db.sb.SeqFloor = db.seq.Load() + 1
			db.sb.Flags |= recovery.FlagClean
			db.sb.Index = 0
			if db.ckpt != "" && len(db.media.Bad) == 0 && db.damaged.len() == 0 {
				// A cache for the next Open: without it, Open scans.
				// Not on bad media: a damaged key is left out of the
				// index, and only a scan finds what it holds once the
				// blocks read again.
				if sum, cerr := db.writeCheckpoint(); cerr == nil {
					db.sb.Index = sum
					db.at(seam.Checkpoint)
				}
			}
			if err = db.sb.Write(db.m.Bytes(), db.p); err != nil {
				err = db.fail(err)
			}
		}()
	}
	db.idx.close()
	var cerr error
	if ghosts == 0 {
		cerr = db.m.Close()
	} else {
		// Snapshots and iterators are still open: a slice one handed out
		// reads zeros from here on, instead of faulting, until the last of
		// them is closed and the range goes back (an munmap of a range we
		// mapped cannot fail but on a bad argument).
		var unmap func() error
		unmap, cerr = db.m.CloseToZeros()
		db.ep.afterGhosts(func() { _ = unmap() })
	}
	if err == nil {
		err = cerr
	}
	return err
}

// Sync makes every write so far durable and flushes the file's metadata. A
// write that returned nil is already durable; Sync is for callers that want
// the file itself settled (a backup, a copy).
func (db *DB) Sync() (err error) {
	tok, err := db.enter()
	if err != nil {
		return err
	}
	defer db.ep.unpin(tok)
	if db.readOnly {
		return nil
	}
	if err := db.failedErr(); err != nil {
		return err
	}
	defer db.failOnFault(&err)
	defer db.m.Guard(debug.SetPanicOnFault(true), &err)
	db.sbMu.Lock() // against SwitchMode replacing the Persister
	defer db.sbMu.Unlock()
	if err := db.p.Drain(); err != nil {
		return db.fail(err)
	}
	if err := db.m.Sync(); err != nil {
		return db.fail(err)
	}
	return nil
}

// Path returns the pool's file name.
func (db *DB) Path() string { return db.path }

// enter pins the current epoch for an operation that does not hold a key
// stripe (reads, Sync, Stats); Close waits for every pin to go.
func (db *DB) enter() (uint32, error) {
	tok := db.ep.pin()
	if db.closed.Load() {
		db.ep.unpin(tok)
		return 0, ErrClosed
	}
	return tok, nil
}

// at marks the named point p of a protocol: it calls the test seam
// attached there, if any, and, in builds with the mutants tag, arms the
// active mutant (mutants.go).
func (db *DB) at(p seam.Point) {
	if db.hooks != nil && db.hooks.At != nil {
		db.hooks.At(p)
	}
	if mutant.Enabled {
		db.mutantAt(p)
	}
}
