package kv

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/daxkv/daxkv/recovery"
)

// checkpointModel fills a pool with keys that exercise the index: short
// keys, long keys that tie on their first 16 bytes, overwrites and
// deletes. It returns what the pool holds.
func checkpointModel(t *testing.T, db *DB, n int) map[string][]byte {
	t.Helper()
	model := map[string][]byte{}
	put := func(k string, v []byte) {
		if err := db.Put([]byte(k), v); err != nil {
			t.Fatal(err)
		}
		model[k] = v
	}
	for i := range n {
		put(fmt.Sprintf("k%05d", i), value(i, 0, 40))
		put(fmt.Sprintf("same-16-byte-pfx%05d-long", i), value(i, 1, 70)) // ties on 16 bytes
		if i%3 == 0 {
			put(fmt.Sprintf("k%05d", i), value(i, 2, 90))
		}
		if i%5 == 0 {
			k := fmt.Sprintf("same-16-byte-pfx%05d-long", i)
			if err := db.Delete([]byte(k)); err != nil {
				t.Fatal(err)
			}
			delete(model, k)
		}
	}
	return model
}

// sameAsModel checks every key of model reads back, and a Scan and an
// iterator yield exactly model, in order.
func sameAsModel(t *testing.T, db *DB, model map[string][]byte) {
	t.Helper()
	for k, v := range model {
		if got, err := db.Get([]byte(k)); err != nil || !bytes.Equal(got, v) {
			t.Fatalf("Get(%q) = %.20q, %v; want %.20q", k, got, err, v)
		}
	}
	want := slices.Sorted(maps.Keys(model))
	it, err := db.NewIterator(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		if i >= len(want) || string(it.Key()) != want[i] || !bytes.Equal(it.Value(), model[want[i]]) {
			t.Fatalf("iterator at %d: %q", i, it.Key())
		}
		i++
	}
	if i != len(want) || it.Error() != nil {
		t.Fatalf("iterator saw %d keys of %d (%v)", i, len(want), it.Error())
	}
	if n := db.Stats().Keys; n != int64(len(model)) {
		t.Fatalf("Stats.Keys = %d, want %d", n, len(model))
	}
}

// TestCheckpointReopen: after a clean Close, Open builds the index from the
// checkpoint (no scan), and the pool reads exactly as before, at once:
// Get, an iterator and a snapshot right after Open, writes while the tree
// is still filling, a second clean cycle.
func TestCheckpointReopen(t *testing.T) {
	for _, mode := range []DAXMode{DAXEmulated, DAXOff} {
		t.Run(mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pool")
			opts := smallOpts(mode)
			db := openTest(t, path, opts)
			model := checkpointModel(t, db, 3000)
			db = reopen(t, db, path, opts)
			if s := db.Stats(); !s.FromCheckpoint || s.CheckpointNote != "" || s.Recovered {
				t.Fatalf("reopen after a clean close: from checkpoint %v (%q), recovered %v", s.FromCheckpoint, s.CheckpointNote, s.Recovered)
			}
			// Writes at once, before anything waits for the tree.
			for i := range 100 {
				k := fmt.Sprintf("after-%03d", i)
				if err := db.Put([]byte(k), value(i, 3, 30)); err != nil {
					t.Fatal(err)
				}
				model[k] = value(i, 3, 30)
			}
			if err := db.Delete([]byte("k00001")); err != nil {
				t.Fatal(err)
			}
			delete(model, "k00001")
			snap := db.NewSnapshot()
			sameAsModel(t, db, model)
			if v, err := snap.Get([]byte("after-099")); err != nil || !bytes.Equal(v, model["after-099"]) {
				t.Errorf("snapshot Get: %q, %v", v, err)
			}
			snap.Close()
			if _, err := os.Stat(CheckpointPath(path)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a writable open left the checkpoint it no longer matches: %v", err)
			}
			if err := db.Check(); err != nil {
				t.Fatal(err)
			}
			db = reopen(t, db, path, opts)
			if !db.Stats().FromCheckpoint {
				t.Fatalf("second reopen scanned: %s", db.Stats().CheckpointNote)
			}
			sameAsModel(t, db, model)
			// A read-only open uses it and leaves it in place.
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			ro := *opts
			ro.ReadOnly = true
			for range 2 {
				rdb, err := Open(path, &ro)
				if err != nil {
					t.Fatal(err)
				}
				if !rdb.Stats().FromCheckpoint {
					t.Errorf("read-only open scanned: %s", rdb.Stats().CheckpointNote)
				}
				sameAsModel(t, rdb, model)
				rdb.Close()
			}
		})
	}
}

// TestCheckpointCloseDuringFill: a Close right after an Open from the
// checkpoint, while the tree may still be filling, and a Scan racing it,
// lose nothing.
func TestCheckpointCloseDuringFill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pool")
	opts := smallOpts(DAXEmulated)
	db := openTest(t, path, opts)
	model := checkpointModel(t, db, 2000)
	for range 5 {
		db = reopen(t, db, path, opts)
		if !db.Stats().FromCheckpoint {
			t.Fatalf("reopen scanned: %s", db.Stats().CheckpointNote)
		}
	}
	sameAsModel(t, db, model)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointFallsBack: a checkpoint that is missing, damaged, stale,
// another pool's, a link, or that lists a record damaged since, makes the
// open scan, with the reason in Stats.CheckpointNote; the pool reads the
// same either way (the damaged record is dropped, as the scan drops it).
func TestCheckpointFallsBack(t *testing.T) {
	dir := t.TempDir()
	opts := smallOpts(DAXEmulated)
	// fresh makes a pool at name holding model, closed cleanly.
	fresh := func(name string) (string, map[string][]byte) {
		path := filepath.Join(dir, name)
		db, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		model := checkpointModel(t, db, 500)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		return path, model
	}
	expectScan := func(name, path string, model map[string][]byte) {
		t.Helper()
		db, err := Open(path, opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer db.Close()
		s := db.Stats()
		if s.FromCheckpoint || s.CheckpointNote == "" {
			t.Fatalf("%s: from checkpoint %v, note %q; want a scan and a reason", name, s.FromCheckpoint, s.CheckpointNote)
		}
		t.Logf("%s: %s", name, s.CheckpointNote)
		sameAsModel(t, db, model)
		if err := db.Check(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	edit := func(path string, fn func(b []byte) []byte) {
		b, err := os.ReadFile(CheckpointPath(path))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(CheckpointPath(path), fn(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	path, model := fresh("missing")
	os.Remove(CheckpointPath(path))
	expectScan("missing", path, model)

	path, model = fresh("truncated")
	edit(path, func(b []byte) []byte { return b[:len(b)-5] })
	expectScan("truncated", path, model)

	path, model = fresh("flipped")
	edit(path, func(b []byte) []byte { b[len(b)/2] ^= 0x10; return b })
	expectScan("flipped", path, model)

	// An older checkpoint of the same pool, put back after a later close.
	path, model = fresh("stale")
	old, _ := os.ReadFile(CheckpointPath(path))
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put([]byte("k00002"), []byte("newer")); err != nil {
		t.Fatal(err)
	}
	model["k00002"] = []byte("newer")
	db.Close()
	os.WriteFile(CheckpointPath(path), old, 0o600)
	expectScan("stale", path, model)

	// Another pool's checkpoint (the same keys, another identity).
	path, model = fresh("mine")
	other, _ := fresh("other")
	b, _ := os.ReadFile(CheckpointPath(other))
	os.WriteFile(CheckpointPath(path), b, 0o600)
	expectScan("another pool's", path, model)

	// A link in place of the file is not followed.
	path, model = fresh("linked")
	os.Rename(CheckpointPath(path), CheckpointPath(path)+".real")
	if err := os.Symlink(CheckpointPath(path)+".real", CheckpointPath(path)); err != nil {
		t.Fatal(err)
	}
	expectScan("a link", path, model)

	// A listed record damaged after the close: its check fails, the open
	// scans, and the scan drops it like a torn write.
	path, model = fresh("damaged")
	db, err = Open(path, &Options{ReadOnly: true, ChunkSize: opts.ChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	it, _ := db.idx.lookup([]byte("k00004"), hashKey([]byte("k00004")))
	db.Close()
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img[it.off()+recovery.HeaderSize+10] ^= 1 // a value byte
	os.WriteFile(path, img, 0o600)
	delete(model, "k00004")
	expectScan("a damaged record", path, model)
}

// TestCheckpointCraftedList: a checkpoint that the superblock names (as if
// written by a clean close) but whose list does not match the pool's
// records is refused line by line, and the open scans.
func TestCheckpointCraftedList(t *testing.T) {
	dir := t.TempDir()
	opts := smallOpts(DAXEmulated)
	path := filepath.Join(dir, "pool")
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	model := checkpointModel(t, db, 300)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	clean, _ := os.ReadFile(path)
	sb, err := recovery.ReadSuperblock(clean)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(CheckpointPath(path))
	list, err := recovery.DecodeCheckpoint(b, &sb)
	if err != nil {
		t.Fatal(err)
	}
	// install writes a checkpoint of list and names it in the superblock.
	install := func(list []recovery.Listed) {
		buf, sum := recovery.EncodeCheckpoint(sb.UUID, list)
		if err := os.WriteFile(CheckpointPath(path), buf, 0o600); err != nil {
			t.Fatal(err)
		}
		img := bytes.Clone(clean)
		s := sb
		s.Index = sum
		if err := s.Write(img, nopPersister{}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, img, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	install(list)
	db, err = Open(path, opts)
	if err != nil || !db.Stats().FromCheckpoint {
		t.Fatalf("the installed checkpoint itself is refused: %v", err)
	}
	db.Close()
	n := len(list)
	for _, c := range []struct {
		name string
		edit func(l []recovery.Listed) []recovery.Listed
	}{
		{"out of order", func(l []recovery.Listed) []recovery.Listed { l[3], l[4] = l[4], l[3]; return l }},
		{"a duplicate", func(l []recovery.Listed) []recovery.Listed { return append(l[:n-1], l[n-2]) }},
		{"a wrong key length", func(l []recovery.Listed) []recovery.Listed { l[7].Ref++; return l }},
		{"a wrong offset", func(l []recovery.Listed) []recovery.Listed { l[9].Ref += 64 << 16; return l }},
		{"past the pool", func(l []recovery.Listed) []recovery.Listed { l[n-1].Ref |= 1 << 60; return l }},
		{"a wrong prefix", func(l []recovery.Listed) []recovery.Listed { l[n-1].P1++; return l }},
	} {
		install(c.edit(slices.Clone(list)))
		db, err := Open(path, opts)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		s := db.Stats()
		if s.FromCheckpoint {
			t.Errorf("%s: accepted", c.name)
		} else {
			t.Logf("%s: %s", c.name, s.CheckpointNote)
		}
		sameAsModel(t, db, model)
		db.Close()
	}
}

// TestCheckpointLeftovers: a Close that died while writing the checkpoint
// leaves a temporary file; the next writable open removes it, and the
// pool's own checkpoint, which it no longer matches.
func TestCheckpointLeftovers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pool")
	db := openTest(t, path, smallOpts(DAXEmulated))
	checkpointModel(t, db, 10)
	db = reopen(t, db, path, smallOpts(DAXEmulated))
	left := filepath.Join(filepath.Dir(path), ".pool.index-123456")
	if err := os.WriteFile(left, []byte("DAXKVIX\x00 half a checkpoint"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Files that only look like it are not the store's to remove.
	notOurs := []string{
		filepath.Join(filepath.Dir(path), ".pool.index-77"), // not a checkpoint's bytes
		filepath.Join(filepath.Dir(path), ".pool.index-7x"), // not a temporary name
	}
	os.WriteFile(notOurs[0], []byte("a file of the user's"), 0o600)
	os.WriteFile(notOurs[1], []byte("DAXKVIX\x00"), 0o600)
	db = reopen(t, db, path, smallOpts(DAXEmulated))
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the leftover temporary file is still there: %v", err)
	}
	for _, f := range notOurs {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("a file that is not a leftover was removed: %v", err)
		}
	}
	if _, err := os.Stat(CheckpointPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the checkpoint is still there while the pool is open: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(CheckpointPath(path)); err != nil {
		t.Errorf("Close wrote no checkpoint: %v", err)
	}
}

// TestMoveCheckpoint: a renamed pool takes its checkpoint along, but never
// over a file of another kind at the new name.
func TestMoveCheckpoint(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	db := openTest(t, a, smallOpts(DAXEmulated))
	model := checkpointModel(t, db, 50)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(a, b); err != nil {
		t.Fatal(err)
	}
	MoveCheckpoint(a, b)
	db = openTest(t, b, smallOpts(DAXEmulated))
	if !db.Stats().FromCheckpoint {
		t.Errorf("the moved checkpoint was not used: %s", db.Stats().CheckpointNote)
	}
	sameAsModel(t, db, model)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(CheckpointPath(c), []byte("the user's own file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(b, c); err != nil {
		t.Fatal(err)
	}
	MoveCheckpoint(b, c)
	if got, _ := os.ReadFile(CheckpointPath(c)); string(got) != "the user's own file" {
		t.Errorf("MoveCheckpoint replaced a file that is not a checkpoint: %q", got)
	}
	if _, err := os.Stat(CheckpointPath(b)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the checkpoint that could not move was left behind: %v", err)
	}
}
