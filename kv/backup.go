package kv

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
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
// The copy is built as a new pool in a temporary file in os.TempDir(), as
// large as the live data plus the unused end of its last chunk, then
// streamed to w and removed.
func (db *DB) Backup(w io.Writer) (n int64, err error) {
	s := db.NewSnapshot()
	defer s.Close()
	if s.err != nil {
		return 0, s.err
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
	for ok := it.First(); ok; ok = it.Next() {
		b.Put(it.Key(), it.Value())
		if b.Len() == backupBatch || len(b.data) >= backupBatchBytes {
			if err := out.Apply(b); err != nil {
				return fmt.Errorf("daxkv: backup: %w", err)
			}
			b.Reset()
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("daxkv: backup: read the snapshot: %w", err)
	}
	if err := out.Apply(b); err != nil {
		return fmt.Errorf("daxkv: backup: %w", err)
	}
	if pref != DAXAuto {
		if err := out.SetPreferredMode(pref); err != nil {
			return fmt.Errorf("daxkv: backup: %w", err)
		}
	}
	return nil
}
