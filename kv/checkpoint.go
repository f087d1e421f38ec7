package kv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/recovery"
)

// The index checkpoint (FORMAT.md, "Index checkpoint") lets Open after a
// clean Close skip the scan of the whole pool: Close lists every live
// record in key order in a file beside the pool and names the file's check
// in the clean superblock; Open verifies the listed records and builds the
// index from them. The file is a cache: Open scans whenever it is missing,
// damaged, or not exactly the one the superblock names.

// CheckpointPath is the file beside the pool at path in which a clean Close
// keeps the index checkpoint (FORMAT.md): path + ".index". It belongs with
// the pool: a tool that moves or copies a pool file may move it along (the
// next Open is then as fast) or leave it (the next Open scans); a
// checkpoint left beside another pool is never used for it.
func CheckpointPath(path string) string { return path + ".index" }

// recoverIndexed recovers a cleanly closed pool from its checkpoint. It
// returns a nil Result (and no error) when there is no usable checkpoint,
// with the reason in db.recovery.indexNote, for the caller to scan.
func (db *DB) recoverIndexed(mem []byte, sb *recovery.Superblock, p flush.Persister) (*recovery.Result, error) {
	if !sb.Clean() || sb.Index == 0 || db.m.DeviceDAX() {
		return nil, nil
	}
	buf, err := readCheckpoint(CheckpointPath(db.path), recovery.MaxCheckpointSize(db.m.Size()))
	if err == nil {
		var list []recovery.Listed
		if list, err = recovery.DecodeCheckpoint(buf, sb); err == nil {
			var res *recovery.Result
			res, err = recovery.RecoverIndexed(mem, db.m.Size(), sb, p, list, db.scan("recover"),
				db.progress.reporter("recover", "keys"))
			if err == nil {
				err = recovery.Guard(mem, func() error {
					db.idx = buildIndex(mem, db.m.Bytes, list, db.opts.RecoveryWorkers)
					return nil
				})
				if err == nil {
					return res, nil
				}
			}
			if !errors.Is(err, recovery.ErrStaleCheckpoint) {
				return nil, err // a fault: the scan would meet it too
			}
		}
	}
	db.recovery.indexNote = err.Error()
	return nil, nil
}

// readCheckpoint reads the checkpoint file at path, refusing a link, a
// file that is not regular, and one larger than max bytes.
func readCheckpoint(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("checkpoint %s is not a file", path)
	case fi.Size() > max:
		return nil, fmt.Errorf("checkpoint %s is %d bytes, more than the pool can list", path, fi.Size())
	}
	buf := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return buf, nil
}

// removeCheckpoint removes the checkpoint of the pool at path, and what a
// Close that died while writing one left (its temporary files).
func removeCheckpoint(path string) {
	os.Remove(CheckpointPath(path))
	if left, err := filepath.Glob(checkpointTemp(path)); err == nil {
		for _, f := range left {
			os.Remove(f)
		}
	}
}

// checkpointTemp is the pattern of the temporary files writeCheckpoint
// makes beside the pool at path (os.CreateTemp's, and a Glob's).
func checkpointTemp(path string) string {
	cp := CheckpointPath(path)
	return filepath.Join(filepath.Dir(cp), "."+filepath.Base(cp)+"-*")
}

// writeCheckpoint writes the checkpoint of every key in the index (Close
// holds every stripe: nothing changes meanwhile) beside the pool and
// returns its check: to a new file in the pool's directory, synced, then
// renamed over the old one, and the directory synced.
func (db *DB) writeCheckpoint() (uint64, error) {
	tree := db.idx.clone()
	list := make([]recovery.Listed, 0, tree.Len())
	tree.Ascend(func(it item) bool {
		list = append(list, recovery.Listed{Ref: it.ref, P0: it.p0, P1: it.p1})
		return true
	})
	buf, sum := recovery.EncodeCheckpoint(db.sb.UUID, list)
	path := CheckpointPath(db.path)
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(checkpointTemp(db.path)))
	if err != nil {
		return 0, err
	}
	tmp := f.Name() // mode 0600: offsets only, but of the owner's pool
	_, err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return 0, err
		}
	}
	return sum, nil
}
