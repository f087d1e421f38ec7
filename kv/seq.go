package kv

import "github.com/daxkv/daxkv/internal/seam"

// Sequence numbers are never reused, not even across crashes: the recovery
// rule (the highest sequence number of a key wins) must never compare a new
// record with a stale one that carries the same or a higher number. The
// superblock's floor is therefore a lease: before a number is handed out,
// the floor is durably above it. Open makes the floor durable at the first
// number it may hand out plus seqLease; when the numbers reach it, the
// writer that gets the first number at or past it writes the next lease
// (one superblock update, one fence, every seqLease writes) before it uses
// its number. After a crash the floor is above every number ever handed
// out, whether or not a record carrying it survived; the next Open starts
// there. A clean Close writes the tight floor.
const seqLease = 1 << 20

// lease is the lease size in force: seqLease, or a test's (seam.Hooks); 0
// for a test's legacy floor, which is never extended.
func (db *DB) lease() uint64 {
	switch {
	case db.hooks == nil:
	case db.hooks.LegacyFloor:
		return 0
	case db.hooks.SeqLease > 0:
		return db.hooks.SeqLease
	}
	return seqLease
}

// nextSeq hands out the next sequence number, first extending the lease if
// the number reaches it. Called with the writer's stripes held.
func (db *DB) nextSeq() (uint64, error) {
	seq := db.seq.Add(1)
	if seq < db.leaseEnd.Load() || db.lease() == 0 {
		return seq, nil
	}
	db.sbMu.Lock()
	defer db.sbMu.Unlock()
	if err := db.failedErr(); err != nil {
		return 0, err // the lease may not be durable
	}
	if seq < db.leaseEnd.Load() {
		return seq, nil // another writer extended it meanwhile
	}
	db.at(seam.SeqLease)
	db.sb.SeqFloor = seq + db.lease()
	if err := db.sb.Write(db.m.Bytes(), db.p); err != nil {
		return 0, db.fail(err)
	}
	db.leaseEnd.Store(db.sb.SeqFloor)
	return seq, nil
}
