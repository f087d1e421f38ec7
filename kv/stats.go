package kv

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/recovery"
)

// Stats describes an open DB.
type Stats struct {
	Keys     int64 // keys present
	PoolSize int64 // bytes of the pool file in use (mapped)
	Used     int64 // bytes in live records' extents
	Free     int64 // bytes free for new records without growth
	Limbo    int64 // bytes freed but still visible to a reader

	// Mode is the effective durability path: DAXOn when the mapping is
	// MAP_SYNC (or device DAX) and commits are CPU flushes, DAXOff for the
	// page cache and msync, DAXEmulated for CPU flushes without MAP_SYNC.
	Mode DAXMode
	// PreferredMode is the mode recorded in the pool (SetPreferredMode),
	// applied at the next open that does not name one (see Options.DAX).
	PreferredMode DAXMode
	// PreferenceIgnored says why this open did not apply PreferredMode
	// ("" when it did, when there is none, or when Options.DAX named a
	// mode): a default open is never less durable than DAXAuto and opens
	// wherever DAXAuto would.
	PreferenceIgnored string
	MapSync           bool   // the mapping is synchronous (MAP_SYNC or device DAX)
	DeviceDAX         bool   // the pool is a device-DAX character device
	FlushMethod       string // "clwb", "clflushopt", "clflush", "dc cvap", "dc cvac" or "msync"
	ReadOnly          bool

	MaxValueSize int // longest value this pool stores
	ChunkSize    int64

	// Recovered is true when the last open found the pool not closed
	// cleanly (a crash) and recovered it.
	Recovered bool
	// RecoveryTime is how long the open's scan, index rebuild and replay
	// took (every open scans; after a crash it also repairs).
	RecoveryTime     time.Duration
	ReplayedBatches  int // committed batches settled by the open
	DroppedBatches   int // uncommitted batches undone by the open
	DiscardedRecords int // older versions, tombstones and uncommitted records freed by the open
}

// Stats returns a snapshot of the DB's figures, or the zero Stats after Close.
func (db *DB) Stats() Stats {
	tok, err := db.enter()
	if err != nil {
		return Stats{}
	}
	defer db.ep.unpin(tok)
	keys := db.idx.len()
	db.sbMu.Lock()
	pref, _ := modeOf(db.sb.Preferred)
	mode, method := db.mode, db.method
	db.sbMu.Unlock()
	s := Stats{
		Keys:              int64(keys),
		PoolSize:          db.m.Size(),
		Mode:              mode,
		PreferredMode:     pref,
		PreferenceIgnored: db.prefNote,
		MapSync:           db.m.MapSync(),
		DeviceDAX:         db.m.DeviceDAX(),
		FlushMethod:       method,
		ReadOnly:          db.readOnly,
		MaxValueSize:      db.maxValue,
		ChunkSize:         db.m.ChunkSize(),
		Recovered:         db.recovery.crashed,
		RecoveryTime:      db.recovery.took,
		ReplayedBatches:   db.recovery.replayed,
		DroppedBatches:    db.recovery.dropped,
		DiscardedRecords:  db.recovery.discarded,
	}
	if db.al != nil {
		as := db.al.Stats()
		s.Used, s.Free, s.Limbo = as.Used, as.Free, as.Limbo
	}
	return s
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

// Check verifies the pool while it is open: it stops writers, checks every
// record with recovery.Check, and compares the result with the index. It
// returns nil for a clean pool, or an error wrapping ErrCorrupt that lists
// every problem found.
func (db *DB) Check() (err error) {
	db.locks.lockAll()
	defer db.locks.unlockAll()
	tok, err := db.enter()
	if err != nil {
		return err
	}
	defer db.ep.unpin(tok)
	defer db.m.Guard(debug.SetPanicOnFault(true), &err)
	rep, err := recovery.Check(db.m.Bytes(), db.m.Size(), db.opts.RecoveryWorkers)
	if err != nil {
		return err
	}
	problems := rep.Problems
	keys, bad := db.checkIndex()
	problems = append(problems, bad...)
	if keys != rep.Keys {
		problems = append(problems, fmt.Sprintf("index holds %d keys, the pool %d", keys, rep.Keys))
	}
	if len(problems) > 0 {
		return &CheckError{Problems: problems}
	}
	return nil
}

// CheckError lists what Check found wrong; it wraps ErrCorrupt.
type CheckError struct{ Problems []string }

func (e *CheckError) Error() string {
	s := fmt.Sprintf("daxkv: check found %d problem(s)", len(e.Problems))
	for i, p := range e.Problems {
		if i == 10 {
			s += fmt.Sprintf("; and %d more", len(e.Problems)-10)
			break
		}
		s += "; " + p
	}
	return s
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CheckError) Unwrap() error { return ErrCorrupt }

// checkIndex compares the index with the pool: every B-tree item must point
// at a valid live record of its key length, the key count must match the
// tree, and the hash table may not hold more entries than keys. Every
// writer is stopped (Check holds every stripe).
func (db *DB) checkIndex() (keys int, bad []string) {
	mem, chunk := db.m.Bytes(), db.m.ChunkSize()
	treeKeys, counted, hashed := db.idx.audit(func(it item) bool {
		h, ok := db.codec.Decode(mem, it.off(), (it.off()/chunk+1)*chunk)
		if !ok || h.Tag != recovery.TagLive || h.KeyLen != it.keyLen() {
			bad = append(bad, fmt.Sprintf("offset %d: index entry points at no valid live record", it.off()))
		}
		return len(bad) < 100
	})
	if treeKeys != counted {
		bad = append(bad, fmt.Sprintf("B-tree holds %d keys, the key count says %d", treeKeys, counted))
	}
	if hashed > treeKeys {
		bad = append(bad, fmt.Sprintf("hash index holds %d entries for %d keys", hashed, treeKeys))
	}
	return treeKeys, bad
}
