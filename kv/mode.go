package kv

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/mutant"
	"github.com/daxkv/daxkv/internal/seam"
)

// SwitchMode changes the durability path of the open pool without closing
// it: DAXOn (MAP_SYNC and CPU flushes), DAXOff (page cache and msync),
// DAXEmulated (CPU flushes without MAP_SYNC), or DAXAuto (DAXOn where the
// filesystem allows it, else DAXOff).
//
// It stops every writer (it takes every key stripe, queueing behind the
// writers in progress), makes every write so far durable on the old path,
// and writes back the whole file (fdatasync): records written with CPU
// flushes on a page-cache mapping (the emulated mode) would otherwise sit
// in the page cache, outside the new path's dirty set, and blocks written
// through a mapping without MAP_SYNC may still need their metadata. Then it remaps the
// pool at the same addresses and installs the new path. Readers are not
// stopped: the new mapping replaces the old one in one step (MAP_FIXED), at
// the same addresses and over the same file, so a read sees the same bytes
// through either; only write faults differ between the two kinds of
// mapping, and no writer runs. A read nested inside a View or Scan
// callback therefore always completes, and a write nested there waits for
// the switch at most.
//
// When ctx ends before the writers in progress have finished, SwitchMode
// gives up, changes nothing, and returns an error wrapping ErrBusy. DAXOn on
// a filesystem without MAP_SYNC returns ErrDAXUnsupported and leaves the
// old mode in place. The preferred mode recorded in the pool is not changed
// (see SetPreferredMode).
func (db *DB) SwitchMode(ctx context.Context, mode DAXMode) (err error) {
	if db.readOnly {
		return ErrReadOnly
	}
	if mode < DAXAuto || mode > DAXEmulated {
		return fmt.Errorf("%w: DAX mode %d is unknown", ErrInvalidOptions, int(mode))
	}
	var method flush.Method
	if mode == DAXOn || mode == DAXEmulated {
		if method = flush.Detect(); method == flush.MethodNone {
			return fmt.Errorf("%w: no cache-line flush instruction on this CPU", ErrDAXUnsupported)
		}
	}
	if err := db.locks.lockAllCtx(ctx); err != nil {
		return fmt.Errorf("%w: writers still hold the pool: %w", ErrBusy, err)
	}
	defer db.locks.unlockAll()
	db.sbMu.Lock()
	defer db.sbMu.Unlock()
	// The chunk preparer grows the pool without a key stripe: growMu keeps
	// its growth (and the Persister's Resized) off the remap.
	db.growMu.Lock()
	defer db.growMu.Unlock()
	if err := db.writeErr(); err != nil {
		return err
	}
	defer db.failOnFault(&err)
	defer db.m.Guard(debug.SetPanicOnFault(true), &err)
	db.at(seam.Switch)
	if err := db.fence(); err != nil {
		return err
	}
	policy := map[DAXMode]daxmap.SyncPolicy{DAXAuto: daxmap.SyncAuto, DAXOn: daxmap.SyncRequire,
		DAXOff: daxmap.SyncNever, DAXEmulated: daxmap.SyncNever}[mode]
	if err := db.m.Remap(policy); err != nil {
		return err
	}
	// Everything the old path left in the page cache, and the metadata of
	// blocks written through a mapping without MAP_SYNC (unwritten extents
	// converted on write), must reach the media before the switch returns:
	// the new path's dirty set starts empty.
	if err := db.m.Sync(); err != nil {
		return db.fail(err)
	}
	db.setPersister(mode, method)
	return nil
}

// setPersister picks the effective mode and the Persister for the mapping
// as it is now, wrapped by the test seam if one is attached. Called by Open,
// and by SwitchMode with every stripe and sbMu held.
func (db *DB) setPersister(asked DAXMode, method flush.Method) {
	db.writeRecords = false
	switch {
	case db.m.MapSync():
		db.mode = DAXOn
		if method = flush.Detect(); method == flush.MethodNone {
			// MAP_SYNC without a flush instruction: stay correct with msync.
			db.mode = DAXOff
		}
	case asked == DAXEmulated:
		db.mode = DAXEmulated
	default:
		db.mode = DAXOff
	}
	var p flush.Persister
	switch {
	case db.mode == DAXOff:
		p = flush.NewMsync(db.m.Region())
		db.method = "msync"
		db.writeRecords = db.m.OnBlocks()
	case db.mode == DAXOn && db.media.CPUCache():
		// The caches are inside the persistence domain: fences only.
		p = flush.NewCPUCache(method)
		db.method = "none (cpu_cache)"
	default:
		p = flush.NewCPU(method)
		db.method = method.String()
	}
	if db.hooks != nil && db.hooks.WrapPersister != nil {
		p = db.hooks.WrapPersister(p, db.m.Bytes)
	}
	if mutant.Enabled {
		if db.mut == nil {
			db.mut = &mutantState{}
		}
		p = mutantPersister{p, db.mut}
	}
	db.p = p
}

// SetPreferredMode records mode in the pool's superblock (durably). It takes
// effect at the next Open whose Options.DAX is DAXAuto, like the kernel's
// per-file DAX flag takes effect when the inode is next loaded (SwitchMode
// switches the open pool), and only as far as it is as durable as DAXAuto:
// see Options.DAX. DAXEmulated may be recorded, for tests, but a default
// Open never applies it.
func (db *DB) SetPreferredMode(mode DAXMode) (err error) {
	if db.readOnly {
		return ErrReadOnly
	}
	if mode < DAXAuto || mode > DAXEmulated {
		return fmt.Errorf("%w: DAX mode %d is unknown", ErrInvalidOptions, int(mode))
	}
	tok, err := db.enter()
	if err != nil {
		return err
	}
	defer db.ep.unpin(tok)
	defer db.failOnFault(&err)
	defer db.m.Guard(debug.SetPanicOnFault(true), &err)
	db.sbMu.Lock()
	defer db.sbMu.Unlock()
	if err := db.failedErr(); err != nil {
		return err
	}
	db.sb.Preferred = prefOf(mode)
	db.at(seam.Superblock)
	if err := db.sb.Write(db.m.Bytes(), db.p); err != nil {
		return db.fail(err)
	}
	return nil
}
