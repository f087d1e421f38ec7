// Package recovery owns every byte daxkv puts on the media: the superblock,
// the record format, the batch log, the scan that rebuilds the index and the
// allocator at open, the replay of committed batches, and Check (fsck).
//
// It works on a byte slice (the pool mapping) and a flush.Persister; it never
// maps files itself, so every decoder here can be fed arbitrary bytes by tests
// and fuzz targets. A pool file is untrusted input: any byte sequence yields a
// recovered state or an error wrapping ErrCorrupt with the offset, never a
// panic, a hang, or an allocation sized by a length read from the media.
//
// # Layout (format version 2; version 1, without runs, is read too)
//
// Each on-media structure is drawn beside its constants, marked "part of
// the format: do not change": the pool and the superblock in superblock.go,
// the record in record.go, the batch log slot in log.go. FORMAT.md at the
// repository root explains them, with the drawings copied from the code
// (a test keeps the copies exact).
//
// # Recovery rule
//
// Among the valid records of one key the highest sequence number wins; a
// winning tombstone means the key is absent. Sequence numbers are never reused,
// even across crashes: Recover computes a floor above the superblock's and
// every sequence number seen (records and log slots); before any new write
// the caller makes a lease past it durable in the superblock, and extends
// the lease before handing out a number that reaches it (FORMAT.md).
package recovery
