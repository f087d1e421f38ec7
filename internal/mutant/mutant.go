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
	BatchNoRecordFlush  Name = "batch-no-record-flush"
	BatchCommitShort    Name = "batch-commit-short"
	BatchNoCommitFence  Name = "batch-no-commit-fence"
	BatchNoSettleFence  Name = "batch-no-settle-fence"
	BatchTombstoneEarly Name = "batch-tombstone-early"
	GrowUnsynced        Name = "grow-unsynced"
	SuperblockNoFence   Name = "superblock-no-fence"
	SwitchNoDrain       Name = "switch-no-drain"

	RecoverLowerWins         Name = "recover-lower-wins"
	RecoverNoReplay          Name = "recover-no-replay"
	RecoverReplayUncommitted Name = "recover-replay-uncommitted"
	RecoverNoCountCheck      Name = "recover-no-count-check"
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
	// First names the crash workload the gate runs first for this mutant
	// (the one written to catch it), or "" for the gate's own order.
	First string
}

// All lists every mutant, in the order the gate runs them.
var All = []Mutant{
	{Name: PutNoFlush, Site: "Put: the new record is written but not flushed"},
	{Name: PutNoFence, Site: "Put: no fence before the Put is acknowledged"},
	{Name: RunValueNoFlush, Site: "Put: a run's value (longer than half a chunk) is copied with plain stores and never flushed; only its header is", First: "runs"},
	{Name: PutFreeEarly, Site: "Put: the old version is freed before the new record's fence (store reordered)"},
	{Name: FreeNoFlush, Site: "Put: the superseded version's free is stored but never flushed"},
	{Name: DeleteNoPrefence, Site: "Delete: no fence for the older versions' frees before the delete's own free"},
	{Name: DeleteNoFlush, Site: "Delete: the state word is zeroed but not flushed"},
	{Name: DeleteNoFence, Site: "Delete: no fence before the Delete is acknowledged"},
	{Name: BatchNoRecordFlush, Site: "Apply: the pending records are written but not flushed (the commit fence does not cover them)"},
	{Name: BatchCommitShort, Site: "Apply: the commit entry counts one record fewer than the batch wrote"},
	{Name: BatchNoCommitFence, Site: "Apply: no fence after the commit entry"},
	{Name: BatchNoSettleFence, Site: "Apply: no fence after settling, before the log slot is cleared"},
	{Name: BatchTombstoneEarly, Site: "Apply: tombstones freed with the old versions, in the same fence (store reordered)"},
	{Name: GrowUnsynced, Site: "growth: the new file size is not made durable before the chunk is used"},
	{Name: SuperblockNoFence, Site: "superblock update: no fence before SetPreferredMode is acknowledged"},
	{Name: SwitchNoDrain, Site: "SwitchMode: the old path is not drained before the new one takes over"},
	{Name: RecoverLowerWins, Site: "recovery: the lower sequence number of a key wins"},
	{Name: RecoverNoReplay, Site: "recovery: a committed batch is not replayed (its pending records do not count)"},
	{Name: RecoverReplayUncommitted, Site: "recovery: an uncommitted batch is replayed (its pending records count)"},
	{Name: RecoverNoCountCheck, Site: "recovery: a valid log slot commits its batch without every one of its records found"},
	{Name: RecoverFloorNotRaised, Site: "recovery: the sequence floor is not raised past the records and log slots seen"},
	{Name: RecoverLeftPending, Site: "recovery: a replayed record wins but is left pending on the media"},
	{Name: RecoverOverlapKept, Site: "recovery: two records whose extents overlap are both kept"},
	{Name: RecoverClearLogEarly, Site: "recovery: the batch log is cleared in the same fence as the replay"},
	{Name: SnapshotNoHold, Site: "snapshots: a held snapshot does not keep the epoch back, so the extents it reaches are reused", First: "held"},
	{Name: CompactPunchEarly, Site: "Compact: a chunk is punched once its records are moved, before the readers that reach its old records are gone", First: "compacted"},
}
