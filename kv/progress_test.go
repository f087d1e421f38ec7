package kv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// progressLog records Options.Progress calls and checks that they are one
// at a time and, per operation (ID), that Done only grows and Total stays
// put. The torture test uses it too.
type progressLog struct {
	t     *testing.T
	mu    sync.Mutex
	last  map[string]Progress // each op's last report
	byID  map[opID]Progress   // each operation's last report
	calls map[string]int
}

// opID names an operation: IDs are per DB (or Repair), and a log may
// hear from several.
type opID struct {
	op string
	id uint64
}

func newProgressLog(t *testing.T) *progressLog {
	return &progressLog{t: t, last: map[string]Progress{}, byID: map[opID]Progress{}, calls: map[string]int{}}
}

func (l *progressLog) report(p Progress) {
	if !l.mu.TryLock() {
		l.t.Errorf("%s: two Progress calls at once", p.Op)
		l.mu.Lock()
	}
	defer l.mu.Unlock()
	if prev, ok := l.byID[opID{p.Op, p.ID}]; ok {
		if p.Done < prev.Done || p.Total != prev.Total || p.Unit != prev.Unit {
			l.t.Errorf("%s: %+v after %+v", p.Op, p, prev)
		}
	}
	if p.Done < 0 || p.Done > p.Total {
		l.t.Errorf("%s: done %d of %d", p.Op, p.Done, p.Total)
	}
	time.Sleep(50 * time.Microsecond) // let a second caller overlap, if one can
	l.byID[opID{p.Op, p.ID}] = p
	l.last[p.Op] = p
	l.calls[p.Op]++
}

// final returns op's last report, failing the test when it was never
// reported or did not end at its total.
func (l *progressLog) final(op string) Progress {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.last[op]
	if !ok {
		l.t.Fatalf("no %q progress reported (got %v)", op, l.calls)
	}
	if p.Done != p.Total {
		l.t.Errorf("%s ended at %d of %d", op, p.Done, p.Total)
	}
	return p
}

func TestProgress(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pool")
	opts := smallOpts(DAXOff)
	opts.RecoveryWorkers = 2
	db := openTest(t, path, opts)
	const keys = 2500
	val := make([]byte, 300)
	for i := range keys {
		if err := db.Put(fmt.Appendf(nil, "key-%05d", i), val); err != nil {
			t.Fatal(err)
		}
	}
	chunks := db.Stats().PoolSize / opts.ChunkSize
	log := newProgressLog(t)
	o := *opts
	o.Progress = log.report
	// A reopen from the index checkpoint verifies the keys; without it,
	// the open scans the chunks.
	db = reopen(t, db, path, &o)
	if p := log.final("recover"); p.Unit != "keys" || p.Total != keys || !db.Stats().FromCheckpoint {
		t.Errorf("recover from the checkpoint: %+v, want %d keys", p, keys)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(CheckpointPath(path)); err != nil {
		t.Fatal(err)
	}
	log = newProgressLog(t)
	o.Progress = log.report
	db = openTest(t, path, &o)
	if p := log.final("recover"); p.Unit != "chunks" || p.Total != chunks {
		t.Errorf("recover: %+v, want %d chunks", p, chunks)
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
	if p := log.final("check"); p.Total != chunks || p.Unit != "chunks" {
		t.Errorf("check: %+v, want %d chunks", p, chunks)
	}
	if _, err := db.Backup(io.Discard); err != nil {
		t.Fatal(err)
	}
	if p := log.final("backup"); p.Total != keys || p.Unit != "keys" {
		t.Errorf("backup: %+v, want %d keys", p, keys)
	}
	if log.calls["backup"] < keys/backupBatch {
		t.Errorf("backup reported %d times for %d keys", log.calls["backup"], keys)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Repair(path, filepath.Join(t.TempDir(), "new"), &o)
	if err != nil {
		t.Fatal(err)
	}
	if p := log.final("repair: scan"); p.Total != chunks {
		t.Errorf("repair scan: %+v, want %d chunks", p, chunks)
	}
	if p := log.final("repair: write"); p.Total != int64(rep.Keys) || p.Unit != "keys" {
		t.Errorf("repair write: %+v, want %d keys", p, rep.Keys)
	}
	o.Progress = nil // the cleanup's check opens the pool with o
}

func TestLockWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pool")
	db := openTest(t, path, smallOpts(DAXOff))
	if _, err := Open(path, smallOpts(DAXOff)); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		db.Close()
	}()
	o := smallOpts(DAXOff)
	o.LockWait = 10 * time.Second
	db2, err := Open(path, o)
	if err != nil {
		t.Fatalf("open waiting for the holder: %v", err)
	}
	db2.Close()
	o.LockWait = -time.Second
	if _, err := Open(path, o); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("negative LockWait: %v, want ErrInvalidOptions", err)
	}
}
