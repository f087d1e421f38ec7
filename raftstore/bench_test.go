package raftstore

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"

	"github.com/daxkv/daxkv/kv"
)

// logStore is what the benchmark drives: every StoreLogs durable when it
// returns.
type logStore interface {
	raft.LogStore
	io.Closer
}

// BenchmarkStoreLogs appends batches of 1 and of 64 entries of 256 bytes
// through StoreLogs, durably, in one run for every store compared:
// raftstore on daxkv (the emulated mode on tmpfs: CPU flushes and a fence,
// durable against a process crash; and DAXOff, msync), raft-boltdb v2
// (bbolt, fdatasync per commit) and raft-wal (fsync per append), on tmpfs,
// and daxkv DAXOff against raft-wal on the disk filesystem of the
// temporary directory. It reports entries/s and the mean latency of a
// StoreLogs call (ns/op). -bench StoreLogs -benchtime 2000x.
func BenchmarkStoreLogs(b *testing.B) {
	shm := "/dev/shm"
	if fi, err := os.Stat(shm); err != nil || !fi.IsDir() {
		shm = os.TempDir()
	}
	stores := []struct {
		name string
		dir  string
		open func(dir string) (logStore, error)
	}{
		{"daxkv-emulated-shm", shm, func(d string) (logStore, error) {
			return New(filepath.Join(d, "raft.pool"), &kv.Options{DAX: kv.DAXEmulated})
		}},
		{"daxkv-off-shm", shm, func(d string) (logStore, error) {
			return New(filepath.Join(d, "raft.pool"), &kv.Options{DAX: kv.DAXOff})
		}},
		{"raft-boltdb-shm", shm, func(d string) (logStore, error) { return raftboltdb.NewBoltStore(filepath.Join(d, "raft.db")) }},
		{"raft-wal-shm", shm, func(d string) (logStore, error) { return wal.Open(d) }},
		{"daxkv-off-disk", os.TempDir(), func(d string) (logStore, error) {
			return New(filepath.Join(d, "raft.pool"), &kv.Options{DAX: kv.DAXOff})
		}},
		{"raft-wal-disk", os.TempDir(), func(d string) (logStore, error) { return wal.Open(d) }},
	}
	data := make([]byte, 256)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, batch := range []int{1, 64} {
		for _, st := range stores {
			b.Run(fmt.Sprintf("batch=%d/%s", batch, st.name), func(b *testing.B) {
				dir, err := os.MkdirTemp(st.dir, "raftstore-bench-")
				if err != nil {
					b.Fatal(err)
				}
				defer os.RemoveAll(dir)
				s, err := st.open(dir)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				logs := make([]*raft.Log, batch)
				for j := range logs {
					logs[j] = &raft.Log{Term: 1, Type: raft.LogCommand, Data: data}
				}
				next := uint64(1)
				b.SetBytes(int64(batch * len(data)))
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					for _, l := range logs {
						l.Index = next
						next++
					}
					if err := s.StoreLogs(logs); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "entries/s")
				b.StopTimer() // not the deferred Close and removal
			})
		}
	}
}
