// Package kv is daxkv's public API: an embedded, persistent key-value store
// kept in one pool file mapped into memory.
//
// On a DAX filesystem over persistent memory the pool is mapped with
// MAP_SYNC and every write is made durable with CPU cache-line flushes and
// one fence, with no system call. Elsewhere the page cache is used and writes
// are made durable with msync. See DAXMode for the four modes and what each
// guarantees.
//
// Promises:
//
//   - Every Put, Delete and Apply that returns nil is durable, in every mode
//     (DAXEmulated: against process crashes only). A crash at any instant
//     loses nothing acknowledged, and an Apply is all or nothing.
//   - Get and View take no lock and write no memory another reader writes
//     (they pin an epoch in one of 32 padded slots and read the hash index
//     under its shards' sequence locks). Scan takes the ordered index's
//     read lock per batch of keys. The slices View and Scan hand out point
//     into the mapping and are valid only inside the callback.
//   - NewSnapshot and NewIterator see one instant: every write acknowledged
//     before them and none after, however long they are held. A held
//     snapshot or iterator keeps the extents it can reach out of reuse
//     (Stats.Limbo, Stats.OldestPinAge): close it. The DB's Close closes
//     them.
//   - Compact (and the background compaction, Options.CompactTrigger)
//     moves records out of sparse chunks and punches emptied chunks out of
//     the file, beside readers and writers: a chunk goes only once no
//     reader, snapshot or iterator can reach a byte of it. A move is a Put
//     of the record's own value: a crash during compaction changes no key.
//   - A pool file is untrusted input: a corrupt, truncated or garbled pool
//     yields an error wrapping ErrCorrupt (with the offset) or the intact
//     data, never a panic and never a wrong value.
//   - A second Open of a pool already open, in this process or another,
//     fails with ErrLocked, at once or after waiting Options.LockWait for
//     the pool to be closed.
//   - Long operations (Open's recovery scan, Check, Backup, Repair) report
//     how far they have come through Options.Progress.
//
// Keys are 1 to MaxKeySize bytes, ordered by bytes.Compare. Values are up
// to Stats.MaxValueSize bytes: 1 GiB. A value longer than half a chunk
// (Options.ChunkSize) is stored in a run of whole chunks of its own.
//
// Internally: records live in extents handed out by package alloc, reached
// through package daxmap's mapping; package recovery owns the format
// (FORMAT.md at the repository root), the scan that rebuilds the index
// after a crash, and the index checkpoint a clean Close leaves beside the
// pool (CheckpointPath), which the next Open verifies instead of scanning.
package kv
