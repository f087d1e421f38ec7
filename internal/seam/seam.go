// Package seam holds daxkv's test seams: the hooks that the crash suite and
// the tests attach to a kv.Options, kept out of the public API the way
// pebble keeps its testing knobs in Options.private. Being internal, it can
// be imported only from inside the daxkv module.
//
// A seam never changes what the store does unless a hook is attached, and
// the store pays one nil check per named point when none is.
package seam

import (
	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/flush"
)

// Point names a place in the store's protocols where a hook may run: the
// durability boundaries of the write path (the crash points), and the places
// tests stall a goroutine to force an interleaving.
type Point string

// The write path's durability boundaries, in the order an operation passes
// them.
const (
	PutWrite       Point = "put-write"       // the record is about to be written
	PutWritten     Point = "put-written"     // record written and flushed, before its fence
	PutDurable     Point = "put-durable"     // record durable, index not yet updated
	PutPublished   Point = "put-published"   // index updated, old version freed but not fenced
	DeletePrefence Point = "delete-prefence" // before the fence that makes older versions' frees durable
	DeleteFreed    Point = "delete-freed"    // state word zeroed and flushed, before the fence
	DeleteDurable  Point = "delete-durable"  // the delete is durable, index not yet updated
	BatchBegin     Point = "batch-begin"     // stripes, log slot and sequence number taken, nothing written
	BatchWritten   Point = "batch-written"   // pending records written and flushed, no fence: the commit entry follows
	BatchCommit    Point = "batch-commit"    // commit entry written and flushed, before the fence that makes it and the records durable
	BatchCommitted Point = "batch-committed" // the commit point has passed, nothing settled
	BatchSettling  Point = "batch-settling"  // records marked live, old versions freed, before the fence
	BatchSettled   Point = "batch-settled"   // settled and published; log slot not yet cleared
	Grow           Point = "grow"            // the pool file is about to be extended
	Superblock     Point = "superblock"      // a superblock update is about to be written
	SeqLease       Point = "seq-lease"       // a writer is about to write the next sequence-number lease
	Switch         Point = "switch"          // SwitchMode has stopped the writers and is about to drain the old path
	KeyUnlock      Point = "key-unlock"      // a write is about to release its key stripes: its flushes are ordered here
	Move           Point = "move"            // Compact is about to write a live record anew (a Put of its own value follows)
	Punch          Point = "punch"           // Compact is about to punch an emptied chunk out of the file
	Checkpoint     Point = "checkpoint"      // a clean Close has put the index checkpoint in place; the pool is not marked clean yet
)

// CrashPoints lists the write path's durability boundaries in order.
var CrashPoints = []Point{
	PutWrite, PutWritten, PutDurable, PutPublished,
	DeletePrefence, DeleteFreed, DeleteDurable,
	BatchBegin, BatchWritten, BatchCommit, BatchCommitted, BatchSettling, BatchSettled,
	Grow, Superblock, SeqLease, Switch, Move, Punch, Checkpoint,
}

// Latency points: where a write does work the chunk preparer is there to
// take off the write path. Tests count them; they are not crash points.
const (
	// FaultIn: a write is about to fault in and allocate a chunk itself,
	// because the preparer had not got to it.
	FaultIn Point = "fault-in"
)

// Compaction points: where the crash suite learns how far a Compact got.
const (
	// CompactWait: Compact has moved every record it found in the chunks
	// being emptied and is about to wait for readers, snapshots and
	// iterators to leave them. A workload that holds a snapshot ends the
	// Compact here (its context), after the moves and not before, however
	// slowly the moves ran.
	CompactWait Point = "compact-wait"
)

// Read-path points: where tests stall a reader to force an interleaving
// with writers.
const (
	// ReadLookup: a reader has pinned its epoch and is about to look its
	// key up in the index.
	ReadLookup Point = "read-lookup"
)

// Hooks are the seams of one kv.Options. Every field is optional.
type Hooks struct {
	// WrapPersister wraps the Persister every write goes through, each time
	// the store makes one (at Open and at every SwitchMode). mapped returns
	// the pool's current mapping. The crash suite installs its persistence
	// simulator here; tests count fences and inject Drain errors. A wrapper
	// that drops Flush or Drain calls breaks durability.
	WrapPersister func(inner flush.Persister, mapped func() []byte) flush.Persister

	// At is called at every named point, on the goroutine passing it. On
	// the write path it runs with the key's stripe held and must not call
	// back into the DB.
	At func(p Point)

	// Prepare, when set, is called by the chunk preparer (kv/prepare.go)
	// before it faults in a chunk ahead of the writers: on the preparer's
	// own goroutine, concurrently with everything else, holding nothing.
	// It is apart from At so that At's callers may keep assuming that a
	// point comes from the goroutine of an operation they started.
	Prepare func()

	// Yield, when set, is called when a writer is about to yield its P to
	// a goroutine that waits for one (kv's yieldTurn): on the writer's
	// goroutine, after its write, holding nothing.
	Yield func()

	// WriteAt, when set, is called before a Put writes its record with
	// pwrite (DAXOff on a filesystem with blocks, kv's writeRecord), on the
	// writer's goroutine with the key's stripe held; an error it returns
	// is taken as the pwrite's, and the record is not written. Tests
	// inject the errors a disk can give.
	WriteAt func(b []byte, off int64) error

	// NoGrowAhead keeps the chunk preparer from growing the pool ahead of
	// the writers: growth then happens only in a writer that runs out of
	// space, at the Grow point, where tests crash or count it.
	NoGrowAhead bool

	// SeqLease, when not zero, replaces the number of sequence numbers the
	// store reserves durably at a time (normally about a million), so that
	// tests and the crash suite reach the lease's superblock update often.
	SeqLease uint64

	// LegacyFloor makes the store keep its sequence floor as releases
	// before the lease did: written once at Open, at the first number it
	// may hand out, and never extended. Pools written that way must still
	// recover right (the floor is raised past every number found on the
	// media); the crash suite writes some of its pools so.
	LegacyFloor bool

	// Media, when set, may change what the store believes about the memory
	// under the pool (daxmap.Media, read from sysfs at Open): tests give a
	// pool on tmpfs bad blocks, a persistence domain or an unsafe-shutdown
	// count. Poison lists pool offsets whose pages are made to fault on
	// access right after the mapping (daxmap.Map.Poison), as an unknown bad
	// block would.
	Media  func(m *daxmap.Media)
	Poison []int64
}

// attach is installed by package kv: it stores h in the kv.Options o.
var attach func(o any, h *Hooks)

// Register is called once, by package kv, to install the function Attach
// uses.
func Register(f func(o any, h *Hooks)) { attach = f }

// Attach attaches h to opts, a *kv.Options. The hooks are copied into the
// DB that Open makes from opts.
func Attach(opts any, h *Hooks) { attach(opts, h) }
