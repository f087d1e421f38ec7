package kv

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
)

// Backup copies up to backupBatch keys, or about backupBatchBytes, per
// atomic batch.
const (
	backupBatch      = 1000
	backupBatchBytes = 16 << 20
)

// Backup writes a copy of the DB as of one instant to w and returns the
// bytes written. The bytes are a pool file that Open accepts (written
// clean, with this pool's chunk size and preferred mode), holding every key
// and value of a snapshot taken when Backup starts and nothing else: a
// compact copy, not an image of this pool's file. Writers are not blocked;
// the snapshot holds the extents it reads until Backup returns.
//
// The copy is built as a new pool in a temporary file in os.TempDir(),
// about as large as the live data (a pool grows a quarter at a time), then
// streamed to w and removed. A pool with damaged keys (Stats.DamagedKeys)
// is refused with an error wrapping ErrCorrupt: a copy would lose them
// silently; Repair salvages the rest. A Close of the DB while Backup runs
// ends it with ErrClosed.
func (db *DB) Backup(w io.Writer) (n int64, err error) {
	s := db.NewSnapshot()
	defer s.Close()
	if s.err != nil {
		return 0, s.err
	}
	if len(s.damaged) > 0 {
		// The snapshot cannot read them: a copy without them would lose
		// them silently.
		var first int64 = -1
		for _, off := range s.damaged {
			if first < 0 || off < first {
				first = off
			}
		}
		return 0, fmt.Errorf("daxkv: backup: %w: %d keys have their newest record on a bad block (the first at offset %d); Repair salvages the rest",
			ErrCorrupt, len(s.damaged), first)
	}
	dir, err := os.MkdirTemp("", "daxkv-backup-")
	if err != nil {
		return 0, fmt.Errorf("daxkv: backup: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "pool")
	if err := db.backupTo(s, path); err != nil {
		return 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("daxkv: backup: %w", err)
	}
	defer f.Close()
	if n, err = io.Copy(w, f); err != nil {
		return n, fmt.Errorf("daxkv: backup: write the copy: %w", err)
	}
	return n, nil
}

// copyPinned adds the iterator's key and value to b under a pin: they lie
// in the mapping, which a concurrent Close of the DB unmaps once no pin is
// held (an iterator's slices are only guarded while it moves).
func (db *DB) copyPinned(b *Batch, it *Iterator) (err error) {
	tok, err := db.enter()
	if err != nil {
		return err
	}
	defer db.ep.unpin(tok)
	defer db.m.Guard(debug.SetPanicOnFault(true), &err)
	k, v := it.Key(), it.Value()
	if k == nil {
		return ErrClosed // the DB closed between the move and the pin
	}
	b.Put(k, v)
	return nil
}

// backupTo writes the snapshot s as a new pool at path, closed cleanly.
func (db *DB) backupTo(s *Snapshot, path string) (err error) {
	db.sbMu.Lock()
	pref, _ := modeOf(db.sb.Preferred)
	db.sbMu.Unlock()
	chunk := db.m.ChunkSize()
	out, err := Open(path, &Options{Size: chunk, ChunkSize: chunk, DAX: DAXOff})
	if err != nil {
		return fmt.Errorf("daxkv: backup: %w", err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("daxkv: backup: %w", cerr)
		}
	}()
	it, err := s.NewIterator(nil)
	if err != nil {
		return err
	}
	defer it.Close()
	b := out.NewBatch()
	report := db.progress.reporter("backup", "keys")
	total, done := s.tree.Len(), 0
	apply := func() error {
		if err := out.Apply(b); err != nil {
			return fmt.Errorf("daxkv: backup: %w", err)
		}
		if done += b.Len(); report != nil {
			report(done, total)
		}
		b.Reset()
		return nil
	}
	for ok := it.First(); ok; ok = it.Next() {
		if err := db.copyPinned(b, it); err != nil {
			return err
		}
		if b.Len() == backupBatch || len(b.data) >= backupBatchBytes {
			if err := apply(); err != nil {
				return err
			}
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("daxkv: backup: read the snapshot: %w", err)
	}
	if err := apply(); err != nil {
		return err
	}
	if pref != DAXAuto {
		if err := out.SetPreferredMode(pref); err != nil {
			return fmt.Errorf("daxkv: backup: %w", err)
		}
	}
	return nil
}
