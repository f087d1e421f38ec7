package crash

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/daxkv/daxkv/alloc"
	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/kv"
	"github.com/daxkv/daxkv/recovery"
)

// ChunkSize is the chunk size of the suite's pools: small, so that images
// are small and growth happens within a few operations.
const ChunkSize = 64 << 10

// SeqLease is the sequence-number lease of the suite's pools: short, so
// that the lease's superblock update (normally once per million writes)
// happens inside the workloads and is crashed too.
const SeqLease = 4

// Config tunes a run. The zero value means the defaults noted.
type Config struct {
	// Paths are the durability paths to simulate; default both.
	Paths []flush.SimPath
	// Tear is the tearing model of the CPU path; default TearWords.
	Tear flush.Tear
	// Subsets: at a crash point with at most this many dirty units (lines
	// or pages), every subset of them is an image; default 10. Above it:
	// every subset of size at most 2 (sampled down to MaxPairs) plus
	// Random random subsets.
	Subsets  int
	MaxPairs int // default 256
	Random   int // default 8
	// FlushPoints is the probability that a Flush is also a crash point
	// (random points between fences); default 0.1.
	FlushPoints float64
	// Garble is the number of truncated or garbled images made from the
	// final pool of each workload (truncate and replay); default 8.
	Garble int
	// Seed makes a run reproducible.
	Seed uint64
	// Dir is where images are written; default a new directory on tmpfs
	// (/dev/shm) when there is one, removed at the end.
	Dir string
	// Workers is the number of goroutines opening images; default GOMAXPROCS.
	Workers int
	// NestEvery: every NestEvery-th crash image is opened with the
	// recovery's own drains as crash points (a crash while recovering);
	// each image of such a nested crash is recovered again and judged like
	// the first. Default 8; negative turns nesting off.
	NestEvery int
	// Fixtures, when set, is a directory: each violating crash image (up to
	// 10 a run) is shrunk to the fewest units not durable that still
	// violate, and written there with its workload and verdict, to become
	// a test (see Fixture).
	Fixtures string
	// StopAtFirst ends the run at the first violation (the mutation gate).
	StopAtFirst bool
	// Progress, when set, is called after each workload.
	Progress func(*Report)

	dropDrains bool // tests of the oracle: fences never take effect
}

func (c Config) withDefaults() Config {
	if len(c.Paths) == 0 {
		c.Paths = []flush.SimPath{flush.SimCPU, flush.SimMsync}
	}
	if c.Subsets == 0 {
		c.Subsets = 10
	}
	if c.MaxPairs == 0 {
		c.MaxPairs = 256
	}
	if c.Random == 0 {
		c.Random = 8
	}
	if c.FlushPoints == 0 {
		c.FlushPoints = 0.1
	}
	if c.Garble == 0 {
		c.Garble = 8
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.NestEvery == 0 {
		c.NestEvery = 8
	}
	return c
}

// Report is what a run found.
type Report struct {
	Workloads   int
	Points      int            // crash points taken
	Images      int            // distinct crash images opened by the real recovery
	Garbled     int            // of Images: truncated or garbled (truncate and replay)
	CrossChecks int            // operation boundaries compared across both paths
	Violations  int            // images whose recovered state broke a promise
	Nested      int            // crash points inside a recovery (crash while recovering)
	NestedImgs  int            // of Images: images of those points, recovered again
	Sites       map[string]int // crash point label -> images
	Examples    []string       // the first violations, described
}

func (r *Report) String() string {
	return fmt.Sprintf("images=%d points=%d violations=%d", r.Images, r.Points, r.Violations)
}

// SiteList renders Sites sorted by label, one "label=N" per entry.
func (r *Report) SiteList() string {
	labels := make([]string, 0, len(r.Sites))
	for l := range r.Sites {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	for i, l := range labels {
		labels[i] = fmt.Sprintf("%s=%d", l, r.Sites[l])
	}
	return strings.Join(labels, " ")
}

// FenceSites are the crash point labels that precede a fence (or an msync)
// in the store's protocols; a complete run crashes each of them.
var FenceSites = []string{"open", "put-written", "delete-prefence", "delete-freed", "batch-commit", "batch-settling", "superblock", "seq-lease", "switch", "close"}

// job is one image to open and judge.
type job struct {
	img     []byte
	base    []byte // crash-point images: the durable image they were built on
	ops     string // crash-point images: the workload, for fixtures
	mode    kv.DAXMode
	allowed []state             // the recovered state must equal one of these
	history map[string][]string // garbled images: every value each key ever had
	label   string
	what    string // where the image comes from, for reports
}

type runner struct {
	cfg      Config
	fixtures int // violations seen for fixtures (under mu)
	dir      string
	rep      *Report
	mu       sync.Mutex // protects rep
	jobs     chan job
	wg       sync.WaitGroup
	stop     atomic.Bool
	nimg     atomic.Int64
}

// Run runs every workload on every path of cfg, crashing it at every fence,
// at every named crash point, at random flushes and at every operation
// boundary, and opens every crash image with the real recovery code.
func Run(cfg Config, workloads []Workload) (*Report, error) {
	cfg = cfg.withDefaults()
	r := &runner{cfg: cfg, rep: &Report{Sites: map[string]int{}}, jobs: make(chan job, 4*cfg.Workers)}
	r.dir = cfg.Dir
	if r.dir == "" {
		base := ""
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			base = "/dev/shm"
		}
		d, err := os.MkdirTemp(base, "daxkv-crash-")
		if err != nil {
			return nil, err
		}
		r.dir = d
		defer os.RemoveAll(d)
	}
	for w := 0; w < cfg.Workers; w++ {
		r.wg.Add(1)
		go r.checker(w)
	}
	var runErr error
	for i, w := range workloads {
		if r.stop.Load() {
			break
		}
		var bounds [][]string
		for _, p := range cfg.Paths {
			b, err := r.runOne(i, w, p)
			if err != nil {
				runErr = err
				break
			}
			bounds = append(bounds, b)
		}
		if runErr != nil {
			break
		}
		r.crossCheck(w, bounds)
		r.mu.Lock()
		r.rep.Workloads++
		r.mu.Unlock()
		if cfg.Progress != nil {
			r.mu.Lock()
			snap := *r.rep
			r.mu.Unlock()
			cfg.Progress(&snap)
		}
	}
	close(r.jobs)
	r.wg.Wait()
	return r.rep, runErr
}

func modeOf(p flush.SimPath) kv.DAXMode {
	if p == flush.SimMsync {
		return kv.DAXOff
	}
	return kv.DAXEmulated
}

// runOne runs workload w on path p and returns, for each operation
// boundary, the state recovered from the durable image alone.
func (r *runner) runOne(idx int, w Workload, p flush.SimPath) ([]string, error) {
	pool := filepath.Join(r.dir, fmt.Sprintf("pool-%d-%s", idx, p))
	defer os.Remove(pool)
	rng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(idx)<<8|uint64(p)))
	var sim *flush.Sim
	label := "open"
	cur := state{kv: map[string]string{}, mode: kv.DAXAuto}
	allowed := []state{cur}
	history := map[string][]string{}
	point := func(l string) {
		if r.stop.Load() {
			return
		}
		r.crashPoint(sim, rng, l, allowed, fmt.Sprintf("%s [%s] %s", w.Name, p, l), w.String(), w.Sample)
	}
	// compactWait ends the Compact in progress once it has moved what it
	// found and waits for readers (seam.CompactWait), while a snapshot is
	// held: see doCompact.
	var compactWait func()
	size := int64(2 * ChunkSize)
	if w.Grow {
		size = ChunkSize
	}
	opts := &kv.Options{DAX: modeOf(p), ChunkSize: ChunkSize, Size: size, MaxSize: w.Cap, NoAutoCompact: true}
	seam.Attach(opts, &seam.Hooks{
		// Growth ahead (the chunk preparer's) adds zero chunks that every
		// crash image would copy and every recovery scan: it is growth all
		// the same, which the writers' own growth covers here.
		NoGrowAhead: true,
		SeqLease:    SeqLease,
		// Every other workload writes its pool with the floor of releases
		// before the lease, which recovery must raise itself.
		LegacyFloor: idx%2 == 1,
		WrapPersister: func(inner flush.Persister, mapped func() []byte) flush.Persister {
			if sim != nil {
				// SwitchMode: the same durable image, on the new path.
				sim.SetPath(simPathOf(inner))
				if r.cfg.dropDrains {
					return noFence{sim}
				}
				return sim
			}
			sim = flush.NewSim(p, mapped)
			sim.OnDrain = func(*flush.Sim) { point(label) }
			sim.OnFlush = func(*flush.Sim) {
				if rng.Float64() < r.cfg.FlushPoints {
					point(label + "+flush")
				}
			}
			if r.cfg.dropDrains {
				return noFence{sim}
			}
			return sim
		},
		At: func(pt seam.Point) {
			switch pt {
			case seam.KeyUnlock: // an ordering point (concurrent histories), not a label
			case seam.CompactWait:
				if compactWait != nil {
					compactWait()
				}
			default:
				label = string(pt)
			}
		},
	})
	db, err := kv.Open(pool, opts)
	if err != nil {
		return nil, fmt.Errorf("crash: %s: open: %w", w.Name, err)
	}
	var bounds []string
	var held []heldSnap
	refused := 0 // operations refused with ErrNoSpace (capped workloads)
	for n, op := range w.Ops {
		next := cur.apply(op, n)
		allowed = []state{cur, next}
		label = "op"
		if op.Kind == OpSnap || op.Kind == OpRelease {
			if err := r.doSnap(db, op, cur, &held, w.Name); err != nil {
				db.Close()
				return nil, fmt.Errorf("crash: %s: op %d (%s): %w", w.Name, n, op, err)
			}
		} else if op.Kind == OpCompact {
			if err := doCompact(db, len(held) > 0, &compactWait); err != nil {
				db.Close()
				return nil, fmt.Errorf("crash: %s: op %d (%s): %w", w.Name, n, op, err)
			}
		} else if err := do(db, op, n); err != nil {
			if w.Cap == 0 || !errors.Is(err, kv.ErrNoSpace) {
				db.Close()
				return nil, fmt.Errorf("crash: %s: op %d (%s): %w", w.Name, n, op, err)
			}
			next = cur // refused for want of space: nothing changed
			refused++
		}
		cur, allowed = next, []state{next}
		for k, v := range cur.kv {
			history[k] = append(history[k], v)
		}
		point("ack")
		st, err := r.recoverState(sim.Durable(), modeOf(p))
		if err != nil {
			r.violation("ack", fmt.Sprintf("%s [%s] after op %d: durable image: %v", w.Name, p, n, err))
			st = "error: " + err.Error()
		}
		bounds = append(bounds, st)
	}
	if w.Cap > 0 && refused == 0 {
		r.violation("cap", fmt.Sprintf("%s [%s]: a workload capped at %d bytes never ran out of space: it tests nothing", w.Name, p, w.Cap))
	}
	label = "close"
	if err := db.Close(); err != nil {
		return nil, fmt.Errorf("crash: %s: close: %w", w.Name, err)
	}
	for _, h := range held { // closed by the DB's Close
		if _, err := h.s.Get([]byte("k")); !errors.Is(err, kv.ErrClosed) {
			r.violation("snapshot", fmt.Sprintf("%s: a snapshot held across Close answers %v, want ErrClosed", w.Name, err))
		}
	}
	r.garble(sim.Durable(), modeOf(p), history, rng, w.Name+" ["+p.String()+"]")
	return bounds, nil
}

// simPathOf is the path a Sim models for the store's real Persister inner.
func simPathOf(inner flush.Persister) flush.SimPath {
	if _, ok := inner.(*flush.Msync); ok {
		return flush.SimMsync
	}
	return flush.SimCPU
}

// doCompact runs a sequential workload's Compact. With a snapshot held,
// the old records of the chunks being emptied stay: Compact moves the live
// ones out, then waits for the snapshot, and the runner ends it there
// (through wait, which the seam.CompactWait hook calls) so that it returns
// ErrBusy with every move made, however long the crash points along the
// moves took. With none held it must finish: nothing can keep it waiting.
func doCompact(db *kv.DB, snapshotHeld bool, wait *func()) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if snapshotHeld {
		*wait = cancel
		defer func() { *wait = nil }()
	}
	err := db.Compact(ctx)
	if snapshotHeld && errors.Is(err, kv.ErrBusy) {
		return nil
	}
	return err
}

// heldSnap is a snapshot a workload holds, with the state it must show.
type heldSnap struct {
	s    *kv.Snapshot
	want state
}

// doSnap runs OpSnap (a snapshot of the state cur, held) and OpRelease
// (the oldest held snapshot, read whole through an iterator, must show its
// state exactly; then it is closed). A difference is a violation.
func (r *runner) doSnap(db *kv.DB, op Op, cur state, held *[]heldSnap, name string) error {
	if op.Kind == OpSnap {
		*held = append(*held, heldSnap{db.NewSnapshot(), cur})
		return nil
	}
	if len(*held) == 0 {
		return nil
	}
	h := (*held)[0]
	*held = (*held)[1:]
	it, err := h.s.NewIterator(nil)
	if err != nil {
		return err
	}
	got := state{kv: map[string]string{}, mode: h.want.mode}
	for ok := it.First(); ok; ok = it.Next() {
		got.kv[string(it.Key())] = string(it.Value())
	}
	if err := it.Error(); err != nil {
		r.violation("snapshot", fmt.Sprintf("%s: a held snapshot fails to read: %v", name, err))
	}
	if err := errors.Join(it.Close(), h.s.Close()); err != nil {
		return err
	}
	if !got.equal(h.want) {
		r.violation("snapshot", fmt.Sprintf("%s: a held snapshot shows %s, taken at %s", name, got, h.want))
	}
	return nil
}

func do(db *kv.DB, op Op, n int) error {
	switch op.Kind {
	case OpSwitch:
		return db.SwitchMode(context.Background(), op.Mode)
	case OpPut:
		return db.Put([]byte(op.Key), valueOf(op.Key, n, op.Size))
	case OpDelete:
		return db.Delete([]byte(op.Key))
	case OpMode:
		return db.SetPreferredMode(op.Mode)
	case OpSnap, OpRelease:
		return fmt.Errorf("crash: %s is for sequential workloads only", op)
	case OpCompact:
		// A held snapshot keeps the old records of the chunks being
		// emptied: Compact then gives up (ErrBusy) after moving them,
		// which the workload allows.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := db.Compact(ctx); err != nil && !errors.Is(err, kv.ErrBusy) {
			return err
		}
		return nil
	}
	b := db.NewBatch()
	for _, o := range op.Batch {
		if o.Kind == OpPut {
			b.Put([]byte(o.Key), valueOf(o.Key, n, o.Size))
		} else {
			b.Delete([]byte(o.Key))
		}
	}
	return db.Apply(b)
}

// crashPoint builds the images of a crash here and queues them.
func (r *runner) crashPoint(sim *flush.Sim, rng *rand.Rand, label string, allowed []state, what, ops string, sample int) {
	if sim == nil {
		return
	}
	var base []byte
	if r.cfg.Fixtures != "" {
		base = sim.Durable()
	}
	dirty := sim.Dirty()
	var takes [][]int64
	if len(dirty) <= r.cfg.Subsets {
		takes = allSubsets(dirty)
	} else {
		takes = append(takes, nil, dirty)
		maxPairs := r.cfg.MaxPairs
		if sample > 0 {
			maxPairs = min(maxPairs, sample)
		}
		for _, u := range dirty {
			if sample > 0 && len(dirty) > sample && rng.IntN(len(dirty)) >= sample {
				continue // each alone, sampled down (Workload.Sample)
			}
			takes = append(takes, []int64{u})
		}
		pairs := len(dirty) * (len(dirty) - 1) / 2
		for i := 0; i < len(dirty); i++ {
			for j := i + 1; j < len(dirty); j++ {
				if pairs <= maxPairs || rng.IntN(pairs) < maxPairs {
					takes = append(takes, []int64{dirty[i], dirty[j]})
				}
			}
		}
		for k := 0; k < r.cfg.Random; k++ {
			takes = append(takes, randomSubset(rng, dirty))
		}
	}
	r.mu.Lock()
	r.rep.Points++
	r.mu.Unlock()
	seen := map[uint64]bool{}
	for _, t := range takes {
		img := sim.Image(t, r.cfg.Tear, rng)
		h := xxhash.Sum64(img)
		if seen[h] {
			continue
		}
		seen[h] = true
		r.jobs <- job{img: img, base: base, ops: ops, mode: modeOf(sim.Path()), allowed: allowed, label: label,
			what: fmt.Sprintf("%s, %d of %d dirty units taken", what, len(t), len(dirty))}
	}
}

// garble queues truncated and garbled copies of img: recovery must refuse
// them with ErrCorrupt or return only values some key really had.
func (r *runner) garble(img []byte, mode kv.DAXMode, history map[string][]string, rng *rand.Rand, what string) {
	for i := 0; i < r.cfg.Garble && !r.stop.Load(); i++ {
		g := append([]byte(nil), img...)
		var how string
		switch rng.IntN(6) {
		case 5:
			if how = overlapRecord(g, history, rng); how == "" {
				continue // no large record with room in its slack
			}
		case 0:
			n := rng.IntN(len(g))
			g, how = g[:n], fmt.Sprintf("truncated to %d", n)
		case 1:
			p := rng.IntN(len(g)/4096) * 4096
			clear(g[p : p+4096])
			how = fmt.Sprintf("page %d zeroed", p)
		case 2:
			for k := 0; k < 32; k++ {
				g[rng.IntN(len(g))] ^= 1 << rng.IntN(8)
			}
			how = "32 bits flipped"
		case 3:
			p := rng.IntN(len(g))
			for k := p; k < min(len(g), p+512); k++ {
				g[k] = byte(rng.Uint32())
			}
			how = fmt.Sprintf("random bytes at %d", p)
		default:
			g[rng.IntN(128)] ^= 0xFF
			g[4096+rng.IntN(128)] ^= 0xFF
			how = "both superblocks damaged"
		}
		r.jobs <- job{img: g, mode: mode, history: history, label: "garbled", what: what + ": " + how}
	}
}

// overlapRecord writes into img a valid record of a key some earlier
// operation wrote, with a value that key really had, in the slack of a
// large record's extent (whole pages; the record ends inside its last
// page), with a sequence number just above or just below the large one's:
// an overlap recovery must resolve (FORMAT.md). It returns what it did, or
// "" when the image has no large record with room.
func overlapRecord(img []byte, history map[string][]string, rng *rand.Rand) string {
	sb, err := recovery.ReadSuperblock(img)
	if err != nil {
		return ""
	}
	size := int64(len(img)) / sb.ChunkSize * sb.ChunkSize
	res, err := recovery.Recover(img, size, &sb, nil, recovery.Scan{Workers: 1})
	if err != nil {
		return ""
	}
	// The smallest values fit the most slacks.
	type kv struct{ k, v string }
	var cands []kv
	for k, vs := range history {
		for _, v := range vs {
			cands = append(cands, kv{k, v})
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		if a, b := len(cands[i].k)+len(cands[i].v), len(cands[j].k)+len(cands[j].v); a != b {
			return a < b
		}
		return cands[i].k+cands[i].v < cands[j].k+cands[j].v
	})
	for _, e := range res.Live {
		slack := alloc.ExtentSize(sb.ChunkSize, e.Size()) - e.Size() // a run's reaches its last chunk's end
		if e.Size() <= alloc.SmallMax || len(cands) == 0 {
			continue
		}
		fit := 0
		for fit < len(cands) && recovery.RecordSize(len(cands[fit].k), len(cands[fit].v)) <= slack {
			fit++
		}
		if fit == 0 {
			continue
		}
		c := cands[rng.IntN(fit)]
		rec := recovery.RecordSize(len(c.k), len(c.v))
		seq := e.Seq + 1
		if rng.IntN(2) == 0 && e.Seq > 1 {
			seq = e.Seq - 1
		}
		at := e.Off + e.Size()
		recovery.NewCodec(&sb).Write(nopPersister{}, img[at:at+rec], at, recovery.TagLive, seq, 0, []byte(c.k), []byte(c.v))
		return fmt.Sprintf("record of %q (seq %d) written inside the extent of the record at %d (seq %d)", c.k, seq, e.Off, e.Seq)
	}
	return ""
}

// nopPersister makes nothing durable: for editing images in memory.
type nopPersister struct{}

func (nopPersister) Flush([]byte)         {}
func (nopPersister) Copy(dst, src []byte) { copy(dst, src) }
func (nopPersister) Drain() error         { return nil }

// crossCheck compares the states recovered at each operation boundary on
// the two paths: both must equal the model, hence each other.
func (r *runner) crossCheck(w Workload, bounds [][]string) {
	if len(bounds) < 2 {
		return
	}
	for i := range bounds[0] {
		r.mu.Lock()
		r.rep.CrossChecks++
		r.mu.Unlock()
		if i < len(bounds[1]) && bounds[0][i] != bounds[1][i] {
			r.violation("cross-check", fmt.Sprintf("%s after op %d: cpu path %s, msync path %s", w.Name, i, bounds[0][i], bounds[1][i]))
		}
	}
}

func (r *runner) violation(label, what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rep.Violations++
	if len(r.rep.Examples) < 20 {
		r.rep.Examples = append(r.rep.Examples, label+": "+what)
	}
	if r.cfg.StopAtFirst {
		r.stop.Store(true)
	}
}

func (r *runner) checker(w int) {
	defer r.wg.Done()
	path := filepath.Join(r.dir, fmt.Sprintf("image-%d", w))
	defer os.Remove(path)
	defer os.Remove(kv.CheckpointPath(path))
	for n := 1; ; n++ {
		j, ok := <-r.jobs
		if !ok {
			return
		}
		if r.stop.Load() {
			continue
		}
		var nested [][]byte
		var nestp *[][]byte
		if j.history == nil && r.cfg.NestEvery > 0 && n%r.cfg.NestEvery == 0 {
			nestp = &nested
		}
		msg := r.judge(path, j, nestp)
		r.count(j, msg)
		if msg != "" && j.base != nil {
			r.saveFixture(path, j, msg)
		}
		if len(nested) == 0 {
			continue
		}
		// A crash while recovering this image: each image of it must
		// recover to what the first image had to.
		r.mu.Lock()
		r.rep.NestedImgs += len(nested)
		r.mu.Unlock()
		for _, img := range nested {
			nj := j
			nj.img, nj.label, nj.what = img, "recover:"+j.label, "crash while recovering "+j.what
			r.count(nj, r.judge(path, nj, nil))
		}
	}
}

// count records one judged image and its verdict.
func (r *runner) count(j job, msg string) {
	r.mu.Lock()
	r.rep.Images++
	r.rep.Sites[j.label]++
	if j.history != nil {
		r.rep.Garbled++
	}
	r.mu.Unlock()
	if msg != "" {
		r.violation(j.label, j.what+": "+msg)
	}
}

// nestedImages builds the images of a crash at one drain of a recovery:
// every subset of the units not yet durable when there are few, else none,
// all, each alone (up to 8) and 4 random subsets.
func nestedImages(sim *flush.Sim, rng *rand.Rand) [][]byte {
	dirty := sim.Dirty()
	var takes [][]int64
	if len(dirty) <= 4 {
		takes = allSubsets(dirty)
	} else {
		takes = append(takes, nil, dirty)
		for i, u := range dirty {
			if i == 8 {
				break
			}
			takes = append(takes, []int64{u})
		}
		for k := 0; k < 4; k++ {
			takes = append(takes, randomSubset(rng, dirty))
		}
	}
	out := make([][]byte, 0, len(takes))
	for _, t := range takes {
		out = append(out, sim.Image(t, flush.TearWords, rng))
	}
	return out
}

// judge opens one image with the real recovery and checks it; it returns
// what is wrong, or "".
//
// With nested not nil, the recovery's own drains are crash points: the
// images of each are appended to *nested, for the caller to recover again.
func (r *runner) judge(path string, j job, nested *[][]byte) (msg string) {
	defer func() {
		if p := recover(); p != nil {
			msg = fmt.Sprintf("panic: %v", p)
		}
	}()
	if err := writeImage(path, j.img); err != nil {
		return "write image: " + err.Error()
	}
	opts := &kv.Options{DAX: j.mode, ChunkSize: ChunkSize, NoAutoCompact: true}
	if nested != nil {
		opening := true
		rng := rand.New(rand.NewPCG(xxhash.Sum64(j.img), 7))
		seam.Attach(opts, &seam.Hooks{WrapPersister: func(inner flush.Persister, mapped func() []byte) flush.Persister {
			sim := flush.NewSim(simPathOf(inner), mapped)
			sim.OnDrain = func(s *flush.Sim) {
				if opening {
					r.mu.Lock()
					r.rep.Nested++
					r.mu.Unlock()
					*nested = append(*nested, nestedImages(s, rng)...)
				}
			}
			return sim
		}})
		defer func() { opening = false }()
		db, err := kv.Open(path, opts)
		opening = false
		if err != nil {
			return "open: " + err.Error()
		}
		// The judgement below reopens without the simulator.
		if err := db.Close(); err != nil {
			return "close: " + err.Error()
		}
		*nested = dedupe(*nested)
		if err := writeImage(path, j.img); err != nil {
			return "write image: " + err.Error()
		}
		opts = &kv.Options{DAX: j.mode, ChunkSize: ChunkSize, NoAutoCompact: true}
	}
	db, err := kv.Open(path, opts)
	if err != nil {
		if j.history != nil && (errors.Is(err, kv.ErrCorrupt) || errors.Is(err, kv.ErrVersion)) {
			return ""
		}
		return "open: " + err.Error()
	}
	defer func() {
		if db != nil {
			db.Close()
		}
	}()
	st, err := readState(db)
	if err != nil {
		return "read: " + err.Error()
	}
	if j.history != nil {
		for k, v := range st.kv {
			if !contains(j.history[k], v) {
				return fmt.Sprintf("invented key or value: %q=%.20q", k, v)
			}
		}
		// Whatever the damage, what a writable open keeps is consistent.
		if err := db.Check(); err != nil {
			return "check after opening a damaged image: " + err.Error()
		}
		return ""
	}
	ok := false
	for _, a := range j.allowed {
		ok = ok || st.equal(a)
	}
	if !ok {
		want := make([]string, len(j.allowed))
		for i, a := range j.allowed {
			want[i] = a.String()
		}
		return fmt.Sprintf("recovered %s, want one of [%s]", st, strings.Join(want, " | "))
	}
	if err := db.Check(); err != nil {
		return "check: " + err.Error()
	}
	// The store accepts writes, and a second reopen shows the same state.
	if err := db.Put([]byte(probeKey), []byte("probe")); err != nil {
		return "put after recovery: " + err.Error()
	}
	if err := db.Close(); err != nil {
		return "close after recovery: " + err.Error()
	}
	db = nil
	// The cleanly closed pool checks clean offline: among others, no
	// sequence number at or above its floor (one handed out again).
	if msg := checkFile(path); msg != "" {
		return "check after close: " + msg
	}
	db2, err := kv.Open(path, opts)
	if err != nil {
		return "second reopen: " + err.Error()
	}
	defer db2.Close()
	st2, err := readState(db2)
	if err != nil {
		return "second reopen read: " + err.Error()
	}
	if st2.kv[probeKey] != "probe" {
		return "second reopen lost the probe write"
	}
	delete(st2.kv, probeKey)
	if !st2.equal(st) {
		return fmt.Sprintf("second reopen shows %s, first %s", st2, st)
	}
	return ""
}

const probeKey = "\x00probe"

// dedupe drops repeated images.
func dedupe(imgs [][]byte) [][]byte {
	seen := map[uint64]bool{}
	out := imgs[:0]
	for _, img := range imgs {
		if h := xxhash.Sum64(img); !seen[h] {
			seen[h] = true
			out = append(out, img)
		}
	}
	return out
}

// checkFile runs the offline Check on the pool file at path and returns its
// problems, or "".
func checkFile(path string) string {
	img, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	rep, err := recovery.Check(img, int64(len(img))/ChunkSize*ChunkSize, recovery.Scan{Workers: 1})
	if err != nil {
		return err.Error()
	}
	if len(rep.Problems) > 0 {
		return strings.Join(rep.Problems, "; ")
	}
	return ""
}

func contains(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

func readState(db *kv.DB) (state, error) {
	st := state{kv: map[string]string{}, mode: db.Stats().PreferredMode}
	err := db.Scan(nil, nil, func(k, v []byte) error {
		st.kv[string(k)] = string(v)
		return nil
	})
	return st, err
}

// writeImage writes the pool image img at path. An image is the media
// alone: a checkpoint beside path, left by an earlier open of another
// image there, goes (it can match an image that differs from the state it
// was written from only by damage in free space, which it never reads).
func writeImage(path string, img []byte) error {
	if err := os.Remove(kv.CheckpointPath(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.WriteFile(path, img, 0o600)
}

// recoverState opens img and renders its state (for the cross-check).
func (r *runner) recoverState(img []byte, mode kv.DAXMode) (string, error) {
	path := filepath.Join(r.dir, fmt.Sprintf("bound-%d", r.nimg.Add(1)))
	defer os.Remove(path)
	defer os.Remove(kv.CheckpointPath(path)) // the Close below writes one
	if err := writeImage(path, img); err != nil {
		return "", err
	}
	db, err := kv.Open(path, &kv.Options{DAX: mode, ChunkSize: ChunkSize, NoAutoCompact: true})
	if err != nil {
		return "", err
	}
	defer db.Close()
	st, err := readState(db)
	return st.String(), err
}

// noFence is a Sim whose fences are crash points but never take effect.
type noFence struct{ *flush.Sim }

func (n noFence) Drain() error {
	n.OnDrain(n.Sim)
	return nil
}

// allSubsets returns every subset of the units, the empty one first.
func allSubsets(units []int64) [][]int64 {
	out := make([][]int64, 0, 1<<len(units))
	for mask := 0; mask < 1<<len(units); mask++ {
		var t []int64
		for i, u := range units {
			if mask&(1<<i) != 0 {
				t = append(t, u)
			}
		}
		out = append(out, t)
	}
	return out
}

// randomSubset returns each of the units with probability one half.
func randomSubset(rng *rand.Rand, units []int64) []int64 {
	var t []int64
	for _, u := range units {
		if rng.IntN(2) == 0 {
			t = append(t, u)
		}
	}
	return t
}
