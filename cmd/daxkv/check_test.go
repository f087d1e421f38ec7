package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/kv"
	"github.com/daxkv/daxkv/recovery"
)

// nopPersister makes nothing durable: for editing pool images in memory.
type nopPersister struct{}

func (nopPersister) Flush([]byte)         {}
func (nopPersister) Copy(dst, src []byte) { copy(dst, src) }
func (nopPersister) Drain() error         { return nil }

// Regression tests from the adversarial review of check going read-only.

// TestCheckFailsAPoolWritersRefuse: `daxkv check` (now a
// read-only open) prints "ok ... no problems" for a pool holding a large
// record at an offset the allocator can never produce, which every
// writable open - `daxkv put` here - refuses as corrupt.
func TestCheckFailsAPoolWritersRefuse(t *testing.T) {
	pool := filepath.Join(t.TempDir(), "cli.pool")
	for _, k := range []string{"a", "b", "c"} {
		if _, err := run(t, "put", pool, k, "v"); err != nil {
			t.Fatal(err)
		}
	}
	img, err := os.ReadFile(pool)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := recovery.ReadSuperblock(img)
	if err != nil {
		t.Fatal(err)
	}
	k, v := []byte("crafted"), make([]byte, 5000)
	size := recovery.RecordSize(len(k), len(v))
	at := int64(-1)
	for off := int64(recovery.HeapStart) + 4096 + 64; off+size+64 <= sb.ChunkSize; off += 4096 {
		free := true
		for _, b := range img[off-64 : off+size+64] {
			if b != 0 {
				free = false
				break
			}
		}
		if free {
			at = off
			break
		}
	}
	if at < 0 {
		t.Fatal("no free spot")
	}
	recovery.NewCodec(&sb).Write(nopPersister{}, img[at:at+size], at, recovery.TagLive, 1, 0, k, v)
	if err := os.WriteFile(pool, img, 0o600); err != nil {
		t.Fatal(err)
	}
	// The crafted record lies outside the list of the index checkpoint
	// the clean close wrote: an open that trusts the checkpoint sees free
	// space there. Without it the open scans, and refuses the pool.
	if err := os.Remove(pool + ".index"); err != nil {
		t.Fatal(err)
	}
	out, cerr := run(t, "check", pool)
	_, perr := run(t, "put", pool, "d", "v")
	t.Logf("check: %q, %v", out, cerr)
	t.Logf("put:   %v", perr)
	if !errors.Is(perr, kv.ErrCorrupt) {
		t.Fatalf("daxkv put on the crafted pool: %v, want ErrCorrupt (the premise)", perr)
	}
	if cerr == nil || strings.HasPrefix(out, "ok:") {
		t.Errorf("daxkv check reports %q, %v for a pool that daxkv put refuses as corrupt", strings.TrimSpace(out), cerr)
	}
}

// TestCheckPassesACrashImage: a power failure in the middle of a
// superblock update (the sequence-number lease) leaves one copy torn; the
// other copy is intact and the next writable open rewrites the torn one.
// `daxkv check`, now read-only and documented to treat what a crash left
// for the next writable open as no problem, exits non-zero on that image;
// after `daxkv put` (a writable open) the same pool checks ok.
func TestCheckPassesACrashImage(t *testing.T) {
	dir := t.TempDir()
	pool, crashed := filepath.Join(dir, "pool"), filepath.Join(dir, "crashed")
	label := seam.Point("")
	taken := false
	opts := &kv.Options{Size: 128 << 10, ChunkSize: 64 << 10, DAX: kv.DAXOff}
	seam.Attach(opts, &seam.Hooks{
		SeqLease: 4,
		At:       func(p seam.Point) { label = p },
		WrapPersister: func(inner flush.Persister, mapped func() []byte) flush.Persister {
			sim := flush.NewSim(flush.SimCPU, mapped)
			sim.OnDrain = func(s *flush.Sim) {
				if label != seam.SeqLease || taken {
					return
				}
				d := s.Dirty()
				if len(d) != 2 {
					return
				}
				taken = true
				// The copy's first line reached the media, its second not.
				if err := os.WriteFile(crashed, s.Image(d[:1], flush.TearLines, nil), 0o600); err != nil {
					t.Error(err)
				}
			}
			return sim
		},
	})
	db, err := kv.Open(pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20 && !taken; i++ {
		if err := db.Put(fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if !taken {
		t.Fatal("no lease write crashed")
	}
	out, cerr := run(t, "check", crashed)
	t.Logf("check of the crash image: %q, %v", out, cerr)
	if _, err := run(t, "put", crashed, "x", "y"); err != nil {
		t.Fatalf("writable open of the crash image: %v", err)
	}
	out2, cerr2 := run(t, "check", crashed)
	t.Logf("check after a writable open: %q, %v", out2, cerr2)
	if cerr != nil && cerr2 == nil {
		t.Errorf("daxkv check fails a pool a crash left mid superblock update, which the next writable open settles: %v", cerr)
	}
}

// TestCheckOnACrashFixture: daxkv check on a minimised crash image (the
// crash suite's fixtures) says what the crash left.
func TestCheckOnACrashFixture(t *testing.T) {
	src := filepath.Join("..", "..", "crash", "testdata", "crash", "batch-committed-flush-ad2be7e0bbb63eb8", "image")
	img, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	pool := filepath.Join(t.TempDir(), "image")
	if err := os.WriteFile(pool, img, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "check", pool)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	for _, want := range []string{"not closed cleanly", "batch log slot 0 still holds committed batch", "pending record of batch", "ok: 2 keys"} {
		if !strings.Contains(out, want) {
			t.Errorf("check of a crash image says %q, want it to mention %q", out, want)
		}
	}
}
