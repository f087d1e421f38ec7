package kv

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/flush"
)

// SwitchMode changes the durability path of the open pool without closing
// it: DAXOn (MAP_SYNC and CPU flushes), DAXOff (page cache and msync),
// DAXEmulated (CPU flushes without MAP_SYNC), or DAXAuto (DAXOn where the
// filesystem allows it, else DAXOff). Like the kernel's per-file DAX switch
// it is allowed only when nothing uses the mapping: it stops writers, blocks
// new readers, waits for the readers in progress to finish, makes every
// write durable on the old path, remaps the pool at the same addresses and
// resumes. When ctx ends before the readers are gone it gives up, changes
// nothing, and returns an error wrapping ErrBusy. DAXOn on a filesystem
// without MAP_SYNC returns ErrDAXUnsupported and leaves the old mode in
// place. The preferred mode recorded in the pool is not changed (see
// SetPreferredMode).
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
	db.locks.lockAll()
	defer db.locks.unlockAll()
	if db.closed.Load() {
		return ErrClosed
	}
	db.switching.Store(true)
	defer db.switching.Store(false)
	for db.ep.pinned(0) || db.ep.pinned(1) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: readers still hold the mapping: %w", ErrBusy, ctx.Err())
		case <-time.After(50 * time.Microsecond):
		}
	}
	defer db.m.Guard(debug.SetPanicOnFault(true), &err)
	if err := db.failedErr(); err != nil {
		return err
	}
	if err := db.p.Drain(); err != nil {
		return db.fail(err)
	}
	policy := map[DAXMode]daxmap.SyncPolicy{DAXAuto: daxmap.SyncAuto, DAXOn: daxmap.SyncRequire,
		DAXOff: daxmap.SyncNever, DAXEmulated: daxmap.SyncNever}[mode]
	if err := db.m.Remap(policy); err != nil {
		return err
	}
	db.setPersister(mode, method)
	return nil
}

// setPersister picks the effective mode and the Persister for the mapping
// as it is now, wrapped by the test seam if one is attached.
func (db *DB) setPersister(asked DAXMode, method flush.Method) {
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
	if db.mode == DAXOff {
		p = flush.NewMsync(db.m.Region())
		db.method = "msync"
	} else {
		p = flush.NewCPU(method)
		db.method = method.String()
	}
	if db.hooks != nil && db.hooks.WrapPersister != nil {
		p = db.hooks.WrapPersister(p, db.m.Bytes)
	}
	db.p = p
}
