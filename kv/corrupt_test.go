package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// buildPool writes a pool with overwritten, deleted and batched keys and
// closes it; it returns the file's bytes and the model of its contents.
func buildPool(t *testing.T, path string) ([]byte, map[string][]byte) {
	t.Helper()
	db, err := Open(path, smallOpts(DAXEmulated))
	if err != nil {
		t.Fatal(err)
	}
	model := map[string][]byte{}
	r := rand.New(rand.NewPCG(42, 42))
	for n := 0; n < 600; n++ {
		i := r.IntN(250)
		v := value(i, n, r.IntN(2000))
		mustPut(t, db, key(i), v)
		model[string(key(i))] = v
		if n%7 == 0 {
			j := r.IntN(250)
			if err := db.Delete(key(j)); err != nil {
				t.Fatal(err)
			}
			delete(model, string(key(j)))
		}
	}
	b := db.NewBatch()
	for i := 250; i < 260; i++ {
		v := value(i, 0, 50)
		b.Put(key(i), v)
		model[string(key(i))] = v
	}
	if err := db.Apply(b); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return img, model
}

// garble returns a damaged copy of img and a description of the damage.
func garble(r *rand.Rand, img []byte) ([]byte, string) {
	out := bytes.Clone(img)
	switch r.IntN(7) {
	case 0:
		n := 1 + r.IntN(64)
		for i := 0; i < n; i++ {
			p := r.IntN(len(out))
			out[p] ^= 1 << r.IntN(8)
		}
		return out, fmt.Sprintf("%d flipped bits", n)
	case 1:
		p := r.IntN(len(out)/4096) * 4096
		clear(out[p : p+4096])
		return out, fmt.Sprintf("page at %d zeroed", p)
	case 2:
		n := r.IntN(len(out))
		return out[:n], fmt.Sprintf("truncated to %d bytes", n)
	case 3:
		p := r.IntN(len(out))
		n := min(len(out)-p, 1+r.IntN(8192))
		for i := p; i < p+n; i++ {
			out[i] = byte(r.Uint32())
		}
		return out, fmt.Sprintf("%d random bytes at %d", n, p)
	case 4:
		// Damage record headers: the words after a 64-byte boundary in the
		// heap are where lengths and sequence numbers live.
		for i := 0; i < 20; i++ {
			p := 16384 + r.IntN((len(out)-16384)/64)*64 + 8*(1+r.IntN(2))
			binary.LittleEndian.PutUint64(out[p:], r.Uint64())
		}
		return out, "20 header words randomized"
	case 5:
		which := r.IntN(3) // copy 0, copy 1, or both
		if which != 1 {
			out[r.IntN(128)] ^= 0x10
		}
		if which != 0 {
			out[4096+r.IntN(128)] ^= 0x10
		}
		return out, fmt.Sprintf("superblock damage (%d)", which)
	default:
		clear(out[8192 : 8192+4096])
		for i := 0; i < 4; i++ {
			p := 8192 + r.IntN(4096/8)*8
			binary.LittleEndian.PutUint64(out[p:], r.Uint64())
		}
		return out, "batch log garbled"
	}
}

// TestCorruptPoolNeverPanicsOrLies opens damaged copies of a pool: each
// open returns an error wrapping ErrCorrupt (or ErrVersion), or a store
// whose every key and value is one that was written, never an invented key
// or a wrong value, and which accepts new writes.
func TestCorruptPoolNeverPanicsOrLies(t *testing.T) {
	dir := shmDir(t)
	img, model := buildPool(t, filepath.Join(dir, "orig"))
	trials := 400
	if testing.Short() {
		trials = 100
	}
	r := rand.New(rand.NewPCG(7, 7))
	opened, refused := 0, 0
	for trial := 0; trial < trials; trial++ {
		bad, what := garble(r, img)
		path := filepath.Join(dir, "bad")
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(path, smallOpts(DAXEmulated))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
				t.Fatalf("trial %d (%s): Open: %v, want an error wrapping ErrCorrupt", trial, what, err)
			}
			refused++
			continue
		}
		opened++
		err = db.Scan(nil, nil, func(k, v []byte) error {
			want, ok := model[string(k)]
			if !ok {
				return fmt.Errorf("invented key %q", k)
			}
			if !bytes.Equal(v, want) {
				return fmt.Errorf("key %q: wrong value", k)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("trial %d (%s): %v", trial, what, err)
		}
		for k, want := range model {
			v, err := db.Get([]byte(k))
			if err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatalf("trial %d (%s): Get(%q): %v", trial, what, k, err)
			}
			if err == nil && !bytes.Equal(v, want) {
				t.Fatalf("trial %d (%s): Get(%q) wrong value", trial, what, k)
			}
		}
		if err := db.Put([]byte("after"), []byte("damage")); err != nil {
			t.Fatalf("trial %d (%s): Put after recovery: %v", trial, what, err)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("trial %d (%s): Close: %v", trial, what, err)
		}
	}
	t.Logf("%d damaged pools: %d opened with intact data, %d refused with ErrCorrupt", trials, opened, refused)
	if opened == 0 || refused == 0 {
		t.Fatalf("the damage should both be survived and refused sometimes: opened %d, refused %d", opened, refused)
	}
}

// TestTruncatedUnderneath truncates the pool file while it is open: reads
// of the lost range fail with an error wrapping ErrCorrupt (the SIGBUS
// guard), and the process survives.
func TestTruncatedUnderneath(t *testing.T) {
	db := truncatedUnderneath(t, filepath.Join(shmDir(t), "pool"), 256<<10, 400)
	faults := 0
	for i := 0; i < 400; i++ {
		_, err := db.Get(key(i))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Get after truncation: %v, want ErrCorrupt", err)
			}
			faults++
		}
	}
	if faults == 0 {
		t.Fatal("no read hit the truncated range")
	}
	err := db.Scan(nil, nil, func(k, v []byte) error { return nil })
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Scan after truncation: %v, want ErrCorrupt", err)
	}
}
