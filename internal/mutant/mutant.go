// Package mutant holds the crash suite's mutation gate: test-only switches,
// compiled in only with the build tag "mutants", that each remove one flush,
// remove one fence or reorder one store at a durability-relevant site of
// the write path. The crash suite must fail on every one of them; a mutant
// it does not catch is a hole in the suite.
//
// Without the tag, On is a constant false and every site compiles to the
// unmutated code.
package mutant

// Mutant is one switch: its name and the site it breaks.
type Mutant struct {
	Name string
	Site string
}

// All lists every mutant, in the order the gate runs them.
var All = []Mutant{
	{"put-no-flush", "Put: the new record is written but not flushed"},
	{"put-no-fence", "Put: no fence before the Put is acknowledged"},
	{"put-free-early", "Put: the old version is freed before the new record's fence (store reordered)"},
	{"free-no-flush", "Put: the superseded version's free is stored but never flushed"},
	{"delete-no-prefence", "Delete: no fence for the older versions' frees before the delete's own free"},
	{"delete-no-flush", "Delete: the state word is zeroed but not flushed"},
	{"delete-no-fence", "Delete: no fence before the Delete is acknowledged"},
	{"batch-no-record-fence", "Apply: no fence between the pending records and the commit entry"},
	{"batch-commit-first", "Apply: the commit entry is written before the records (store reordered)"},
	{"batch-no-commit-fence", "Apply: no fence after the commit entry"},
	{"batch-no-settle-fence", "Apply: no fence after settling, before the log slot is cleared"},
	{"batch-tombstone-early", "Apply: tombstones freed with the old versions, in the same fence (store reordered)"},
	{"grow-unsynced", "growth: the new file size is not made durable before the chunk is used"},
	{"superblock-no-fence", "superblock update: no fence before SetPreferredMode is acknowledged"},
	{"switch-no-drain", "SwitchMode: the old path is not drained before the new one takes over"},
}
