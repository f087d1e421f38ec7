package kv

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/daxkv/daxkv/alloc"
	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/recovery"
)

// DAXMode selects how a pool is mapped and how writes are made durable.
type DAXMode int

const (
	// DAXAuto maps with MAP_SYNC where the filesystem supports it (DAX over
	// persistent memory) and commits with CPU cache-line flushes and a fence;
	// elsewhere it falls back to the page cache and msync. Durable in both.
	// It is the default.
	DAXAuto DAXMode = iota
	// DAXOn requires MAP_SYNC (Open fails with ErrDAXUnsupported otherwise):
	// every commit is CPU flushes and one fence, no system call.
	DAXOn
	// DAXOff uses the page cache: commits msync the dirty pages.
	DAXOff
	// DAXEmulated maps without MAP_SYNC but commits as DAXOn does, with CPU
	// flushes only. Durable against process crashes, NOT against power loss
	// or a kernel crash: it exists for tests and benchmarks on tmpfs, like
	// PMDK's PMEM_IS_PMEM_FORCE.
	DAXEmulated
)

// String returns "auto", "on", "off" or "emulated".
func (m DAXMode) String() string {
	switch m {
	case DAXAuto:
		return "auto"
	case DAXOn:
		return "on"
	case DAXOff:
		return "off"
	case DAXEmulated:
		return "emulated"
	}
	return fmt.Sprintf("DAXMode(%d)", int(m))
}

// prefOf is the on-media value of mode, as SetPreferredMode records it.
func prefOf(mode DAXMode) recovery.PrefMode {
	return [...]recovery.PrefMode{DAXAuto: recovery.PrefAuto, DAXOn: recovery.PrefOn,
		DAXOff: recovery.PrefOff, DAXEmulated: recovery.PrefEmulated}[mode]
}

// modeOf is the mode of an on-media preference; ok is false for a value
// this version does not know.
func modeOf(p recovery.PrefMode) (mode DAXMode, ok bool) {
	switch p {
	case recovery.PrefAuto:
		return DAXAuto, true
	case recovery.PrefOn:
		return DAXOn, true
	case recovery.PrefOff:
		return DAXOff, true
	case recovery.PrefEmulated:
		return DAXEmulated, true
	}
	return DAXAuto, false
}

// preferred decides the mode of an Open with DAXAuto on a pool that prefers
// p, and why the preference is not applied when it is not. A default Open
// is never less durable than DAXAuto and opens wherever DAXAuto would:
//
//   - auto and off apply as they are (the page cache is durable);
//   - on maps as DAXAuto does, which picks MAP_SYNC wherever it is granted;
//     where it is not, Open notes it (see Open) instead of failing;
//   - emulated is never applied: it is not durable against power loss;
//   - a value this version does not know is ignored.
func preferred(p recovery.PrefMode) (mode DAXMode, note string) {
	m, ok := modeOf(p)
	switch {
	case !ok:
		return DAXAuto, fmt.Sprintf("the pool's preferred mode %d is unknown to this version: opened as auto", p)
	case m == DAXEmulated:
		return DAXAuto, "the pool prefers emulated, which is not durable against power loss; a default open never is less durable than auto: opened as auto"
	case m == DAXOn:
		return DAXAuto, ""
	}
	return m, ""
}

// ParseDAXMode parses the String form of a mode.
func ParseDAXMode(s string) (DAXMode, error) {
	for m := DAXAuto; m <= DAXEmulated; m++ {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown DAX mode %q (want auto, on, off or emulated)", ErrInvalidOptions, s)
}

// Progress is how far a long operation has come (Options.Progress).
type Progress struct {
	ID    uint64 // the operation's, among this DB's (or Repair's): two at once have two
	Op    string // "recover", "check", "backup", "repair: scan" or "repair: write"
	Unit  string // "chunks" or "keys"
	Done  int64  // units done so far
	Total int64  // units in all
}

// Default option values.
const (
	DefaultSize      = 64 << 20
	DefaultChunkSize = 4 << 20
)

// Options configure Open. The zero value (or a nil *Options) means defaults.
type Options struct {
	// Size is the initial size in bytes of a new pool (rounded up to a
	// whole number of chunks). Default 64 MiB. The pool grows by itself
	// past it; for an existing pool it is ignored. Hazard: the file is
	// sparse, so a Size larger than the filesystem's free space costs
	// nothing at Open, and writes fail with ErrNoSpace only when records
	// reach chunks that cannot be allocated.
	Size int64

	// ChunkSize is the unit of growth, of block allocation and of the
	// parallel recovery scan, in bytes: a power of two between 64 KiB and
	// 1 GiB, default 4 MiB. It is fixed when the pool is created (an
	// existing pool keeps its own). Hazard: a value longer than half a
	// chunk takes whole chunks of its own (a run), and blocks are allocated
	// a whole chunk at a time, so small chunks waste space on values just
	// above half a chunk and large chunks make small pools take more space.
	ChunkSize int64

	// MaxSize caps the pool, in bytes: it is the size of the address range
	// reserved once at Open, so that the mapping never moves. Default 1 TiB
	// of address space (not memory), or less where the kernel refuses that
	// much (down to 1 GiB or four times Size). Hazard: growth past it fails
	// with ErrNoSpace; an explicit value is tried alone, and Open fails if
	// the kernel refuses it.
	MaxSize int64

	// DAX selects the durability path; see DAXMode. Default DAXAuto, which
	// also honours the preferred mode recorded in the pool (SetPreferredMode)
	// where doing so is as durable as DAXAuto: a preferred DAXOff applies; a
	// preferred DAXOn maps as DAXAuto does (MAP_SYNC where granted, the
	// page cache elsewhere, never an error); a preferred DAXEmulated is not
	// applied. Stats.PreferenceIgnored says why when it is not. Hazard:
	// DAXEmulated is durable against process crashes only, not power loss.
	DAX DAXMode

	// ReadOnly opens the pool without writing to it: a shared lock, a
	// read-only mapping, recovery done in memory only. Default false.
	// Writes return ErrReadOnly. Hazard: a pool left by a crash is
	// recovered in memory at every read-only open (it is not settled on
	// the media until a writable open), and a writer cannot open it while a
	// read-only handle is open (ErrLocked).
	ReadOnly bool

	// Perm is the permission of a newly created pool file (before the
	// umask). Default 0600. Hazard: the pool holds every value in the
	// clear; wider permissions share them.
	Perm os.FileMode

	// RecoveryWorkers is the number of goroutines scanning chunks at Open
	// and in Check. Default GOMAXPROCS. Hazard: more than the cores does not
	// help; 1 makes the open of a large pool proportionally slower.
	RecoveryWorkers int

	// CompactMaxFill is how full a chunk may be, as a fraction of
	// ChunkSize, for Compact to empty it: its live records are moved out
	// and the chunk punched. Default 0.5; at most 0.9. Hazard: a higher
	// value frees more space but moves more bytes for it (a chunk 90% full
	// costs nine chunks' worth of writes for each chunk given back).
	CompactMaxFill float64

	// CompactTrigger is the background compaction's trigger: a Compact runs
	// on its own when the file's blocks hold at least this fraction of dead
	// bytes (Stats: 1 - Used/AllocatedBytes) and at least eight chunks'
	// worth of them. Default 0.5. Checked once a second while the DB is
	// open; a run that readers hold up (ErrBusy) is retried at the next
	// check. Never on device DAX, which has nothing to give back. Hazard:
	// a compaction's moves are writes, competing with the application's.
	CompactTrigger float64

	// NoAutoCompact turns the background compaction off: space comes back
	// only through Compact. Default false.
	NoAutoCompact bool

	// LockWait is how long Open waits for another handle (in this process
	// or another) to close the pool before it fails with ErrLocked. Default
	// 0: Open fails at once. Hazard: a writer holds the pool for as long as
	// it is open, so a wait may last to the end of LockWait.
	LockWait time.Duration

	// Progress, when set, is told how far the DB's long operations have
	// come: the scan of Open's recovery and of Verify and Check (in
	// chunks), Backup (keys copied) and Repair (chunks scanned, then keys
	// written). It is called from the goroutines doing the work, one call
	// at a time for the DB (or the Repair), about once per chunk or per
	// thousand keys; within one operation (one ID) Done only grows, and
	// the last call of an operation that completes has Done == Total.
	// Default nil. Hazard: it runs on the operation's path: it must return
	// quickly, must not panic and must not call the DB.
	Progress func(Progress)

	// hooks are the test seams (package internal/seam), attached with
	// seam.Attach; nil in every Options a user makes.
	hooks *seam.Hooks
}

func init() {
	seam.Register(func(o any, h *seam.Hooks) { o.(*Options).hooks = h })
}

// ensureDefaults returns a copy of o with every zero field defaulted.
func (o *Options) ensureDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.Perm == 0 {
		c.Perm = 0o600
	}
	if c.RecoveryWorkers == 0 {
		c.RecoveryWorkers = runtime.GOMAXPROCS(0)
	}
	if c.CompactMaxFill == 0 {
		c.CompactMaxFill = 0.5
	}
	if c.CompactTrigger == 0 {
		c.CompactTrigger = 0.5
	}
	return c
}

// validate reports every problem of a defaulted Options at once.
func (o *Options) validate() error {
	var errs []error
	if o.Size < 0 {
		errs = append(errs, fmt.Errorf("option Size %d is negative", o.Size))
	}
	if !(o.CompactMaxFill > 0 && o.CompactMaxFill <= 0.9) {
		errs = append(errs, fmt.Errorf("option CompactMaxFill %g is not in (0, 0.9]", o.CompactMaxFill))
	}
	if !(o.CompactTrigger > 0 && o.CompactTrigger < 1) {
		errs = append(errs, fmt.Errorf("option CompactTrigger %g is not in (0, 1)", o.CompactTrigger))
	}
	if err := alloc.ValidChunkSize(o.ChunkSize); err != nil {
		errs = append(errs, fmt.Errorf("option ChunkSize: %w", err))
	}
	if o.MaxSize != 0 && (o.MaxSize < o.Size || o.MaxSize < o.ChunkSize) {
		errs = append(errs, fmt.Errorf("option MaxSize %d is below Size %d or ChunkSize %d", o.MaxSize, o.Size, o.ChunkSize))
	}
	if o.DAX < DAXAuto || o.DAX > DAXEmulated {
		errs = append(errs, fmt.Errorf("option DAX: mode %d is unknown", int(o.DAX)))
	}
	if o.LockWait < 0 {
		errs = append(errs, fmt.Errorf("option LockWait %v is negative", o.LockWait))
	}
	if o.RecoveryWorkers < 0 {
		errs = append(errs, fmt.Errorf("option RecoveryWorkers %d is negative", o.RecoveryWorkers))
	}
	if o.Perm&^os.ModePerm != 0 {
		errs = append(errs, fmt.Errorf("option Perm %v has bits other than permissions", o.Perm))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidOptions, errors.Join(errs...))
}
