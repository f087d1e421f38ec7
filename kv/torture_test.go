package kv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/fstest"
	"github.com/daxkv/daxkv/internal/seam"
)

// The torture test runs the whole store at once, concurrently, on a pool
// that starts at one 64 KiB chunk: writers (Put, Delete, Apply) on disjoint
// key sets (three keys in four longer than the 16 bytes an index item
// holds, tying with a neighbour on them: see tkey), readers (Get, View, Scan, with random hold times and reads
// nested inside their callbacks), a snapshot reader (snapshots and
// iterators held while the writers go on, read twice, some left open
// across Close), a compactor (Compact with short deadlines: records move
// while writers overwrite them and snapshots pin them), a goroutine
// switching the live pool between the CPU-flush and the page-cache path,
// another running Check and Stats, Drain errors injected through the Persister seam,
// pools that run out of space (capped by MaxSize, or on a filesystem
// nearly full: writes there fail with ErrNoSpace, which must change
// nothing and fail nothing else), random stalls at
// the named seam points (to widen race windows, in the spirit of
// FoundationDB's buggify), and Close and reopen between cycles. Readers
// check every value they see against what the writers acknowledged; after
// every reopen the whole pool is checked against the model: every
// acknowledged write present, no deleted key back, an operation that
// failed all or nothing.
//
// It runs for DAXKV_TORTURE (a duration; default 10s, 2s with -short); make
// torture runs it for a minute.

const (
	tortureWriters   = 3
	tortureReaders   = 3
	tortureKeysPer   = 24 // keys per writer
	tortureMaxValue  = 6000
	tortureFreshPool = 3 // cycles on one pool before starting a new one from one chunk
)

// keyState is one key's state: the version of the operation that produced
// it (0 for never written) and whether the key is present.
type keyState struct {
	ver     int
	present bool
	size    int
}

func (s keyState) packed() int64 {
	p := int64(0)
	if s.present {
		p = 1
	}
	return int64(s.ver)<<1 | p
}

// uncertain is an operation that returned an error: after the reopen each
// of its keys holds either the state before it or the state after it, and
// all of them the same side.
type uncertain struct {
	before, after map[int]keyState
}

type torture struct {
	t    *testing.T
	dir  string
	path string
	seed uint64
	// tight is a small filesystem (when the test may mount one) where
	// some pools live, so that they run out of blocks; maxSize, when not
	// zero, caps the current pool (Options.MaxSize). Either makes writes
	// fail with ErrNoSpace now and then.
	tight   string
	maxSize int64
	modelMu sync.Mutex       // protects model: the writers' keys are disjoint, the map is shared
	model   map[int]keyState // acknowledged state of every key
	unsure  []uncertain      // operations that failed since the last reopen
	version atomic.Int64     // versions handed to operations, globally unique

	// Live state for the readers' checks: per key, the last acknowledged
	// state (packed) and the highest version an operation on it started.
	acked   [tortureWriters * tortureKeysPer]atomic.Int64
	started [tortureWriters * tortureKeysPer]atomic.Int64
	hot     [tortureWriters]atomic.Int64 // the key each writer works on now
	// batch is each writer's Batch, Reset and reused across operations and
	// reopens, as a program reuses one (its buffer is kept by Reset).
	batch [tortureWriters]Batch

	stats struct {
		cycles, failures, reopens, fresh, switches, busy, checks, repairs atomic.Int64
		puts, deletes, batches, reads, nested, scans                      atomic.Int64
		snapshots, leaked, backups                                        atomic.Int64
		compactions, moved, punched                                       atomic.Int64
		tight, capped, nospace                                            atomic.Int64
	}
}

// TestTorture is described above.
func TestTorture(t *testing.T) {
	d := 10 * time.Second
	if testing.Short() {
		d = 2 * time.Second
	}
	if v := os.Getenv("DAXKV_TORTURE"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("DAXKV_TORTURE=%q: %v", v, err)
		}
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %v", seed, d)
	tt := &torture{t: t, dir: shmDir(t), seed: seed, tight: tortureTightFS(t)}
	deadline := time.Now().Add(d)
	for cycle := 0; time.Now().Before(deadline) && !t.Failed(); cycle++ {
		if cycle%tortureFreshPool == 0 {
			tt.freshPool(cycle)
		}
		r := rand.New(rand.NewPCG(seed, uint64(cycle)))
		run := time.Duration(200+r.IntN(800)) * time.Millisecond
		tt.cycle(cycle, r, min(run, time.Until(deadline)+50*time.Millisecond))
	}
	s := &tt.stats
	t.Logf("%d cycles (%d pools from one chunk, %d on a full filesystem, %d capped; %d reopens, %d injected failures); %d puts, %d deletes, %d batches (%d refused for space); "+
		"%d reads (%d nested), %d scans, %d snapshots (%d left open at Close), %d backups; %d switches (%d busy), %d checks, %d repairs; %d compactions (%d records moved, %d chunks punched)",
		s.cycles.Load(), s.fresh.Load(), s.tight.Load(), s.capped.Load(), s.reopens.Load(), s.failures.Load(), s.puts.Load(), s.deletes.Load(), s.batches.Load(), s.nospace.Load(),
		s.reads.Load(), s.nested.Load(), s.scans.Load(), s.snapshots.Load(), s.leaked.Load(), s.backups.Load(), s.switches.Load(), s.busy.Load(), s.checks.Load(), s.repairs.Load(),
		s.compactions.Load(), s.moved.Load(), s.punched.Load())
}

// tortureTightSize is the size of the torture test's small filesystem:
// room for a pool of about 12 of its 64 KiB chunks and its checkpoint,
// where the writers' keys alone can take more.
const tortureTightSize = 800 << 10

// tortureTightFS mounts the small filesystem, or returns "" where the test
// may not mount one (not root).
func tortureTightFS(t *testing.T) string {
	if os.Geteuid() != 0 {
		return ""
	}
	dir := t.TempDir()
	unmount, err := fstest.Mount(dir, tortureTightSize)
	if err != nil {
		t.Logf("no small filesystem (mount tmpfs: %v): pools run out of space only by MaxSize", err)
		return ""
	}
	t.Cleanup(unmount)
	return dir
}

// freshPool starts over from an empty pool of one chunk, so that growth
// keeps happening. One pool in four lives on the small filesystem, and one
// in four is capped by MaxSize, so that both ways of running out of space
// are taken while everything else goes on.
func (tt *torture) freshPool(cycle int) {
	r := rand.New(rand.NewPCG(tt.seed, ^uint64(cycle)))
	tt.path = filepath.Join(tt.dir, fmt.Sprintf("pool-%d", cycle))
	tt.maxSize = 0
	switch x := r.IntN(4); {
	case x == 0 && tt.tight != "":
		// The last pool there, and its checkpoint, make room.
		entries, _ := os.ReadDir(tt.tight)
		for _, e := range entries {
			os.Remove(filepath.Join(tt.tight, e.Name()))
		}
		tt.path = filepath.Join(tt.tight, fmt.Sprintf("pool-%d", cycle))
		tt.stats.tight.Add(1)
	case x == 1:
		tt.maxSize = int64(8+r.IntN(8)) << 16 // 8 to 15 chunks
		tt.stats.capped.Add(1)
	}
	tt.model = map[int]keyState{}
	tt.unsure = nil
	for i := range tt.acked {
		tt.acked[i].Store(0)
		tt.started[i].Store(0)
	}
	tt.stats.fresh.Add(1)
}

// injector fails the failAt-th Drain of a DB after it is armed (0: never),
// through every Persister the DB makes (SwitchMode makes a new one).
type injector struct {
	drains atomic.Int64
	failAt atomic.Int64
	fired  atomic.Bool
}

type injectingPersister struct {
	flush.Persister
	in *injector
}

func (p injectingPersister) Drain() error {
	if n := p.in.drains.Add(1); n == p.in.failAt.Load() {
		p.in.fired.Store(true)
		return errInjected
	}
	return p.Persister.Drain()
}

// buggify stalls goroutines at named points now and then, and sometimes
// makes a reader that has just reached its lookup and a writer about to
// grow the pool meet, so that the growth happens while the reader is
// stalled there: the interleaving behind a whole class of defects (a reader
// using a view of the mapping taken before the pool grew).
type buggify struct {
	parked chan struct{} // a reader stalled at its lookup offers itself here
}

func newBuggify() *buggify { return &buggify{parked: make(chan struct{})} }

func (b *buggify) at(p seam.Point) {
	switch p {
	case seam.ReadLookup:
		if rand.IntN(8) == 0 {
			select {
			case b.parked <- struct{}{}: // a writer is about to grow
				time.Sleep(time.Duration(200+rand.IntN(800)) * time.Microsecond)
			case <-time.After(50 * time.Microsecond):
			}
		}
	case seam.Grow:
		if rand.IntN(2) == 0 {
			select {
			case <-b.parked:
			case <-time.After(time.Millisecond):
			}
		}
	case seam.PutWritten, seam.PutPublished, seam.BatchCommit, seam.BatchSettled, seam.DeleteFreed, seam.Switch:
		if rand.IntN(100) == 0 {
			runtime.Gosched()
		}
	}
}

// cycle opens the pool, checks it against the model, runs every goroutine
// for d, stops them, and closes the pool.
func (tt *torture) cycle(cycle int, r *rand.Rand, d time.Duration) {
	t := tt.t
	in := &injector{}
	mode := []DAXMode{DAXEmulated, DAXOff}[r.IntN(2)]
	opts := &Options{Size: 64 << 10, ChunkSize: 64 << 10, MaxSize: tt.maxSize, DAX: mode, Progress: newProgressLog(t).report}
	opts.hooks = &seam.Hooks{
		WrapPersister: func(p flush.Persister, _ func() []byte) flush.Persister { return injectingPersister{p, in} },
		At:            newBuggify().at,
		SeqLease:      uint64(1 + r.IntN(64)),
	}
	// Salvage what the last cycle left (often a pool failed mid-write)
	// before recovery touches it: Repair must keep exactly what the open
	// below recovers.
	var repaired string
	if cycle%tortureFreshPool != 0 && r.IntN(2) == 0 {
		repaired = filepath.Join(tt.dir, fmt.Sprintf("repaired-%d", cycle))
		if _, err := Repair(tt.path, repaired, &Options{DAX: DAXEmulated}); err != nil {
			t.Fatalf("cycle %d: repair: %v", cycle, err)
		}
		defer os.Remove(repaired)
		defer os.Remove(CheckpointPath(repaired))
	}
	db, err := Open(tt.path, opts)
	if err != nil {
		t.Fatalf("cycle %d: open: %v", cycle, err)
	}
	tt.stats.reopens.Add(1)
	tt.verify(cycle, db)
	if repaired != "" {
		tt.sameAsModel(cycle, repaired)
	}
	if r.IntN(3) == 0 { // arm the injector: a Drain of this cycle fails
		in.failAt.Store(in.drains.Load() + 1 + r.Int64N(3000))
	}
	if t.Failed() {
		db.Close()
		return
	}

	stop := make(chan struct{})
	errc := make(chan error, 64)
	report := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	var wg sync.WaitGroup
	var writers sync.WaitGroup
	unsure := make([][]uncertain, tortureWriters)
	for w := 0; w < tortureWriters; w++ {
		wg.Add(1)
		writers.Add(1)
		go func(w int) {
			defer wg.Done()
			defer writers.Done()
			rw := rand.New(rand.NewPCG(tt.seed^uint64(cycle), uint64(w)))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if u, err := tt.write(db, w, rw); err != nil {
					if errors.Is(err, ErrNoSpace) {
						// Refused for want of space: nothing
						// changed (write left the model as it
						// was; the readers and the reopen's
						// verify hold the DB to that), and the
						// DB goes on.
						tt.stats.nospace.Add(1)
						continue
					}
					if !errors.Is(err, errInjected) {
						report(fmt.Errorf("writer %d: %w", w, err))
					}
					unsure[w] = append(unsure[w], u)
					return // the DB has failed: every later write is refused
				}
			}
		}(w)
	}
	for rd := 0; rd < tortureReaders; rd++ {
		wg.Add(1)
		go func(rd int) {
			defer wg.Done()
			rr := rand.New(rand.NewPCG(tt.seed^uint64(cycle), 100+uint64(rd)))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := tt.read(db, rr); err != nil {
					report(fmt.Errorf("reader %d: %w", rd, err))
					return
				}
			}
		}(rd)
	}
	var leaked []*Iterator // iterators the snapshot reader left open for Close
	wg.Add(1)
	go func() { // the snapshot reader
		defer wg.Done()
		rs := rand.New(rand.NewPCG(tt.seed^uint64(cycle), 300))
		round := 0
		for {
			select {
			case <-stop:
				return
			default:
			}
			if round++; round%8 == 0 {
				if err := tt.backupRead(db, cycle, round); err != nil {
					report(fmt.Errorf("backup reader: %w", err))
					return
				}
				continue
			}
			it, err := tt.snapshotRead(db, rs)
			if err != nil {
				report(fmt.Errorf("snapshot reader: %w", err))
				return
			}
			if it != nil {
				leaked = append(leaked, it)
			}
		}
	}()
	wg.Add(3)
	go func() { // the compactor: moves records while writers overwrite and delete them, readers pin them and the pool grows
		defer wg.Done()
		rs := rand.New(rand.NewPCG(tt.seed^uint64(cycle), 300))
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(5+rs.IntN(40)) * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+rs.IntN(50))*time.Millisecond)
			res, err := db.CompactWithResult(ctx)
			cancel()
			tt.stats.compactions.Add(1)
			tt.stats.moved.Add(int64(res.Moved))
			tt.stats.punched.Add(int64(res.Punched))
			switch {
			case errors.Is(err, ErrBusy), errors.Is(err, ErrClosed), errors.Is(err, ErrNoSpace):
			case err != nil && !errors.Is(err, ErrFailed) && !errors.Is(err, errInjected):
				report(fmt.Errorf("Compact: %w", err))
				return
			}
		}
	}()
	go func() { // the mode switcher
		defer wg.Done()
		rs := rand.New(rand.NewPCG(tt.seed^uint64(cycle), 200))
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(2+rs.IntN(20)) * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+rs.IntN(30))*time.Millisecond)
			err := db.SwitchMode(ctx, []DAXMode{DAXEmulated, DAXOff}[rs.IntN(2)])
			cancel()
			tt.stats.switches.Add(1)
			switch {
			case errors.Is(err, ErrBusy):
				tt.stats.busy.Add(1)
			case err != nil && !errors.Is(err, ErrFailed) && !errors.Is(err, errInjected):
				report(fmt.Errorf("SwitchMode: %w", err))
				return
			}
		}
	}()
	go func() { // Check and Stats
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(40 * time.Millisecond):
			}
			s := db.Stats()
			if s.Keys < 0 || s.Keys > tortureWriters*tortureKeysPer || s.Limbo < 0 || s.FileSize < 0 || s.AllocatedBytes < 0 ||
				s.OpenSnapshots < 0 || s.OpenSnapshots == 0 && s.OldestPinAge != 0 {
				report(fmt.Errorf("Stats out of range: %+v", s))
				return
			}
			err := db.Check()
			tt.stats.checks.Add(1)
			// After a failure, memory and media may disagree until the
			// reopen: Check may say so.
			if err != nil && db.failed.Load() == nil {
				report(fmt.Errorf("Check: %w", err))
				return
			}
		}
	}()
	timer := time.NewTimer(d)
	select {
	case <-timer.C:
	case err := <-errc:
		report(err) // put it back for the drain below
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Errorf("cycle %d: %v", cycle, err)
	}
	for _, u := range unsure {
		tt.unsure = append(tt.unsure, u...)
	}
	// What the iterators left open hand out, read again after the Close.
	var held [][]byte
	for _, it := range leaked {
		if it.Valid() {
			held = append(held, it.Key(), it.Value())
		}
	}
	err = db.Close()
	switch {
	case in.fired.Load():
		tt.stats.failures.Add(1)
		if err != nil && !errors.Is(err, ErrFailed) && !errors.Is(err, errInjected) {
			t.Errorf("cycle %d: Close after an injected failure: %v", cycle, err)
		}
	case err != nil:
		t.Errorf("cycle %d: Close: %v", cycle, err)
	}
	// Their slices read zeros now, never a fault, until the last of them
	// is closed (then the range goes back).
	if fault, zero := zeroOrFault(held...); fault != nil || !zero {
		t.Errorf("cycle %d: the keys and values of iterators left open, read after Close: fault %v, all zeros %v", cycle, fault, zero)
	}
	// The DB's Close closed the iterators left open: they report it.
	for _, it := range leaked {
		if it.First() || it.Valid() || !errors.Is(it.Error(), ErrClosed) {
			t.Errorf("cycle %d: an iterator left open works after Close (error %v)", cycle, it.Error())
		}
		if err := it.Close(); err != nil {
			t.Errorf("cycle %d: Close of an iterator after the DB's: %v", cycle, err)
		}
	}
	tt.stats.leaked.Add(int64(len(leaked)))
	tt.stats.cycles.Add(1)
}

// snapshotRead takes a snapshot (a Snapshot, or an iterator's own), reads
// every key through it, holds it while the writers go on, and reads it
// again another way: both reads must be consistent with the instant the
// snapshot was taken (no version acknowledged before it missing, none
// started after it present) and identical to each other, every value
// intact (a reclaimed extent would be poisoned or rewritten). Now and then
// it leaves the iterator open and returns it, for the cycle's Close.
func (tt *torture) snapshotRead(db *DB, r *rand.Rand) (leak *Iterator, err error) {
	n := tortureWriters * tortureKeysPer
	a0 := make([]int64, n)
	for i := range a0 {
		a0[i] = tt.acked[i].Load()
	}
	var snap *Snapshot
	var it *Iterator
	if r.IntN(2) == 0 {
		snap = db.NewSnapshot()
		defer snap.Close()
		it, err = snap.NewIterator(nil)
	} else {
		it, err = db.NewIterator(nil)
	}
	if err != nil {
		return nil, err
	}
	tt.stats.snapshots.Add(1)
	hi := make([]int64, n)
	for i := range hi {
		hi[i] = tt.started[i].Load()
	}
	first, err := tt.readSnapshot(it, snap, r, n)
	if err != nil {
		it.Close()
		return nil, err
	}
	if err := checkInstant("a snapshot", first, a0, hi); err != nil {
		it.Close()
		return nil, err
	}
	if r.IntN(3) == 0 {
		time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
	}
	second, err := tt.readSnapshot(it, snap, r, n)
	if err != nil {
		it.Close()
		return nil, err
	}
	for i := range first {
		if first[i] != second[i] {
			it.Close()
			return nil, fmt.Errorf("key %d: a snapshot read version %d, then %d", i, first[i], second[i])
		}
	}
	if r.IntN(20) == 0 {
		it.SeekGE(tkey(r.IntN(n))) // on a key, mostly: the cycle reads it after Close
		return it, nil
	}
	return nil, it.Close()
}

// checkInstant checks the versions read from a copy of the DB at one
// instant (0: absent) against a0, the acknowledged states before it was
// taken, and hi, the versions started by the time it was taken: nothing
// acknowledged before is missing or older, nothing started after is there.
func checkInstant(what string, vers []int, a0, hi []int64) error {
	for i, u := range vers {
		aver, apresent := int(a0[i]>>1), a0[i]&1 == 1
		switch {
		case u == 0 && apresent && hi[i] == a0[i]>>1:
			return fmt.Errorf("key %d: absent from %s taken after version %d was acknowledged", i, what, aver)
		case u != 0 && (u < aver || u == aver && !apresent):
			return fmt.Errorf("key %d: %s holds version %d, older than the acknowledged %d", i, what, u, aver)
		case u != 0 && int64(u) > hi[i]:
			return fmt.Errorf("key %d: %s holds version %d, started after it was taken (%d)", i, what, u, hi[i])
		}
	}
	return nil
}

// backupRead takes a Backup while the writers go on, opens the copy and
// checks that it is a clean pool holding the DB at one instant, every
// value intact. A DB that failed (an injected error) still backs up: its
// reads keep working.
func (tt *torture) backupRead(db *DB, cycle, round int) error {
	n := tortureWriters * tortureKeysPer
	a0 := make([]int64, n)
	for i := range a0 {
		a0[i] = tt.acked[i].Load()
	}
	var buf bytes.Buffer
	if _, err := db.Backup(&buf); err != nil {
		return fmt.Errorf("Backup: %w", err)
	}
	hi := make([]int64, n)
	for i := range hi {
		hi[i] = tt.started[i].Load()
	}
	tt.stats.backups.Add(1)
	path := filepath.Join(tt.dir, fmt.Sprintf("backup-%d-%d", cycle, round))
	defer os.Remove(path)
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return err
	}
	b, err := Open(path, &Options{DAX: DAXEmulated, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("open a backup: %w", err)
	}
	defer b.Close()
	if err := b.Check(); err != nil {
		return fmt.Errorf("Check of a backup: %w", err)
	}
	vers := make([]int, n)
	for i := range vers {
		v, err := b.Get(tkey(i))
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return fmt.Errorf("a backup, key %d: %w", i, err)
		}
		if err := checkValue(i, v); err != nil {
			return fmt.Errorf("a backup: %w", err)
		}
		var ki int
		fmt.Sscanf(string(v), "k=%d v=%d|", &ki, &vers[i])
	}
	return checkInstant("a backup", vers, a0, hi)
}

// readSnapshot reads every key of a snapshot, through the iterator forward
// or backward, a Seek to a random key, or the snapshot's Get: the version
// of each key, 0 when absent.
func (tt *torture) readSnapshot(it *Iterator, snap *Snapshot, r *rand.Rand, n int) ([]int, error) {
	out := make([]int, n)
	visit := func(k, v []byte) error {
		var i, ki, ver int
		i, ok := tkeyNum(k)
		if !ok || i < 0 || i >= n {
			return fmt.Errorf("an iterator returned a key no writer wrote: %q", k)
		}
		if err := checkValue(i, v); err != nil {
			return err
		}
		fmt.Sscanf(string(v), "k=%d v=%d|", &ki, &ver)
		if out[i] != 0 {
			return fmt.Errorf("an iterator returned key %d twice", i)
		}
		out[i] = ver
		return nil
	}
	// turnBack now and then moves the iterator one key against dir and
	// back: it must land on the key it left (the turnaround reads the
	// current key from the pool).
	turnBack := func(dir int) error {
		if r.IntN(8) != 0 {
			return nil
		}
		k := bytes.Clone(it.Key())
		var back bool
		if dir > 0 {
			it.Prev()
			back = it.Error() == nil && it.Next()
		} else {
			it.Next()
			back = it.Error() == nil && it.Prev()
		}
		if !back {
			return fmt.Errorf("turning around at %q: %v", k, it.Error())
		}
		if !bytes.Equal(it.Key(), k) {
			return fmt.Errorf("turning around at %q came back to %q", k, it.Key())
		}
		return nil
	}
	switch r.IntN(4) {
	case 0:
		for ok := it.First(); ok; ok = it.Next() {
			if err := visit(it.Key(), it.Value()); err != nil {
				return nil, err
			}
			if err := turnBack(+1); err != nil {
				return nil, err
			}
		}
	case 1:
		for ok := it.Last(); ok; ok = it.Prev() {
			if err := visit(it.Key(), it.Value()); err != nil {
				return nil, err
			}
			if err := turnBack(-1); err != nil {
				return nil, err
			}
		}
	case 2: // from a random key forward, then back from it
		mid := tkey(r.IntN(n))
		for ok := it.SeekGE(mid); ok; ok = it.Next() {
			if err := visit(it.Key(), it.Value()); err != nil {
				return nil, err
			}
		}
		for ok := it.SeekLT(mid); ok; ok = it.Prev() {
			if err := visit(it.Key(), it.Value()); err != nil {
				return nil, err
			}
		}
	default:
		if snap == nil {
			return tt.readSnapshot(it, nil, r, n)
		}
		for i := 0; i < n; i++ {
			err := snap.View(tkey(i), func(v []byte) error { return visit(tkey(i), v) })
			if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
		}
	}
	return out, it.Error()
}

// tortureSize is the size of a value a writer puts: mostly up to max
// bytes, and one time in 40 a run of one to three of the pool's 64 KiB
// chunks (longer than half a chunk).
func tortureSize(r *rand.Rand, max int) int {
	if r.IntN(40) == 0 {
		return 33000 + r.IntN(150000)
	}
	return 32 + r.IntN(max)
}

// tkey is the torture test's key i. Keys come in groups of four that share
// their first 16 bytes (the index keeps 16 bytes in an item and the rest
// behind a pointer): the first is those 16 bytes alone, the other three
// are longer and tie on them, and the keys' byte order is their numbers'.
func tkey(i int) []byte {
	k := fmt.Appendf(nil, "%016d", i&^3)
	switch i & 3 {
	case 1:
		k = fmt.Appendf(k, "/a%d", i)
	case 2:
		k = fmt.Appendf(k, "/b%s%d", strings.Repeat("x", 24), i)
	case 3:
		k = fmt.Appendf(k, "/b%s%d", strings.Repeat("y", 24), i)
	}
	return k
}

// TestTortureKeys: tkey's order is its numbers', three keys in four are
// longer than 16 bytes and tie with their group's first on those 16, and
// tkeyNum reads every key back (and nothing else).
func TestTortureKeys(t *testing.T) {
	for i := range 400 {
		k, next := tkey(i), tkey(i+1)
		if got, ok := tkeyNum(k); !ok || got != i {
			t.Fatalf("tkeyNum(%q) = %d, %v", k, got, ok)
		}
		if bytes.Compare(k, next) >= 0 {
			t.Fatalf("tkey(%d) = %q sorts after tkey(%d) = %q", i, k, i+1, next)
		}
		if long := len(k) > 16; long != (i%4 != 0) || !bytes.Equal(k[:16], tkey(i&^3)) {
			t.Fatalf("tkey(%d) = %q: not in its group's shape", i, k)
		}
	}
	for _, k := range []string{"", "x", "0000000000000004/a6", "0000000000000004", "0000000000000005"} {
		if i, ok := tkeyNum([]byte(k)); ok && !bytes.Equal(tkey(i), []byte(k)) {
			t.Fatalf("tkeyNum(%q) = %d, a key it does not make", k, i)
		}
	}
}

// tkeyNum returns the number of the torture key k.
func tkeyNum(k []byte) (int, bool) {
	var base, i int
	if _, err := fmt.Sscanf(string(k[:min(len(k), 16)]), "%d", &base); err != nil {
		return 0, false
	}
	if len(k) == 16 {
		i = base
	} else if j := bytes.LastIndexAny(k, "axy"); j < 0 || j+1 >= len(k) {
		return 0, false
	} else if _, err := fmt.Sscanf(string(k[j+1:]), "%d", &i); err != nil {
		return 0, false
	}
	return i, bytes.Equal(tkey(i), k)
}

// tkeyChecker is scanChecker for torture keys: in order, each value its
// key's.
func tkeyChecker(more func(k, v []byte) error) func(k, v []byte) error {
	var prev []byte
	return func(k, v []byte) error {
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return fmt.Errorf("scan out of order: %q after %q", k, prev)
		}
		prev = append(prev[:0], k...)
		i, ok := tkeyNum(k)
		if !ok {
			return fmt.Errorf("a scan returned a key no writer wrote: %q", k)
		}
		if err := checkValue(i, v); err != nil {
			return err
		}
		return more(k, v)
	}
}

// keyOf is writer w's j-th key number.
func keyOf(w, j int) int { return w*tortureKeysPer + j }

// write runs one random operation of writer w. On error it returns the
// operation as uncertain.
func (tt *torture) write(db *DB, w int, r *rand.Rand) (uncertain, error) {
	u := uncertain{before: map[int]keyState{}, after: map[int]keyState{}}
	ver := int(tt.version.Add(1))
	var err error
	switch x := r.IntN(10); {
	case x < 6:
		i := keyOf(w, r.IntN(tortureKeysPer))
		size := tortureSize(r, tortureMaxValue)
		u.before[i], u.after[i] = tt.state(i), keyState{ver, true, size}
		tt.started[i].Store(int64(ver))
		tt.hot[w].Store(int64(i))
		err = db.Put(tkey(i), value(i, ver, size))
		tt.stats.puts.Add(1)
	case x < 8:
		i := keyOf(w, r.IntN(tortureKeysPer))
		u.before[i], u.after[i] = tt.state(i), keyState{ver: ver}
		tt.started[i].Store(int64(ver))
		err = db.Delete(tkey(i))
		tt.stats.deletes.Add(1)
	default:
		b := &tt.batch[w]
		b.Reset()
		for n := 1 + r.IntN(5); n > 0; n-- {
			i := keyOf(w, r.IntN(tortureKeysPer))
			if _, seen := u.before[i]; !seen {
				u.before[i] = tt.state(i)
			}
			tt.started[i].Store(int64(ver))
			if r.IntN(4) == 0 {
				b.Delete(tkey(i))
				u.after[i] = keyState{ver: ver}
			} else {
				size := tortureSize(r, tortureMaxValue/2)
				b.Put(tkey(i), value(i, ver, size))
				u.after[i] = keyState{ver, true, size}
			}
		}
		err = db.Apply(b)
		tt.stats.batches.Add(1)
	}
	if err != nil {
		return u, err
	}
	// Acknowledged.
	tt.modelMu.Lock()
	for i, s := range u.after {
		tt.model[i] = s
		tt.acked[i].Store(s.packed())
	}
	tt.modelMu.Unlock()
	return u, nil
}

// state is key i's acknowledged state.
func (tt *torture) state(i int) keyState {
	tt.modelMu.Lock()
	defer tt.modelMu.Unlock()
	return tt.model[i]
}

// checkLive checks a value read for key i (found or not) against the live
// state: a0 was the key's acknowledged state before the read.
func (tt *torture) checkLive(i int, a0 int64, v []byte, found bool) error {
	aver, apresent := int(a0>>1), a0&1 == 1
	hi := int(tt.started[i].Load())
	if !found {
		if apresent && hi == aver {
			return fmt.Errorf("key %d: not found, but version %d was acknowledged and nothing newer started", i, aver)
		}
		return nil
	}
	if err := checkValue(i, v); err != nil {
		return err
	}
	var ki, u int
	fmt.Sscanf(string(v), "k=%d v=%d|", &ki, &u)
	switch {
	case u < aver || u == aver && !apresent:
		return fmt.Errorf("key %d: read version %d, older than the acknowledged %d (present %v): a stale or resurrected value", i, u, aver, apresent)
	case u > hi:
		return fmt.Errorf("key %d: read version %d, newer than any started (%d)", i, u, hi)
	}
	return nil
}

// read runs one random read, with nested reads and random hold times.
func (tt *torture) read(db *DB, r *rand.Rand) error {
	n := tortureWriters * tortureKeysPer
	i := r.IntN(n)
	if r.IntN(2) == 0 { // a key a writer is writing now
		i = int(tt.hot[r.IntN(tortureWriters)].Load())
	}
	hold := func() {
		if r.IntN(20) == 0 {
			time.Sleep(time.Duration(r.IntN(300)) * time.Microsecond)
		}
	}
	tt.stats.reads.Add(1)
	switch r.IntN(4) {
	case 0:
		a0 := tt.acked[i].Load()
		v, err := db.Get(tkey(i))
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		return tt.checkLive(i, a0, v, err == nil)
	case 1, 2:
		a0 := tt.acked[i].Load()
		err := db.View(tkey(i), func(v []byte) error {
			hold()
			if err := tt.checkLive(i, a0, v, true); err != nil {
				return err
			}
			if r.IntN(3) == 0 { // a read nested in the callback
				j := r.IntN(n)
				b0 := tt.acked[j].Load()
				w, err := db.Get(tkey(j))
				if err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
				tt.stats.nested.Add(1)
				if err := tt.checkLive(j, b0, w, err == nil); err != nil {
					return err
				}
			}
			hold()
			// The slice stays valid and unchanged until the callback returns.
			return checkValue(i, v)
		})
		if errors.Is(err, ErrNotFound) {
			return tt.checkLive(i, a0, nil, false)
		}
		return err
	default:
		tt.stats.scans.Add(1)
		limit := 1 + r.IntN(40)
		err := db.Scan(tkey(i), nil, tkeyChecker(func(k, v []byte) error {
			if r.IntN(10) == 0 {
				if _, err := db.Has(tkey(r.IntN(n))); err != nil {
					return err
				}
				tt.stats.nested.Add(1)
			}
			hold()
			if limit--; limit == 0 {
				return errStopScan
			}
			return nil
		}))
		if errors.Is(err, errStopScan) {
			return nil
		}
		return err
	}
}

var errStopScan = errors.New("enough")

// verify checks the freshly opened pool against the model: every key holds
// its acknowledged state, or, for a key an uncertain operation touched, the
// state before or after it, the same side for all of its keys. Then the
// model becomes what the pool holds, and Check must be clean.
func (tt *torture) verify(cycle int, db *DB) {
	t := tt.t
	got := map[int]keyState{}
	for i := 0; i < tortureWriters*tortureKeysPer; i++ {
		v, err := db.Get(tkey(i))
		switch {
		case errors.Is(err, ErrNotFound):
			got[i] = keyState{}
		case err != nil:
			t.Errorf("cycle %d: key %d: %v", cycle, i, err)
			return
		default:
			if err := checkValue(i, v); err != nil {
				t.Errorf("cycle %d: %v", cycle, err)
				return
			}
			var ki, ver int
			fmt.Sscanf(string(v), "k=%d v=%d|", &ki, &ver)
			got[i] = keyState{ver, true, len(v)}
		}
	}
	same := func(a, b keyState) bool {
		return a.present == b.present && (!a.present || a.ver == b.ver && a.size == b.size)
	}
	touched := map[int]bool{}
	for _, u := range tt.unsure {
		before, after := true, true
		for i := range u.after {
			touched[i] = true
			before = before && same(got[i], u.before[i])
			after = after && same(got[i], u.after[i])
		}
		if !before && !after {
			t.Errorf("cycle %d: an operation that failed is neither wholly applied nor wholly absent: before %v, after %v, found %v",
				cycle, u.before, u.after, pick(got, u.after))
		}
	}
	for i := 0; i < tortureWriters*tortureKeysPer; i++ {
		if !touched[i] && !same(got[i], tt.model[i]) {
			t.Errorf("cycle %d: key %d holds %+v, the acknowledged state is %+v", cycle, i, got[i], tt.model[i])
		}
	}
	tt.model, tt.unsure = got, nil
	for i, s := range got {
		tt.acked[i].Store(s.packed())
		if int64(s.ver) > tt.started[i].Load() {
			tt.started[i].Store(int64(s.ver))
		}
	}
	if err := db.Check(); err != nil {
		t.Errorf("cycle %d: Check after the reopen: %v", cycle, err)
	}
}

// sameAsModel checks that the pool at path holds exactly the model's keys
// and versions.
func (tt *torture) sameAsModel(cycle int, path string) {
	t := tt.t
	db, err := Open(path, &Options{DAX: DAXEmulated, ReadOnly: true})
	if err != nil {
		t.Fatalf("cycle %d: open the repaired pool: %v", cycle, err)
	}
	defer db.Close()
	tt.stats.repairs.Add(1)
	for i := 0; i < tortureWriters*tortureKeysPer; i++ {
		v, err := db.Get(tkey(i))
		want := tt.model[i]
		switch {
		case errors.Is(err, ErrNotFound) && !want.present:
		case err != nil:
			t.Errorf("cycle %d: repaired pool, key %d: %v; recovery kept %+v", cycle, i, err, want)
		default:
			var ki, ver int
			fmt.Sscanf(string(v), "k=%d v=%d|", &ki, &ver)
			if !want.present || ver != want.ver || len(v) != want.size {
				t.Errorf("cycle %d: repaired pool, key %d: version %d (%d bytes); recovery kept %+v", cycle, i, ver, len(v), want)
			}
		}
	}
}

func pick(m map[int]keyState, keys map[int]keyState) map[int]keyState {
	out := map[int]keyState{}
	for i := range keys {
		out[i] = m[i]
	}
	return out
}
