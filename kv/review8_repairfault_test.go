package kv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Regression test of a review finding, since fixed; the defect was:
//
// Salvage guards its callback, and when reading a record faults after the
// scan found it readable (a bad block appearing meanwhile; here the source
// file truncated underneath Repair) it reports the key damaged: "its value
// faulted after all". It then copies the key from the pool outside any
// guard: when the key's page is the one that faults, the process dies
// (fatal error: fault) instead of Repair reporting the key. The test runs
// Repair in a child process.
func TestRepairFaultOnKeyIsReported(t *testing.T) {
	const chunk = 64 << 10
	if os.Getenv("DAXKV_REPAIR_CHILD") == "1" {
		dir := os.Getenv("DAXKV_REPAIR_DIR")
		src := filepath.Join(dir, "src.pool")
		truncated := false
		opts := &Options{ChunkSize: chunk, DAX: DAXEmulated, NoAutoCompact: true, Progress: func(p Progress) {
			if p.Op == "repair: write" && p.Done == 1000 && !truncated {
				truncated = true // the records past the first chunk become unreadable
				if err := os.Truncate(src, chunk); err != nil {
					panic(err)
				}
			}
		}}
		rep, err := Repair(src, filepath.Join(dir, "dst.pool"), opts)
		if err != nil {
			fmt.Println("REPAIR ERROR", err)
			return
		}
		fmt.Printf("REPAIR OK keys %d damaged %d bad %d\n", rep.Keys, len(rep.Damaged), len(rep.Bad))
		if rep.Keys+len(rep.Damaged) < 1500 && len(rep.Bad) == 0 {
			fmt.Println("REPAIR LOST KEYS WITHOUT A WORD")
		}
		return
	}
	dir := shmDir(t)
	src := filepath.Join(dir, "src.pool")
	db, err := Open(src, &Options{Size: 8 * chunk, ChunkSize: chunk, DAX: DAXEmulated, NoAutoCompact: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1500; i++ {
		mustPut(t, db, key(i), value(i, 0, 100+i%50))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	os.Remove(CheckpointPath(src))
	cmd := exec.Command(os.Args[0], "-test.run=^TestRepairFaultOnKeyIsReported$", "-test.count=1")
	cmd.Env = append(os.Environ(), "DAXKV_REPAIR_CHILD=1", "DAXKV_REPAIR_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "REPAIR OK") || strings.Contains(string(out), "WITHOUT A WORD") {
		first := string(out)
		if i := strings.Index(first, "\n\ngoroutine"); i > 0 {
			first = first[:i]
		}
		if len(first) > 1500 {
			first = first[:1500]
		}
		t.Fatalf("Repair, its source truncated underneath after 1000 keys: child %v:\n%s", err, first)
	}
	t.Log(strings.TrimSpace(string(out)))
}

// Regression test of a review finding, since fixed; the defect was:
//
// When only a record's value faults after the scan (its key still reads),
// Salvage reports the key damaged, but Repair's callback, Batch.Put, has
// already appended the operation before copying the key and value: the
// operation is left pointing at bytes the next Put writes. The repaired
// pool then serves, under the damaged key, a value that was never stored.
func TestRepairFaultInValueLeavesNoOp(t *testing.T) {
	const chunk = 64 << 10
	dir := shmDir(t)
	src := filepath.Join(dir, "src.pool")
	db, err := Open(src, &Options{Size: 8 * chunk, ChunkSize: chunk, DAX: DAXEmulated, NoAutoCompact: true})
	if err != nil {
		t.Fatal(err)
	}
	// Key order: a0000..a0999, m, mz-longer-key. Offsets: mz-longer-key and
	// the a's first, in the low chunks; the run m last, in two free chunks.
	mustPut(t, db, []byte("mz-longer-key"), []byte("a value of mz-longer-key"))
	for i := 0; i < 1000; i++ {
		mustPut(t, db, fmt.Appendf(nil, "a%04d", i), bytes.Repeat([]byte{'v'}, 100))
	}
	run := runValue(9, 0, chunk+6000)
	mustPut(t, db, []byte("m"), run)
	it, _ := db.idx.lookup([]byte("m"), hashKey([]byte("m")))
	cut := it.off() + chunk // the run's key reads, its second chunk does not
	for _, k := range []string{"mz-longer-key", "a0000", "a0999"} {
		o, _ := db.idx.lookup([]byte(k), hashKey([]byte(k)))
		if o.off() >= it.off() {
			t.Skipf("%s at %d, past the run at %d", k, o.off(), it.off())
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	os.Remove(CheckpointPath(src))
	dst := filepath.Join(dir, "dst.pool")
	truncated := false
	opts := &Options{ChunkSize: chunk, DAX: DAXEmulated, NoAutoCompact: true, Progress: func(p Progress) {
		if p.Op == "repair: write" && p.Done == 1000 && !truncated { // before m is handed over
			truncated = true
			if err := os.Truncate(src, cut); err != nil {
				t.Error(err)
			}
		}
	}}
	rep, err := Repair(src, dst, opts)
	if err != nil {
		t.Fatalf("Repair: %v", err)
	}
	if !truncated {
		t.Fatal("the source was never truncated")
	}
	var damaged []string
	for _, k := range rep.Damaged {
		damaged = append(damaged, string(k))
	}
	t.Logf("repair: %d keys saved, damaged %q", rep.Keys, damaged)
	out, err := Open(dst, &Options{DAX: DAXEmulated, NoAutoCompact: true})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if got, err := out.Get([]byte("m")); err == nil && !bytes.Equal(got, run) {
		t.Errorf("repaired pool: m (reported damaged: %v) holds %d bytes never stored under it, starting %q", damaged, len(got), got[:min(40, len(got))])
	}
	if got, err := out.Get([]byte("mz-longer-key")); err != nil || string(got) != "a value of mz-longer-key" {
		t.Errorf("repaired pool: mz-longer-key: %q, %v", got, err)
	}
	if keys := out.Stats().Keys; keys != int64(rep.Keys) {
		t.Errorf("repaired pool holds %d keys, Repair reports %d saved", keys, rep.Keys)
	}
}
