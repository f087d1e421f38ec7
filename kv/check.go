package kv

import (
	"fmt"
	"runtime/debug"

	"github.com/daxkv/daxkv/recovery"
)

// Check verifies the pool while it is open: it stops writers, checks every
// record with recovery.Check, and compares the result with the index. It
// returns nil for a clean pool, or an error wrapping ErrCorrupt that lists
// every problem found. Verify returns the whole report.
func (db *DB) Check() error {
	rep, err := db.Verify()
	if err != nil {
		return err
	}
	if len(rep.Problems) > 0 {
		return &CheckError{Problems: rep.Problems}
	}
	return nil
}

// CheckReport is what Verify found.
type CheckReport struct {
	Keys    int   // keys present
	Records int   // valid records on the media
	Bytes   int64 // bytes in their extents
	// Problems lists every inconsistency (Check's error holds them): the
	// pool is damaged.
	Problems []string
	// Unsettled lists, on a read-only DB of a pool a crash left, what the
	// next writable open will settle (older versions, pending records, a
	// committed batch log slot, a torn superblock copy): not problems. A
	// writable open settles them at once, so on a writable DB they would
	// be problems.
	Unsettled []string
}

// Verify is Check with the whole report: it returns an error only when the
// pool cannot be read at all, and lists what it found in the report.
func (db *DB) Verify() (rep *CheckReport, err error) {
	db.locks.lockAll()
	defer db.locks.unlockAll()
	tok, err := db.enter()
	if err != nil {
		return nil, err
	}
	defer db.ep.unpin(tok)
	defer db.m.Guard(debug.SetPanicOnFault(true), &err)
	db.scanMu.RLock()
	r, err := recovery.Check(db.m.Bytes(), db.m.Size(), db.scan("check"))
	db.scanMu.RUnlock()
	if err != nil {
		return nil, err
	}
	rep = &CheckReport{Records: r.Records, Bytes: r.Bytes, Problems: r.Problems, Unsettled: r.Unsettled}
	if !db.readOnly {
		// A writable open settled everything a crash left: anything left
		// now is a problem.
		rep.Problems, rep.Unsettled = append(rep.Problems, r.Unsettled...), nil
	}
	keys, bad := db.checkIndex()
	rep.Keys = keys
	rep.Problems = append(rep.Problems, bad...)
	if keys != r.Keys {
		rep.Problems = append(rep.Problems, fmt.Sprintf("index holds %d keys, the pool %d", keys, r.Keys))
	}
	return rep, nil
}

// CheckError lists what Check found wrong; it wraps ErrCorrupt.
type CheckError struct{ Problems []string }

func (e *CheckError) Error() string {
	s := fmt.Sprintf("daxkv: check found %d problem(s)", len(e.Problems))
	for i, p := range e.Problems {
		if i == 10 {
			s += fmt.Sprintf("; and %d more", len(e.Problems)-10)
			break
		}
		s += "; " + p
	}
	return s
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CheckError) Unwrap() error { return ErrCorrupt }

// checkIndex compares the index with the pool: every B-tree item must point
// at a valid live record of its key length, the key count must match the
// tree, and the hash table may not hold more entries than keys. Every
// writer is stopped (Check holds every stripe).
func (db *DB) checkIndex() (keys int, bad []string) {
	mem, chunk := db.m.Bytes(), db.m.ChunkSize()
	treeKeys, counted, hashed := db.idx.audit(func(it item) bool {
		h, ok := db.codec.Decode(mem, it.off(), (it.off()/chunk+1)*chunk)
		// A read-only open of a pool left by a crash keeps the winning
		// records of committed batches pending on the media.
		live := h.Tag == recovery.TagLive || db.readOnly && h.Tag == recovery.TagPending
		if !ok || !live || h.KeyLen != it.keyLen() {
			bad = append(bad, fmt.Sprintf("offset %d: index entry points at no valid live record", it.off()))
		}
		return len(bad) < 100
	})
	if treeKeys != counted {
		bad = append(bad, fmt.Sprintf("B-tree holds %d keys, the key count says %d", treeKeys, counted))
	}
	if hashed > treeKeys {
		bad = append(bad, fmt.Sprintf("hash index holds %d entries for %d keys", hashed, treeKeys))
	}
	return treeKeys, bad
}
