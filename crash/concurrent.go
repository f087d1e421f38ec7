package crash

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"

	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/kv"
)

// Concurrent histories: 2 to 4 goroutines run their operations at once on
// one pool, on keys they share, and the pool is crashed at every fence of
// any of them. The CPU path is modelled per thread of execution (Sim's
// PerThread): a flush becomes durable at a fence of the goroutine that
// issued it, or at the point the design claims orders it (the key stripe's
// unlock, docs/DESIGN-NOTES.md), and nowhere else. The oracle accepts a
// recovered state only if it is the state after some order of the
// operations that is consistent with real time: every operation
// acknowledged before the crash is in it, every operation invoked after it
// is not, and each operation in flight is wholly in or wholly out.

// History is one concurrent workload: each goroutine's operations, in order.
type History struct {
	Name    string
	Threads [][]Op
}

// String renders a history as its threads' workloads, " || " apart.
func (h History) String() string {
	parts := make([]string, len(h.Threads))
	for i, ops := range h.Threads {
		parts[i] = Workload{Ops: ops}.String()
	}
	return strings.Join(parts, " || ")
}

// GeneratedHistories returns n random histories of 2 to 4 goroutines, each
// with 2 to 4 puts (small and large values), deletes, two-key batches and
// now and then a Compact, over three shared keys, so that goroutines
// overwrite and delete each other's records while others move them.
func GeneratedHistories(seed uint64, n int) []History {
	r := rand.New(rand.NewPCG(seed, 0xc0c0))
	keys := []string{"x", "y", "z"}
	key := func() string { return keys[r.IntN(len(keys))] }
	sizes := []int{10, 60, 300, 5000}
	out := make([]History, n)
	for i := range out {
		h := History{Name: fmt.Sprintf("conc-%d-%d", seed, i)}
		for t := 0; t < 2+r.IntN(3); t++ {
			var ops []Op
			for k := 0; k < 2+r.IntN(3); k++ {
				switch x := r.IntN(10); {
				case x < 6:
					ops = append(ops, Op{Kind: OpPut, Key: key(), Size: sizes[r.IntN(len(sizes))]})
				case x < 8:
					ops = append(ops, Op{Kind: OpDelete, Key: key()})
				case x == 9 && r.IntN(3) == 0:
					ops = append(ops, Op{Kind: OpCompact})
				default:
					b := Op{Kind: OpBatch}
					for _, k := range []string{key(), key()} {
						if r.IntN(3) == 0 {
							b.Batch = append(b.Batch, Op{Kind: OpDelete, Key: k})
						} else {
							b.Batch = append(b.Batch, Op{Kind: OpPut, Key: k, Size: sizes[r.IntN(3)]})
						}
					}
					ops = append(ops, b)
				}
			}
			h.Threads = append(h.Threads, ops)
		}
		out[i] = h
	}
	return out
}

// ConcurrentReport is what RunConcurrent found.
type ConcurrentReport struct {
	Histories  int      // histories run, on every path
	Images     int      // crash images opened by the real recovery
	Violations int      // images whose recovered state no order of the operations explains
	Examples   []string // the first violations, described
}

// Summary is the concurrent suite's closing line.
func (r *ConcurrentReport) Summary() string {
	return fmt.Sprintf("crash-concurrent: histories=%d images=%d violations=%d", r.Histories, r.Images, r.Violations)
}

// event is one operation of a history as it ran: its number in the history
// (which derives its values), its thread, and the clock ticks at which it
// was invoked and acknowledged (0 while in flight or if it failed).
type event struct {
	op        Op
	n, thread int
	inv, resp int64
}

// crashImage is one image taken at a crash point, with the clock before
// (c0) and after (c1) it was taken.
type crashImage struct {
	img    []byte
	c0, c1 int64
}

// RunConcurrent runs every history on every path of cfg and judges every
// crash image. With unordered, the simulator ignores the ordering the
// design claims for the key stripe's unlock (to show that claim is
// load-bearing; a test sets it).
func RunConcurrent(cfg Config, hs []History) (*ConcurrentReport, error) {
	return runConcurrent(cfg, hs, false)
}

func runConcurrent(cfg Config, hs []History, unordered bool) (*ConcurrentReport, error) {
	cfg = cfg.withDefaults()
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp(tmpBase(), "daxkv-conc-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	rep := &ConcurrentReport{}
	var mu sync.Mutex // protects rep
	type job struct {
		h      History
		events []*event
		ci     crashImage
		mode   kv.DAXMode
	}
	jobs := make(chan job, 4*cfg.Workers)
	var wg sync.WaitGroup
	for w := 0; w < cfg.Workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			path := filepath.Join(dir, fmt.Sprintf("cimage-%d", w))
			defer os.Remove(path)
			defer os.Remove(kv.CheckpointPath(path))
			for j := range jobs {
				msg := judgeConcurrent(path, j.ci, j.mode, j.events)
				mu.Lock()
				rep.Images++
				if msg != "" {
					rep.Violations++
					if len(rep.Examples) < 20 {
						rep.Examples = append(rep.Examples, fmt.Sprintf("%s [%s] (%s): %s", j.h.Name, j.mode, j.h, msg))
					}
				}
				mu.Unlock()
			}
		}(w)
	}
	var runErr error
	for i, h := range hs {
		for _, p := range cfg.Paths {
			events, images, err := runHistory(filepath.Join(dir, fmt.Sprintf("cpool-%d", i)), h, p, cfg.Seed+uint64(i), unordered)
			if err != nil {
				runErr = fmt.Errorf("crash: %s [%s]: %w", h.Name, p, err)
				break
			}
			for _, ci := range images {
				jobs <- job{h: h, events: events, ci: ci, mode: modeOf(p)}
			}
		}
		if runErr != nil {
			break
		}
		mu.Lock()
		rep.Histories++
		mu.Unlock()
	}
	close(jobs)
	wg.Wait()
	return rep, runErr
}

// tmpBase is tmpfs when the machine has one, else the default.
func tmpBase() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return ""
}

// runHistory runs h on a fresh pool on path p and returns its events and
// the crash images taken at every fence of every goroutine, plus the final
// durable image.
func runHistory(pool string, h History, p flush.SimPath, seed uint64, unordered bool) ([]*event, []crashImage, error) {
	defer os.Remove(pool)
	rng := rand.New(rand.NewPCG(seed, uint64(p)))
	var rngMu sync.Mutex
	var clock atomic.Int64
	var sim *flush.Sim
	var imgMu sync.Mutex // protects images
	var images []crashImage
	seen := map[uint64]bool{}
	point := func(s *flush.Sim) {
		c0 := clock.Load()
		dirty := s.Dirty()
		rngMu.Lock()
		takes := [][]int64{nil, dirty}
		for k := 0; k < 2; k++ {
			takes = append(takes, randomSubset(rng, dirty))
		}
		var imgs [][]byte
		for _, t := range takes {
			imgs = append(imgs, s.Image(t, flush.TearWords, rng))
		}
		rngMu.Unlock()
		c1 := clock.Load()
		imgMu.Lock()
		defer imgMu.Unlock()
		for _, img := range imgs {
			if k := xxhash.Sum64(img) ^ uint64(c0)<<32 ^ uint64(c1); !seen[k] {
				seen[k] = true
				images = append(images, crashImage{img, c0, c1})
			}
		}
	}
	opts := &kv.Options{DAX: modeOf(p), ChunkSize: ChunkSize, Size: ChunkSize, NoAutoCompact: true}
	seam.Attach(opts, &seam.Hooks{
		// Growth ahead (the chunk preparer's) adds zero chunks that every
		// crash image would copy and every recovery scan: it is growth all
		// the same, which the writers' own growth covers here.
		NoGrowAhead: true,
		SeqLease:    SeqLease,
		WrapPersister: func(inner flush.Persister, mapped func() []byte) flush.Persister {
			sim = flush.NewSim(p, mapped)
			sim.PerThread = true
			sim.OnDrain = point
			return sim
		},
		At: func(pt seam.Point) {
			if pt == seam.KeyUnlock && !unordered && sim != nil {
				sim.Order()
			}
		},
	})
	db, err := kv.Open(pool, opts)
	if err != nil {
		return nil, nil, err
	}
	var events []*event
	n := 0
	for t, ops := range h.Threads {
		for _, op := range ops {
			n++
			events = append(events, &event{op: op, n: n, thread: t})
		}
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(h.Threads))
	for t := range h.Threads {
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			for _, e := range events {
				if e.thread != t {
					continue
				}
				e.inv = clock.Add(1)
				if err := do(db, e.op, e.n); err != nil {
					errc <- fmt.Errorf("thread %d op %s: %w", t, e.op, err)
					return
				}
				e.resp = clock.Add(1)
			}
		}(t)
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		db.Close()
		return nil, nil, err
	}
	c := clock.Load()
	images = append(images, crashImage{sim.Durable(), c, c})
	if err := db.Close(); err != nil {
		return nil, nil, err
	}
	return events, images, nil
}

// judgeConcurrent opens one image with the real recovery and checks that
// some order of the history's operations consistent with real time
// explains what it holds; it returns what is wrong, or "".
func judgeConcurrent(path string, ci crashImage, mode kv.DAXMode, events []*event) (msg string) {
	defer func() {
		if p := recover(); p != nil {
			msg = fmt.Sprintf("panic: %v", p)
		}
	}()
	if err := writeImage(path, ci.img); err != nil {
		return "write image: " + err.Error()
	}
	db, err := kv.Open(path, &kv.Options{DAX: mode, ChunkSize: ChunkSize, NoAutoCompact: true})
	if err != nil {
		return "open: " + err.Error()
	}
	defer db.Close()
	st, err := readState(db)
	if err != nil {
		return "read: " + err.Error()
	}
	delete(st.kv, probeKey)
	if !explains(events, ci.c0, ci.c1, st.kv) {
		return fmt.Sprintf("recovered %s, which no order of the operations consistent with real time explains (crash between ticks %d and %d)", st, ci.c0, ci.c1)
	}
	if err := db.Check(); err != nil {
		return "check: " + err.Error()
	}
	if err := db.Put([]byte(probeKey), []byte("probe")); err != nil {
		return "put after recovery: " + err.Error()
	}
	return ""
}

// explains reports whether some history of the events ending in state want
// is consistent with a crash between clock ticks c0 and c1: each thread
// applies a prefix of its operations, which holds every operation
// acknowledged by c0 and none invoked after c1; an operation applied never
// follows one, of another thread, that was invoked after it was
// acknowledged... and no applied operation precedes, in the order, one it
// followed in real time.
func explains(events []*event, c0, c1 int64, want map[string]string) bool {
	threads := 0
	for _, e := range events {
		threads = max(threads, e.thread+1)
	}
	chains := make([][]*event, threads)
	for _, e := range events {
		chains[e.thread] = append(chains[e.thread], e)
	}
	minLen := make([]int, threads) // operations that must be applied
	maxLen := make([]int, threads) // operations that may be
	for t, ch := range chains {
		for i, e := range ch {
			if e.resp != 0 && e.resp <= c0 {
				minLen[t] = i + 1
			}
			if e.inv != 0 && e.inv <= c1 {
				maxLen[t] = i + 1
			}
		}
	}
	wantKey := state{kv: want}.String()
	type node struct {
		pos, limit string
		st         string
	}
	seen := map[node]bool{}
	var dfs func(pos, limit []int, cur state) bool
	dfs = func(pos, limit []int, cur state) bool {
		done := true
		for t := range pos {
			if pos[t] < minLen[t] {
				done = false
			}
		}
		if done && cur.String() == wantKey {
			return true
		}
		k := node{fmt.Sprint(pos), fmt.Sprint(limit), cur.String()}
		if seen[k] {
			return false
		}
		seen[k] = true
		for t := range pos {
			if pos[t] >= limit[t] {
				continue
			}
			e := chains[t][pos[t]]
			// Every operation of another thread acknowledged before e was
			// invoked comes before e if it is applied at all: not yet
			// applied, it never will be (its thread stops before it),
			// which a mandatory one cannot.
			nlimit := slices.Clone(limit)
			ok := true
			for u := range chains {
				if u == t {
					continue
				}
				for i := pos[u]; i < nlimit[u]; i++ {
					if a := chains[u][i]; a.resp != 0 && a.resp < e.inv {
						if i < minLen[u] {
							ok = false
						}
						nlimit[u] = i
						break
					}
				}
			}
			if !ok {
				continue
			}
			npos := slices.Clone(pos)
			npos[t]++
			if dfs(npos, nlimit, cur.apply(e.op, e.n)) {
				return true
			}
		}
		return false
	}
	return dfs(make([]int, threads), maxLen, state{kv: map[string]string{}})
}
