package kv

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/recovery"
)

// What the kernel says about the persistent memory under a pool (daxmap's
// Media, read from sysfs at Open) changes three things:
//
//   - Persistence domain. Where it is the CPU cache (eADR; CXL with global
//     persistent flush), stores persist once in the cache: with MAP_SYNC the
//     CPU path skips its cache-line flushes and keeps its fences.
//   - Bad blocks. The ranges the kernel lists as bad (reading them raises
//     SIGBUS) are never read by the scan and never handed out. A record
//     whose header and key are readable but whose value lies on a bad block
//     is damaged: when it is its key's newest, the key is unreadable (Get
//     and View return ErrCorrupt with the record's offset) until it is
//     written or deleted; Scan passes over it; Stats and Check count it.
//     Repair saves everything else.
//   - Unsafe shutdowns. The DIMMs' unsafe-shutdown count is recorded in the
//     superblock at every writable open; when it has moved while the pool
//     was open (not closed cleanly), the persistence domain itself may have
//     lost data, so Open runs a full Check before it accepts a write and
//     refuses the pool if the Check finds anything (Stats.UnsafeShutdown).

// scan is how this DB's pool is scanned: its workers, its bad ranges, its
// read-ahead (the mapping reads no page around a fault), and the file's holes (never written, so never read: Open's cost follows the
// data, and on tmpfs a read of a hole would allocate it). Called with no
// writer running (Open, Check): a hole cannot fill meanwhile. When the
// filesystem cannot say, everything is read.
func (db *DB) scan(op string) recovery.Scan {
	holes, _ := db.m.Holes()
	return recovery.Scan{Workers: db.opts.RecoveryWorkers, Bad: db.media.Bad, Holes: holes,
		WillNeed: db.m.WillNeed, Progress: db.progress.reporter(op, "chunks")}
}

// progressGate hands Options.Progress the reports of one DB's (or one
// Repair's) operations: one call at a time, whatever the goroutines and
// operations reporting, each operation with an ID of its own.
type progressGate struct {
	fn  func(Progress)
	mu  sync.Mutex
	ops atomic.Uint64
}

// reporter returns the report function of a new operation op counting
// unit: it turns done of total into a Progress call. Nil without a
// Progress.
func (g *progressGate) reporter(op, unit string) func(done, total int) {
	if g.fn == nil {
		return nil
	}
	id := g.ops.Add(1)
	return func(done, total int) {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.fn(Progress{ID: id, Op: op, Unit: unit, Done: int64(done), Total: int64(total)})
	}
}

// checkShutdowns runs, on a writable open of a pool that was open when its
// DIMMs last shut down unsafely, a full Check before any write, and refuses
// the pool when it finds a problem.
func (db *DB) checkShutdowns(mem []byte, fresh bool) error {
	prev, cur := db.sb.Shutdowns, db.media.UnsafeShutdowns
	if db.readOnly || fresh || db.sb.Clean() || prev == 0 || cur < 0 || uint64(cur)+1 == prev {
		return nil
	}
	db.recovery.unsafeShutdown = true
	rep, err := recovery.Check(mem, db.m.Size(), db.scan("check"))
	if err != nil {
		return err
	}
	// Recovery has settled what a crash leaves; anything now is loss.
	if problems := append(rep.Problems, rep.Unsettled...); len(problems) > 0 {
		return fmt.Errorf("the memory's unsafe-shutdown count moved from %d to %d while the pool was open, and a check found: %w",
			prev-1, cur, &CheckError{Problems: problems})
	}
	return nil
}

// onBadBlock reports whether [off, off+n) meets one of the bad ranges.
func onBadBlock(bad []daxmap.Range, off, n int64) bool {
	for _, r := range bad {
		if r.Off < off+n && off < r.End() {
			return true
		}
	}
	return false
}

// damagedKeys are the keys whose newest record lies on a bad block, with
// that record's offset.
type damagedKeys struct {
	n    atomic.Int64     // len(keys), read without mu: the read path's fast check
	mu   sync.RWMutex     // protects keys
	keys map[string]int64 // nil when there are none
}

func (d *damagedKeys) set(ks []recovery.DamagedKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.keys = nil
	if len(ks) > 0 {
		d.keys = make(map[string]int64, len(ks))
	}
	for _, k := range ks {
		d.keys[string(k.Key)] = k.Off
	}
	d.n.Store(int64(len(d.keys)))
}

// lookup returns the offset of key's damaged record, if key is damaged.
func (d *damagedKeys) lookup(key []byte) (int64, bool) {
	if d.n.Load() == 0 {
		return 0, false
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	off, ok := d.keys[string(key)]
	return off, ok
}

// forget drops key, written or deleted anew. Without damaged keys (the
// common case) it is one atomic load: every write calls it, a batch once per
// key, and a lock, a map delete and a store per key were 5% of a 64-entry
// batch.
func (d *damagedKeys) forget(key []byte) {
	if d.n.Load() == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.keys, string(key))
	d.n.Store(int64(len(d.keys)))
}

func (d *damagedKeys) len() int { return int(d.n.Load()) }

// copy returns the damaged keys as they are now (nil when there are none),
// for a snapshot.
func (d *damagedKeys) copy() map[string]int64 {
	if d.n.Load() == 0 {
		return nil
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	return maps.Clone(d.keys)
}

// DamagedKeys returns, in byte order, the keys in [lower, upper) (a nil
// bound is unbounded) whose newest record lies on a bad block the kernel
// reported (Stats.DamagedKeys counts them all). Get returns ErrCorrupt for
// them, and iterators and Scan pass over them, until each is written or
// deleted anew: a caller that must not take a missing key for an absent
// one asks here. ErrClosed after Close.
func (db *DB) DamagedKeys(lower, upper []byte) ([][]byte, error) {
	tok, err := db.enter()
	if err != nil {
		return nil, err
	}
	defer db.ep.unpin(tok)
	var out [][]byte
	for k := range db.damaged.copy() {
		if (lower == nil || k >= string(lower)) && (upper == nil || k < string(upper)) {
			out = append(out, []byte(k))
		}
	}
	slices.SortFunc(out, bytes.Compare)
	return out, nil
}

// damagedError is what a read of a damaged key returns.
func damagedError(off int64) error {
	return &recovery.CorruptError{Off: off, Reason: "the key's newest record lies on a bad block"}
}
