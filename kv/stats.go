package kv

import (
	"time"

	"github.com/daxkv/daxkv/recovery"
)

// Stats describes an open DB.
type Stats struct {
	Keys     int64 // keys present
	PoolSize int64 // bytes of the pool file in use (mapped)
	// FileSize and AllocatedBytes are the pool file's size and the bytes
	// its blocks occupy (st_blocks x 512; the file is sparse until chunks
	// are used). Zero when the file cannot be stat'ed.
	FileSize       int64
	AllocatedBytes int64
	// ChunksPunched is how many chunks Compact (called, or in the
	// background) has given back to the filesystem since Open.
	ChunksPunched int64
	// Used, Free and Limbo are the allocator's. A read-only handle has no
	// allocator: its Used is what a writable open's would count as its open
	// found the pool (live records' extents, bad ranges and damaged
	// records set aside), Free the rest of the heap, Limbo zero.
	Used  int64 // bytes in live records' extents
	Free  int64 // bytes free for new records without growth
	Limbo int64 // bytes freed but still visible to a reader

	// OldestPinAge is how long the oldest open snapshot or iterator has
	// held the reader epoch (zero when none is open), and OpenSnapshots
	// how many are open (an iterator opened on the DB counts as one). A
	// forgotten one keeps every extent freed after it in Limbo.
	OldestPinAge  time.Duration
	OpenSnapshots int

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
	FlushMethod       string // "clwb", "clflushopt", "clflush", "dc cvap", "dc cvac", "msync", or "none (cpu_cache)"
	ReadOnly          bool

	MaxValueSize int // longest value this pool stores
	ChunkSize    int64

	// Recovered is true when the last open found the pool not closed
	// cleanly (a crash) and recovered it.
	Recovered bool
	// RecoveryTime is how long the open's scan (or checkpoint check),
	// index rebuild and replay took.
	RecoveryTime time.Duration
	// FromCheckpoint is true when the open rebuilt the index from the
	// checkpoint the last clean Close wrote beside the pool (POOL.index),
	// verifying the records it lists instead of scanning the pool.
	FromCheckpoint bool
	// CheckpointNote says why a cleanly closed pool's checkpoint was not
	// used (missing, damaged, not the one the superblock names); the open
	// scanned instead. Empty otherwise.
	CheckpointNote   string
	ReplayedBatches  int // committed batches settled by the open
	DroppedBatches   int // uncommitted batches undone by the open
	DiscardedRecords int // older versions, tombstones and uncommitted records freed by the open

	// PersistenceDomain is where the kernel says the persistent memory
	// under the pool becomes durable: "cpu_cache" (eADR; flushes are
	// skipped), "memory_controller" (ADR), or "" when it does not say (or
	// the pool is not on persistent memory).
	PersistenceDomain string
	// UnsafeShutdown is true when the memory's unsafe-shutdown count moved
	// while the pool was open: this open ran a full Check before any write.
	UnsafeShutdown bool
	// BadBytes is how many of the pool's bytes lie on blocks the kernel
	// lists as bad; DamagedKeys how many keys have their newest record
	// there (Get returns ErrCorrupt for them until they are written anew).
	BadBytes    int64
	DamagedKeys int
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
		FromCheckpoint:    db.recovery.indexed,
		CheckpointNote:    db.recovery.indexNote,
		ReplayedBatches:   db.recovery.replayed,
		DroppedBatches:    db.recovery.dropped,
		DiscardedRecords:  db.recovery.discarded,
		PersistenceDomain: db.media.PersistenceDomain,
		UnsafeShutdown:    db.recovery.unsafeShutdown,
		DamagedKeys:       db.damaged.len(),
		ChunksPunched:     db.punched.Load(),
	}
	s.OldestPinAge, s.OpenSnapshots = db.ep.oldestHold(time.Now())
	for _, r := range db.media.Bad {
		s.BadBytes += r.Len
	}
	if db.al != nil {
		as := db.al.Stats()
		s.Used, s.Free, s.Limbo = as.Used, as.Free, as.Limbo
	} else {
		s.Used = db.recovery.liveBytes
		s.Free = max(0, s.PoolSize-recovery.HeapStart-s.Used)
	}
	if size, allocated, err := db.m.FileUsage(); err == nil {
		s.FileSize, s.AllocatedBytes = size, allocated
	}
	return s
}
