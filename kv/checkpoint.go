package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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
	switch {
	case !sb.Clean():
		return nil, nil // a crash: Stats.Recovered says so
	case db.ckpt == "":
		db.recovery.indexNote = "no checkpoint on device DAX, or for a pool whose path cannot be made absolute"
		return nil, nil
	case sb.Index == 0:
		db.recovery.indexNote = "the last Close left no checkpoint (a release without them, bad media, or the checkpoint could not be written)"
		return nil, nil
	}
	buf, err := readCheckpoint(db.ckpt, sb.Index, recovery.MaxCheckpointSize(db.m.Size()))
	if err == nil {
		var list []recovery.Listed
		if list, err = recovery.DecodeCheckpoint(buf, sb); err == nil {
			var res *recovery.Result
			res, err = recovery.RecoverIndexed(mem, db.m.Size(), sb, p, list, db.scan("recover"),
				db.progress.reporter("recover", "keys"))
			if err == nil {
				if db.idx, err = buildIndex(mem, db.m.Bytes, list, db.opts.RecoveryWorkers); err == nil {
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

// checkpointFile returns the absolute checkpoint path of the pool at path
// (a Close after a change of directory still finds it), or "" for device
// DAX, which has no directory of its own to hold one.
func checkpointFile(path string, deviceDAX bool) string {
	abs, err := filepath.Abs(path)
	if err != nil || deviceDAX {
		return ""
	}
	return CheckpointPath(abs)
}

// readCheckpoint reads the checkpoint file at path, refusing a link, a
// file that is not regular, one larger than max bytes, and (before reading
// the rest) one whose check is not sum.
func readCheckpoint(path string, sum uint64, max int64) ([]byte, error) {
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
	case fi.Size() > max || fi.Size() < 8:
		return nil, fmt.Errorf("checkpoint %s is %d bytes, more than the pool can list or too short", path, fi.Size())
	}
	var tail [8]byte
	if _, err := f.ReadAt(tail[:], fi.Size()-8); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if got := binary.LittleEndian.Uint64(tail[:]); got != sum {
		return nil, fmt.Errorf("%w: checkpoint %#x, the superblock names %#x", recovery.ErrStaleCheckpoint, got, sum)
	}
	buf := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return buf, nil
}

// isCheckpoint reports whether path names a regular file that begins like
// a checkpoint (or, with short, one too short to tell: a temporary file a
// Close died writing), not following a link. Only such files are removed
// or replaced: the name may belong to a file of the user's.
func isCheckpoint(path string, short bool) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return false
	}
	var head [8]byte
	n, _ := io.ReadFull(f, head[:])
	return n == len(head) && recovery.IsCheckpoint(head[:]) || short && n < len(head)
}

// removeCheckpoint removes the checkpoint at ckpt (if it is one), and the
// temporary files of a Close that died while writing one.
func removeCheckpoint(ckpt string) {
	if ckpt == "" {
		return
	}
	if isCheckpoint(ckpt, false) {
		os.Remove(ckpt)
	}
	dir, prefix := filepath.Dir(ckpt), tempPrefix(ckpt)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if ok && rest != "" && strings.Trim(rest, "0123456789") == "" && isCheckpoint(filepath.Join(dir, e.Name()), true) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// tempPrefix is the name prefix of the temporary files writeCheckpoint
// makes beside ckpt; os.CreateTemp adds digits.
func tempPrefix(ckpt string) string { return "." + filepath.Base(ckpt) + "-" }

// MoveCheckpoint moves the index checkpoint of the pool at from, if it has
// one, to the pool's new name to, for a tool that renames a pool file (the
// next Open of to is then as fast). A file at to's checkpoint name that is
// not a checkpoint is left alone, and from's checkpoint removed instead:
// the next Open scans.
func MoveCheckpoint(from, to string) {
	src, dst := CheckpointPath(from), CheckpointPath(to)
	if !isCheckpoint(src, false) {
		return
	}
	if _, err := os.Lstat(dst); err == nil && !isCheckpoint(dst, false) || os.Rename(src, dst) != nil {
		os.Remove(src)
	}
}

// writeCheckpoint writes the checkpoint of every key in the index (Close
// holds every stripe: nothing changes meanwhile) beside the pool and
// returns its check: to a new file in the pool's directory, synced, then
// renamed over the old one, and the directory synced. A file of another
// kind at the checkpoint's name is never replaced.
func (db *DB) writeCheckpoint() (uint64, error) {
	path := db.ckpt
	if _, err := os.Lstat(path); err == nil && !isCheckpoint(path, false) {
		return 0, fmt.Errorf("%s is not a checkpoint: not replacing it", path)
	}
	tree := db.idx.clone()
	list := make([]recovery.Listed, 0, tree.Len())
	tree.Ascend(func(it item) bool {
		list = append(list, recovery.Listed{Ref: it.ref, P0: it.p0, P1: it.p1})
		return true
	})
	buf, sum := recovery.EncodeCheckpoint(db.sb.UUID, list)
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPrefix(path)+"*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	err = f.Chmod(db.opts.Perm &^ umask()) // as the pool's own mode
	if err == nil {
		_, err = f.Write(buf)
	}
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

// umask is the process's file mode creation mask, as the kernel reports it
// (0077, the strictest, where it does not).
func umask() os.FileMode {
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok {
				if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return os.FileMode(m)
				}
			}
		}
	}
	return 0o077
}
