package kv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/recovery"
)

// RepairReport is what Repair saved and lost.
type RepairReport struct {
	Keys  int   // keys written to the new pool
	Bytes int64 // their keys' and values' bytes
	// Bad lists the damaged pool's byte ranges that could not be read:
	// blocks the kernel lists as bad, and pages that faulted when read. A
	// key written only there is lost without a name.
	Bad []daxmap.Range
	// Damaged lists the keys whose newest record lies on a bad range: not
	// saved (an older version, if any, is not saved in its place either).
	Damaged [][]byte
}

// Repair salvages every record it can read from the damaged pool at src
// into a new pool at dst, which must not exist, and reports what it saved
// and lost; src is opened read-only and never written. Where Open stops at
// the first unreadable block, Repair reads around it. opts is for the new
// pool (its chunk size defaults to the damaged pool's).
func Repair(src, dst string, opts *Options) (*RepairReport, error) {
	if _, err := os.Lstat(dst); err == nil {
		return nil, fmt.Errorf("daxkv: repair into %s: %w", dst, fs.ErrExist)
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, fmt.Errorf("daxkv: repair %s: %w", src, err)
	}
	sb, err := recovery.PeekSuperblock(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("daxkv: repair %s: %w", src, err)
	}
	o := opts.ensureDefaults()
	if opts == nil || opts.ChunkSize == 0 {
		o.ChunkSize = sb.ChunkSize
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	m, err := daxmap.Open(src, daxmap.Options{ChunkSize: sb.ChunkSize, ReadOnly: true, Sync: daxmap.SyncNever,
		FaultAlso: ErrCorrupt, LockWait: o.LockWait})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	media := m.Media()
	if h := o.hooks; h != nil {
		if h.Media != nil {
			h.Media(&media)
		}
		for _, off := range h.Poison {
			if err := m.Poison(off); err != nil {
				return nil, err
			}
		}
	}
	progress := &progressGate{fn: o.Progress}
	// The new pool is an ordinary one, created here: nothing to wait for.
	o.hooks, o.Progress, o.LockWait = nil, nil, 0
	out, err := Open(dst, &o)
	if err != nil {
		// dst did not exist before: what the failed Open left is ours.
		return nil, errors.Join(err, removeIfPresent(dst))
	}
	b := out.NewBatch()
	flush := func() error {
		err := out.Apply(b)
		b.Reset()
		return err
	}
	// The file's holes are passed over, not read: a read of a hole on
	// tmpfs allocates a page of the damaged pool's file, and on a full one
	// faults, which the salvage took for a bad block.
	holes, _ := m.Holes()
	res, err := recovery.Salvage(m.Bytes(), m.Size(), &sb, recovery.Scan{Workers: o.RecoveryWorkers, Bad: media.Bad, Holes: holes,
		WillNeed: m.WillNeed, Progress: progress.reporter("repair: scan", "chunks"), Saving: progress.reporter("repair: write", "keys")}, func(k, v []byte) error {
		b.Put(k, v)
		if b.Len() < backupBatch && len(b.data) < backupBatchBytes {
			return nil // bounded like Backup's batches: values go up to 1 GiB
		}
		return flush()
	})
	if err == nil {
		err = flush()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		removeCheckpoint(checkpointFile(dst, false))
		return nil, errors.Join(fmt.Errorf("daxkv: repair %s into %s: %w", src, dst, err), os.Remove(dst))
	}
	return &RepairReport{Keys: res.Keys, Bytes: res.Bytes, Bad: res.Bad, Damaged: res.Damaged}, nil
}

// removeIfPresent removes path; that it is already gone is no error.
func removeIfPresent(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
