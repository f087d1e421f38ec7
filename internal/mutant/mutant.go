// Package mutant holds the crash suite's mutation gate: test-only switches,
// compiled in only with the build tag "mutants", that each remove one flush,
// remove one fence or reorder one store at a durability-relevant site of
// the write path, or make one decision of the recovery rule wrong. The crash suite must fail on every one of them; a mutant
// it does not catch is a hole in the suite.
//
// The write path carries no branch for them: it passes named points
// (package internal/seam), and package kv carries the active mutant out at
// those points. The recovery rule's decisions are small functions of
// package recovery (mutants.go there), each with its mutant inside. Without the tag, Enabled and On are constant false and all
// of it compiles away.
package mutant

// Name names a mutant.
type Name string

// The mutants, by the site each breaks.
const (
	PutNoFlush          Name = "put-no-flush"
	RunValueNoFlush     Name = "run-value-no-flush"
	PutNoFence          Name = "put-no-fence"
	PutFreeEarly        Name = "put-free-early"
	FreeNoFlush         Name = "free-no-flush"
	DeleteNoPrefence    Name = "delete-no-prefence"
	DeleteNoFlush       Name = "delete-no-flush"
	DeleteNoFence       Name = "delete-no-fence"
	BatchNoRecordFence  Name = "batch-no-record-fence"
	BatchCommitFirst    Name = "batch-commit-first"
	BatchNoCommitFence  Name = "batch-no-commit-fence"
	BatchNoSettleFence  Name = "batch-no-settle-fence"
	BatchTombstoneEarly Name = "batch-tombstone-early"
	GrowUnsynced        Name = "grow-unsynced"
	SuperblockNoFence   Name = "superblock-no-fence"
	SwitchNoDrain       Name = "switch-no-drain"

	RecoverLowerWins         Name = "recover-lower-wins"
	RecoverNoReplay          Name = "recover-no-replay"
	RecoverReplayUncommitted Name = "recover-replay-uncommitted"
	RecoverFloorNotRaised    Name = "recover-floor-not-raised"
	RecoverLeftPending       Name = "recover-left-pending"
	RecoverOverlapKept       Name = "recover-overlap-kept"
	RecoverClearLogEarly     Name = "recover-clear-log-early"

	SnapshotNoHold Name = "snapshot-no-hold"

	CompactPunchEarly Name = "compact-punch-early"
)

// Mutant is one switch: its name and the site it breaks.
type Mutant struct {
	Name Name
	Site string
}

// All lists every mutant, in the order the gate runs them.
var All = []Mutant{
	{PutNoFlush, "Put: the new record is written but not flushed"},
	{PutNoFence, "Put: no fence before the Put is acknowledged"},
	{RunValueNoFlush, "Put: a run's value (longer than half a chunk) is copied with plain stores and never flushed; only its header is"},
	{PutFreeEarly, "Put: the old version is freed before the new record's fence (store reordered)"},
	{FreeNoFlush, "Put: the superseded version's free is stored but never flushed"},
	{DeleteNoPrefence, "Delete: no fence for the older versions' frees before the delete's own free"},
	{DeleteNoFlush, "Delete: the state word is zeroed but not flushed"},
	{DeleteNoFence, "Delete: no fence before the Delete is acknowledged"},
	{BatchNoRecordFence, "Apply: no fence between the pending records and the commit entry"},
	{BatchCommitFirst, "Apply: the commit entry is written before the records (store reordered)"},
	{BatchNoCommitFence, "Apply: no fence after the commit entry"},
	{BatchNoSettleFence, "Apply: no fence after settling, before the log slot is cleared"},
	{BatchTombstoneEarly, "Apply: tombstones freed with the old versions, in the same fence (store reordered)"},
	{GrowUnsynced, "growth: the new file size is not made durable before the chunk is used"},
	{SuperblockNoFence, "superblock update: no fence before SetPreferredMode is acknowledged"},
	{SwitchNoDrain, "SwitchMode: the old path is not drained before the new one takes over"},
	{RecoverLowerWins, "recovery: the lower sequence number of a key wins"},
	{RecoverNoReplay, "recovery: a committed batch is not replayed (its pending records do not count)"},
	{RecoverReplayUncommitted, "recovery: an uncommitted batch is replayed (its pending records count)"},
	{RecoverFloorNotRaised, "recovery: the sequence floor is not raised past the records and log slots seen"},
	{RecoverLeftPending, "recovery: a replayed record wins but is left pending on the media"},
	{RecoverOverlapKept, "recovery: two records whose extents overlap are both kept"},
	{RecoverClearLogEarly, "recovery: the batch log is cleared in the same fence as the replay"},
	{SnapshotNoHold, "snapshots: a held snapshot does not keep the epoch back, so the extents it reaches are reused"},
	{CompactPunchEarly, "Compact: a chunk is punched once its records are moved, before the readers that reach its old records are gone"},
}
