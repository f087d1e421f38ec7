package crash

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/daxkv/daxkv/internal/mutant"
)

// Tier returns the workloads of a named tier: "quick" (inside make test),
// "full" (make crash: every sequence of up to 2 operations over 2 and 3
// keys, growth, and generated workloads), "exhaustive" (every sequence of
// up to 3 operations over 2 keys and up to 2 over 3 keys; long) or "gate"
// (the mutation gate's).
func Tier(name string, seed uint64) ([]Workload, error) {
	switch name {
	case "quick":
		ws := Exhaustive([]string{"a", "b"}, 2)
		ws = append(ws, Growth(), Held(), Compacted(), Runs(), Full())
		return append(ws, Generated(seed, 8, 14, 4)...), nil
	case "gate":
		// The mutation gate's set: growth and generated workloads first
		// (they grow the pool and change the preferred mode), so that most
		// mutants are caught within the first few.
		ws := append([]Workload{Targeted(), Growth(), Held(), Compacted(), Runs()}, Generated(seed, 8, 14, 4)...)
		return append(ws, Exhaustive([]string{"a", "b"}, 2)...), nil
	case "exhaustive":
		ws := Exhaustive([]string{"a", "b"}, 3)
		return append(ws, Exhaustive([]string{"a", "b", "c"}, 2)...), nil
	case "full":
		// Every sequence of up to 2 operations over 2 and over 3 keys, the
		// growth workload, and long generated workloads; the sequences of
		// 3 operations are the exhaustive tier's.
		ws := Exhaustive([]string{"a", "b"}, 2)
		ws = append(ws, Exhaustive([]string{"a", "b", "c"}, 2)...)
		ws = append(ws, Growth(), Held(), Compacted(), Runs(), Full())
		return append(ws, Generated(seed, 30, 24, 6)...), nil
	}
	return nil, fmt.Errorf("crash: unknown tier %q (want quick, full or exhaustive)", name)
}

// ConcurrentTier returns the concurrent histories of a named tier: 60 for
// "quick", 1,000 for "full" and "exhaustive", none for "gate".
func ConcurrentTier(name string, seed uint64) ([]History, error) {
	switch name {
	case "quick":
		return GeneratedHistories(seed, 60), nil
	case "full", "exhaustive":
		return GeneratedHistories(seed, 1000), nil
	case "gate":
		return nil, nil
	}
	return nil, fmt.Errorf("crash: unknown tier %q (want quick, full or exhaustive)", name)
}

// GateResult is the mutation gate's verdict on one mutant.
type GateResult struct {
	mutant.Mutant
	Caught  bool
	Example string  // the first violation the suite reported
	Images  int     // images opened until the first violation (or in all)
	Seconds float64 // how long the run took
}

// Gate runs workloads once per mutant (build tag "mutants"), or per mutant
// named in only, stopping at the first violation, and reports which mutants
// the suite caught. Without the tag it returns nil.
func Gate(cfg Config, workloads []Workload, only ...mutant.Name) ([]GateResult, error) {
	if !mutant.Enabled {
		return nil, nil
	}
	defer mutant.Set("")
	var out []GateResult
	for _, m := range mutant.All {
		if len(only) > 0 && !slices.Contains(only, m.Name) {
			continue
		}
		mutant.Set(m.Name)
		start := time.Now()
		c := cfg
		c.StopAtFirst = true
		if strings.HasPrefix(string(m.Name), "recover-") {
			// The recovery mutants want crashes while recovering soon;
			// the others are caught by the images themselves, and
			// recovering every other image again costs the gate minutes.
			c.NestEvery = 2
		}
		c.Progress = nil
		rep, err := Run(c, firstNamed(workloads, m.First))
		if err != nil {
			return out, fmt.Errorf("crash: mutant %s: %w", m.Name, err)
		}
		g := GateResult{Mutant: m, Caught: rep.Violations > 0, Images: rep.Images, Seconds: time.Since(start).Seconds()}
		if len(rep.Examples) > 0 {
			g.Example = rep.Examples[0]
		}
		out = append(out, g)
	}
	return out, nil
}

// firstNamed returns workloads with the one named name moved to the
// front (a mutant's own workload, Mutant.First), or workloads as they are.
func firstNamed(workloads []Workload, name string) []Workload {
	i := slices.IndexFunc(workloads, func(w Workload) bool { return w.Name == name })
	if name == "" || i <= 0 {
		return workloads
	}
	out := append([]Workload{workloads[i]}, workloads[:i]...)
	return append(out, workloads[i+1:]...)
}

// Summary is the suite's closing line.
func Summary(rep *Report, gate []GateResult) string {
	caught := 0
	for _, g := range gate {
		if g.Caught {
			caught++
		}
	}
	return fmt.Sprintf("crash-suite: images=%d points=%d violations=%d mutants=%d/%d",
		rep.Images, rep.Points, rep.Violations, caught, len(gate))
}

// Growth is a workload that certainly grows its pool (from one 64 KiB
// chunk) several times, with large values, overwrites, deletes and a batch
// landing in the new chunks.
func Growth() Workload {
	w, err := Parse("growth", `put g0 5000; put g1 5000; put g2 5000; put g3 5000; put g4 5000;
		put g5 5000; put g6 5000; put g7 5000; put g8 5000; put g9 5000; put g10 12000;
		put g0 300; del g1; batch{put g11 5000, put g12 100, del g2}; put g13 12000; put g14 12000`)
	if err != nil {
		panic("daxkv: assertion failed: the growth workload does not parse: " + err.Error())
	}
	w.Grow = true
	return w
}

// Runs writes values longer than half a chunk (runs of whole 64 KiB
// chunks, growing the pool): a one-chunk and a two-chunk run, a run
// overwritten by a run, by a small value and back, a run deleted, a batch
// holding a run, a snapshot holding a run across its overwrite, and a
// compaction beside them.
func Runs() Workload {
	w, err := Parse("runs", `put r0 40000; put r1 100000; put s 300; put r0 70000; put r1 200;
		put r1 33000; snap; del r0; batch{put r2 90000, put s 100, del r1}; release;
		put r2 40000; put t 300; compact; put r3 150000`)
	if err != nil {
		panic("daxkv: assertion failed: the runs workload does not parse: " + err.Error())
	}
	w.Grow, w.Sample = true, 12
	return w
}

// Held overwrites the keys a held snapshot reaches until the first chunk
// is full: the snapshot keeps the versions it shows out of reuse, so the
// pool grows instead, and the release checks the snapshot still shows
// them. A second snapshot is left held when the workload ends, for Close.
func Held() Workload {
	w, err := Parse("held", `put s0 5000; put s1 5000; put s2 5000; snap;
		put s0 5000; put s1 5000; put s2 5000; del s0; put s1 5000; put s2 5000;
		put s1 5000; put s2 5000; put s1 5000; put s2 5000; release; snap;
		put s1 12000; del s2; put s3 100`)
	if err != nil {
		panic("daxkv: assertion failed: the held workload does not parse: " + err.Error())
	}
	w.Grow = true
	return w
}

// Compacted writes ten records (into the first free chunk), holds a
// snapshot, deletes most keys and compacts: the survivors move out of their sparse chunk (into a new
// one: the pool grows) while the snapshot still reaches the old records
// there, so Compact must give up (ErrBusy) before punching it; the release
// checks the snapshot. A second compaction, with nothing held, empties and
// punches the chunk; a later write reuses the space.
func Compacted() Workload {
	var b strings.Builder
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "put c%d 300; ", i)
	}
	b.WriteString("snap; ")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "del c%d; ", i)
	}
	b.WriteString("compact; release; compact; put c3 300")
	w, err := Parse("compacted", b.String())
	if err != nil {
		panic("daxkv: assertion failed: the compacted workload does not parse: " + err.Error())
	}
	return w
}

// Full runs a pool capped at three chunks out of space: puts until the
// pool is full (the last refused), then a batch with a tombstone, a run
// and a put, which are refused too while deletes (which need no space)
// go on, freed space taken again, a compaction, and a put that fits in
// what the deletes gave back. Every refused operation must leave the
// durable image exactly as it was.
func Full() Workload {
	var b strings.Builder
	for i := 0; i < 24; i++ { // 22 fit
		fmt.Fprintf(&b, "put f%d 5000; ", i)
	}
	b.WriteString("batch{put g 5000, del f0}; put r 40000; del f1; del f2; put f30 5000; ")
	b.WriteString("batch{put f31 3000, del f3}; del f4; del f5; compact; put f32 9000; put f1 100")
	w, err := Parse("full", b.String())
	if err != nil {
		panic("daxkv: assertion failed: the full workload does not parse: " + err.Error())
	}
	w.Grow, w.Cap = true, 3*ChunkSize
	return w
}

// Targeted is a short workload that passes every durability site early:
// overwrites then deletes (the lazy free of an older version, and the
// delete's two fences), a batch with a put and a delete, a preferred mode
// change, and switches of the live pool with a lazy free in flight. The gate runs it first, so most mutants are caught in it.
func Targeted() Workload {
	w, err := Parse("targeted", "put a 20; put a 5000; del a; put b 20; put b 30; del b; "+
		"put c 10; batch{put c 40, del d, put e 300}; mode off; put f 300; put f 10; del f; "+
		"put g 20; put g 30; switch off; del g; put h 20; put h 30; switch emulated; del h; put i 5000")
	if err != nil {
		panic("daxkv: assertion failed: the targeted workload does not parse: " + err.Error())
	}
	return w
}
