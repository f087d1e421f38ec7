package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"

	"github.com/daxkv/daxkv/kv"
	"github.com/daxkv/daxkv/raftstore"
)

// The raft log comparison: hashicorp/raft's LogStore on daxkv (raftstore)
// against raft-boltdb v2 and raft-wal, the stores raft users pick from.
// Each child appends the set's entries through StoreLogs, durably, in
// calls of one entry (storelogs-1) and then, into a new store, in calls of
// 64 (storelogs-64), timing every call: ops are StoreLogs calls, so ns/op
// is a call's latency and a 64-entry call writes 64 entries.

// raftEntrySize is the payload of every appended entry.
const raftEntrySize = 256

// raftWorkloads are the raft set's workloads and their entries per call.
var raftWorkloads = []struct {
	name  string
	batch int
}{{"storelogs-1", 1}, {"storelogs-64", 64}}

// logStore is what the raft plan drives: every StoreLogs durable when it
// returns.
type logStore interface {
	raft.LogStore
	io.Closer
}

func raftConfigs() []config {
	dax := func(mode kv.DAXMode) func(string) (logStore, error) {
		return func(dir string) (logStore, error) {
			return raftstore.New(filepath.Join(dir, "raft.pool"), &kv.Options{DAX: mode})
		}
	}
	bolt := func(dir string) (logStore, error) { return raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db")) }
	walOpen := func(dir string) (logStore, error) { return wal.Open(dir) }
	return []config{
		{name: "raft-daxkv-emulated-shm", store: "daxkv", raft: true, openLog: dax(kv.DAXEmulated),
			desc: "raftstore (this repository) on daxkv, DAXEmulated on tmpfs: CPU flushes and a fence per StoreLogs, a call of 64 entries one record (a group). Default options."},
		{name: "raft-daxkv-off-shm", store: "daxkv", raft: true, openLog: dax(kv.DAXOff),
			desc: "raftstore on daxkv, DAXOff on tmpfs: msync per fence."},
		{name: "raft-boltdb-shm", store: "raft-boltdb", raft: true, openLog: bolt,
			desc: "raft-boltdb v2.3.0 (bbolt, fdatasync per commit), default options, on tmpfs."},
		{name: "raft-wal-shm", store: "raft-wal", raft: true, openLog: walOpen,
			desc: "raft-wal v0.4.0 (fsync per append), default options, on tmpfs."},
		{name: "raft-daxkv-off-ext4", store: "daxkv", raft: true, disk: true, limited: true, openLog: dax(kv.DAXOff),
			desc: "raftstore on daxkv, DAXOff on the disk filesystem: msync per fence (a device flush); --ops-limit calls per workload."},
		{name: "raft-wal-ext4", store: "raft-wal", raft: true, disk: true, limited: true, openLog: walOpen,
			desc: "raft-wal v0.4.0 on the disk filesystem: fsync per append; --ops-limit calls per workload."},
	}
}

// runRaftChild runs the raft plan for cfg in dir: entries entries per
// workload (calls capped at callLimit when it is not 0), and writes the
// result to out as JSON.
func runRaftChild(cfg config, dir string, entries, callLimit int, out io.Writer) error {
	res := childResult{Config: cfg.name}
	data := make([]byte, raftEntrySize)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, w := range raftWorkloads {
		calls := entries / w.batch
		if callLimit > 0 {
			calls = min(calls, callLimit)
		}
		if calls < 1 {
			return fmt.Errorf("%s: %d entries make no call of %d", w.name, entries, w.batch)
		}
		wdir := filepath.Join(dir, w.name)
		if err := os.MkdirAll(wdir, 0o700); err != nil {
			return err
		}
		s, err := cfg.openLog(wdir)
		if err != nil {
			return fmt.Errorf("%s: open: %w", cfg.name, err)
		}
		logs := make([]*raft.Log, w.batch)
		for j := range logs {
			logs[j] = &raft.Log{Term: 1, Type: raft.LogCommand, Data: data}
		}
		h := newHist()
		next := uint64(1)
		start := time.Now()
		for c := 0; c < calls; c++ {
			for _, l := range logs {
				l.Index = next
				next++
			}
			t0 := time.Now()
			if err := s.StoreLogs(logs); err != nil {
				s.Close()
				return fmt.Errorf("%s: %s call %d: %w", cfg.name, w.name, c, err)
			}
			h.RecordValue(int64(time.Since(t0)))
		}
		elapsed := time.Since(start)
		// The last entry must read back: a store that drops appends fails.
		var got raft.Log
		if err := s.GetLog(next-1, &got); err != nil || len(got.Data) != raftEntrySize {
			s.Close()
			return fmt.Errorf("%s: %s: entry %d does not read back: %v", cfg.name, w.name, next-1, err)
		}
		if err := s.Close(); err != nil {
			return fmt.Errorf("%s: close: %w", cfg.name, err)
		}
		res.Workloads = append(res.Workloads, summarize(w.name, int64(calls), elapsed, h))
		os.RemoveAll(wdir)
	}
	res.MaxRSSBytes = maxRSS()
	return json.NewEncoder(out).Encode(res)
}
