package kv

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daxkv/daxkv/internal/seam"
)

// The child side of TestProcessCrash: it writes forever and reports on
// stdout, one line per operation, "W <op>" before starting it and "A" once
// it returned nil. Ops: "P key ver size", "D key", "B key ver size key ver
// size ... ; D key ...", "C" (Compact), "M mode", "S mode", "R" (a clean
// Close and an Open, through the index checkpoint).
func TestCrashChild(t *testing.T) {
	path := os.Getenv("DAXKV_CRASH_CHILD")
	if path == "" {
		t.Skip("only runs as the child of TestProcessCrash")
	}
	mode, _ := ParseDAXMode(os.Getenv("DAXKV_CRASH_MODE"))
	seed, _ := strconv.ParseUint(os.Getenv("DAXKV_CRASH_SEED"), 10, 64)
	opts := smallOpts(mode)
	if at := os.Getenv("DAXKV_CRASH_AT"); at != "" {
		// "point:k": SIGKILL this process the k-th time the write path
		// passes the named crash point.
		name, ks, _ := strings.Cut(at, ":")
		k, _ := strconv.Atoi(ks)
		if name == "grow" {
			opts.Size = opts.ChunkSize // one chunk: the first few puts grow it
		}
		opts.hooks = &seam.Hooks{SeqLease: leaseFor(name), NoGrowAhead: name == "grow", At: func(p seam.Point) {
			if string(p) == name {
				if k--; k == 0 {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
					select {} // the signal is on its way
				}
			}
		}}
	}
	db, err := Open(path, opts)
	if err != nil {
		fmt.Println("E", err)
		os.Exit(2)
	}
	out := os.Stdout
	r := rand.New(rand.NewPCG(seed, 3))
	for n := 1; ; n++ {
		var line string
		var op func() error
		switch x := r.IntN(10); {
		case x < 6:
			i, size := r.IntN(crashKeys), r.IntN(900)
			line = fmt.Sprintf("P %d %d %d", i, n, size)
			op = func() error { return db.Put(key(i), value(i, n, size)) }
		case x < 8:
			i := r.IntN(crashKeys)
			line = fmt.Sprintf("D %d", i)
			op = func() error { return db.Delete(key(i)) }
		case x == 8 && r.IntN(3) == 0:
			line = "C"
			op = func() error { return db.Compact(context.Background()) }
		case x == 8 && r.IntN(4) == 0:
			line = "R"
			op = func() error {
				if err := db.Close(); err != nil {
					return err
				}
				db, err = Open(path, opts)
				return err
			}
		case x == 9 && r.IntN(3) == 0:
			m := DAXMode(r.IntN(3))
			line = fmt.Sprintf("M %d", m)
			op = func() error { return db.SetPreferredMode(m) }
		case x == 9 && r.IntN(2) == 0:
			m := []DAXMode{DAXEmulated, DAXOff}[r.IntN(2)]
			line = fmt.Sprintf("S %d", m)
			op = func() error { return db.SwitchMode(context.Background(), m) }
		default:
			b := db.NewBatch()
			var sb strings.Builder
			sb.WriteString("B")
			for j := 0; j < 2+r.IntN(8); j++ {
				i, size := r.IntN(crashKeys), r.IntN(700)
				if r.IntN(4) == 0 {
					b.Delete(key(i))
					fmt.Fprintf(&sb, " d %d 0 0", i)
				} else {
					b.Put(key(i), value(i, n, size))
					fmt.Fprintf(&sb, " p %d %d %d", i, n, size)
				}
			}
			line = sb.String()
			op = func() error { return db.Apply(b) }
		}
		fmt.Fprintln(out, "W "+line)
		if err := op(); err != nil {
			fmt.Fprintln(out, "E", err)
			os.Exit(2)
		}
		fmt.Fprintln(out, "A")
	}
}

const crashKeys = 150

// leaseFor is the sequence-number lease of a child crashing at point: a
// short one when the point is the lease's own update, so that it is
// reached often.
func leaseFor(point string) uint64 {
	if point == string(seam.SeqLease) {
		return 5
	}
	return 0
}

// crashModel replays acknowledged operations. A nil entry is a deleted key.
type crashModel map[int][]byte

func (m crashModel) apply(line string) error {
	f := strings.Fields(line)
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	switch f[0] {
	case "P":
		i := num(f[1])
		m[i] = value(i, num(f[2]), num(f[3]))
	case "D":
		delete(m, num(f[1]))
	case "M", "S", "C", "R":
		// Neither the preferred nor the effective mode is part of the key
		// model, and neither a compaction nor a reopen changes a key.
	case "B":
		// Within a batch the last operation on a key wins.
		for j := 1; j+3 < len(f); j += 4 {
			i := num(f[j+1])
			if f[j] == "d" {
				delete(m, i)
			} else {
				m[i] = value(i, num(f[j+2]), num(f[j+3]))
			}
		}
	default:
		return fmt.Errorf("bad op line %q", line)
	}
	return nil
}

func (m crashModel) clone() crashModel {
	c := crashModel{}
	for k, v := range m {
		c[k] = v
	}
	return c
}

// matches reports whether db holds exactly the model.
func (m crashModel) matches(db *DB) error {
	seen := 0
	err := db.Scan(nil, nil, func(k, v []byte) error {
		i, err := strconv.Atoi(string(k))
		if err != nil {
			return fmt.Errorf("phantom key %q", k)
		}
		want, ok := m[i]
		if !ok {
			return fmt.Errorf("key %d present, the model has it deleted or never written", i)
		}
		if !bytes.Equal(v, want) {
			return fmt.Errorf("key %d = %.20q..., want %.20q...", i, v, want)
		}
		seen++
		return nil
	})
	if err != nil {
		return err
	}
	if seen != len(m) {
		return fmt.Errorf("pool holds %d keys, the model %d", seen, len(m))
	}
	return nil
}

// TestProcessCrash kills a writing child process with SIGKILL at a random
// moment, then recovers the pool: it must hold exactly the acknowledged
// operations, plus the one in flight either entirely or not at all (batches
// included). Both durability paths run; the emulated one is durable against
// exactly this kind of crash.
func TestProcessCrash(t *testing.T) {
	if os.Getenv("DAXKV_CRASH_CHILD") != "" {
		t.Skip("child")
	}
	rounds := 4
	if testing.Short() {
		rounds = 2
	}
	for _, c := range crashPaths {
		mode := c.mode
		for round := 0; round < rounds; round++ {
			t.Run(fmt.Sprintf("%s/%d", c.name, round), func(t *testing.T) {
				path := filepath.Join(c.dir(t), "pool")
				seed := uint64(round*31 + int(mode))
				// The pool lives across several kills: later rounds recover
				// pools that were already recovered.
				model := crashModel{}
				for kill := 0; kill < 3; kill++ {
					model = crashOnce(t, path, mode, seed+uint64(kill)*1000, "", model)
				}
			})
		}
	}
}

// crashPaths are the durability paths the process-crash tests run: the
// emulated and the page-cache mode on tmpfs, and the page-cache mode on a
// filesystem with blocks, where a Put writes its record with pwrite
// (writeRecord) and fresh chunks are zero-filled.
var crashPaths = []struct {
	name string
	mode DAXMode
	dir  func(testing.TB) string
}{
	{"DAXEmulated", DAXEmulated, shmDir},
	{"DAXOff", DAXOff, shmDir},
	{"DAXOff-disk", DAXOff, diskDir},
}

// TestProcessCrashAtPoints kills the child at each named crash point of the
// write path (seam.CrashPoints), on both durability paths, so that every
// boundary of the put, delete and batch protocols is crashed at least once
// by a real process death, not only when a random kill happens to land
// there.
func TestProcessCrashAtPoints(t *testing.T) {
	if os.Getenv("DAXKV_CRASH_CHILD") != "" {
		t.Skip("child")
	}
	for _, c := range crashPaths {
		mode := c.mode
		for pi, point := range seam.CrashPoints {
			t.Run(c.name+"/"+string(point), func(t *testing.T) {
				path := filepath.Join(c.dir(t), "pool")
				model := crashModel{}
				kills, spread := 2, 40
				switch point {
				case seam.Grow:
					// A small pool grows only a few times early on.
					kills, spread = 1, 1
				case seam.Checkpoint:
					// One reopen in about 27 operations.
					spread = 3
				}
				for kill := 0; kill < kills; kill++ {
					seed := uint64(pi*100 + kill)
					at := fmt.Sprintf("%s:%d", point, 1+rand.New(rand.NewPCG(seed, 1)).IntN(spread))
					model = crashOnce(t, path, mode, seed, at, model)
				}
			})
		}
	}
}

// crashOnce runs the child on the pool at path until it is killed (by this
// test after a random number of operations, or by itself at the crash point
// at, "name:k"), then recovers the pool and checks it against model. It
// returns the model of the recovered state.
func crashOnce(t *testing.T, path string, mode DAXMode, seed uint64, at string, model crashModel) crashModel {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), "DAXKV_CRASH_CHILD="+path, "DAXKV_CRASH_MODE="+mode.String(),
		"DAXKV_CRASH_SEED="+strconv.FormatUint(seed, 10), "DAXKV_CRASH_AT="+at)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 5))
	killAfter := 200 + r.IntN(1500) // acknowledged operations before the kill
	sc := bufio.NewScanner(stdout)
	var inflight string
	acked := 0
	killed := false
	deadline := time.Now().Add(10 * time.Second)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "W "):
			inflight = line[2:]
		case line == "A":
			if err := model.apply(inflight); err != nil {
				t.Fatal(err)
			}
			inflight = ""
			acked++
		case strings.HasPrefix(line, "E "):
			t.Fatalf("child failed: %s", line)
		}
		if !killed && (at == "" && acked >= killAfter || time.Now().After(deadline)) {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true // keep reading what the child wrote before dying
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed (%v) after %d acknowledged operations", err, acked)
	}
	if killed && at != "" {
		t.Fatalf("the child never reached crash point %s", at)
	}

	db, err := Open(path, smallOpts(mode))
	if err != nil {
		t.Fatalf("recovery after SIGKILL: %v", err)
	}
	defer db.Close()
	if !db.Stats().Recovered && inflight != "R" {
		// (A kill inside a reopen can find the pool closed cleanly.)
		t.Errorf("Stats.Recovered false after a crash")
	}
	if err := db.Check(); err != nil {
		t.Fatalf("Check after recovery: %v", err)
	}
	errAcked := model.matches(db)
	if errAcked == nil {
		return model
	}
	if inflight != "" {
		with := model.clone()
		if err := with.apply(inflight); err != nil {
			t.Fatal(err)
		}
		if err := with.matches(db); err == nil {
			return with
		}
	}
	t.Fatalf("after %d acknowledged ops (in flight: %q): %v", acked, inflight, errAcked)
	return nil
}
