package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/kv"
)

// defaultDemoPool is where `daxkv demo` keeps its pool when not told: on
// tmpfs (/dev/shm) when the machine has one, so that the demo measures the
// store rather than a disk, else in the temporary directory.
func defaultDemoPool() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm/daxkv-demo.pool"
	}
	return filepath.Join(os.TempDir(), "daxkv-demo.pool")
}

type demoResult struct {
	Pool            string  `json:"pool"`
	Mode            string  `json:"mode"`
	FlushMethod     string  `json:"flush_method"`
	MapSync         bool    `json:"map_sync"`
	Keys            int     `json:"keys"`
	ValueSize       int     `json:"value_size"`
	Batch           int     `json:"batch"`
	LoadSeconds     float64 `json:"load_seconds"`
	PutsPerSecond   float64 `json:"puts_per_second"`
	ReopenSeconds   float64 `json:"reopen_seconds"`
	ReopenFrom      string  `json:"reopen_from"` // "checkpoint" or "scan"
	GetsPerSecond   float64 `json:"gets_per_second"`
	ScannedKeys     int64   `json:"scanned_keys"`
	ScanKeysPerSec  float64 `json:"scan_keys_per_second"`
	PoolSize        int64   `json:"pool_size"`
	Verified        bool    `json:"verified"`
	DurabilityScope string  `json:"durability"`
}

func newDemoCommand(g *globals) *cobra.Command {
	var keys, valueSize, batch int
	var quiet, keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Load keys durably, close, reopen, verify, and print what it measured",
		Long: `demo creates (or opens) a pool, loads --keys keys with durable puts (or
batches with --batch), closes it, reopens it, reads every key back and checks
it, scans the whole pool in order, and prints the mode it ran in and the
throughput. Without --pool it uses a pool on /dev/shm (tmpfs) when the machine
has it, else in the temporary directory, and removes it afterwards unless
--keep is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path := g.pool
			own := path == ""
			if own {
				path = defaultDemoPool()
			}
			res, err := runDemo(g, path, keys, valueSize, batch, quiet || g.json, cmd.ErrOrStderr())
			if own && !keep {
				os.Remove(path)
				os.Remove(kv.CheckpointPath(path))
			}
			if err != nil {
				return err
			}
			if g.json {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			printDemo(cmd, res)
			return nil
		},
	}
	cmd.Flags().IntVar(&keys, "keys", 300_000, "number of keys to load")
	cmd.Flags().IntVar(&valueSize, "value-size", 100, "bytes per value")
	cmd.Flags().IntVar(&batch, "batch", 0, "keys per atomic batch (0: one durable Put per key)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress display")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the default demo pool afterwards")
	return cmd
}

// demoKey and demoValue derive the i-th key and value, so verification
// needs no copy of the data set.
func demoKey(i int) []byte { return fmt.Appendf(nil, "%016d", i) }

func demoValue(buf []byte, i int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 0x9e3779b97f4a7c15))
	for j := 0; j+8 <= len(buf); j += 8 {
		binary.LittleEndian.PutUint64(buf[j:], r.Uint64())
	}
	for j := len(buf) &^ 7; j < len(buf); j++ {
		buf[j] = byte(r.Uint32())
	}
	return buf
}

func runDemo(g *globals, path string, keys, valueSize, batch int, quiet bool, stderr io.Writer) (*demoResult, error) {
	if keys <= 0 || valueSize < 0 || batch < 0 {
		return nil, fmt.Errorf("%w: --keys must be positive, --value-size and --batch not negative", errUsage)
	}
	mode, err := kv.ParseDAXMode(g.mode)
	if err != nil {
		return nil, err
	}
	opts := &kv.Options{DAX: mode}
	db, err := kv.Open(path, opts)
	if err != nil {
		return nil, err
	}
	st := db.Stats()
	res := &demoResult{Pool: path, Mode: st.Mode.String(), FlushMethod: st.FlushMethod, MapSync: st.MapSync,
		Keys: keys, ValueSize: valueSize, Batch: batch}
	switch {
	case st.Mode == kv.DAXOn:
		res.DurabilityScope = "survives power loss (MAP_SYNC: CPU flushes reach persistent memory)"
	case st.Mode == kv.DAXEmulated:
		res.DurabilityScope = "survives a process crash only (emulated: CPU flushes without MAP_SYNC)"
	default:
		res.DurabilityScope = "as durable as the file system under the pool (msync)"
	}

	order := rand.Perm(keys)
	val := make([]byte, valueSize)
	p := startProgress(stderr, quiet, "load", int64(keys))
	t0 := time.Now()
	if batch > 0 {
		b := db.NewBatch()
		for n, i := range order {
			b.Put(demoKey(i), demoValue(val, i))
			if b.Len() == batch || n == len(order)-1 {
				if err := db.Apply(b); err != nil {
					p.finish()
					db.Close()
					return nil, err
				}
				p.add(int64(b.Len()))
				b.Reset()
			}
		}
	} else {
		for _, i := range order {
			if err := db.Put(demoKey(i), demoValue(val, i)); err != nil {
				p.finish()
				db.Close()
				return nil, err
			}
			p.add(1)
		}
	}
	res.LoadSeconds = time.Since(t0).Seconds()
	p.finish()
	res.PutsPerSecond = float64(keys) / res.LoadSeconds
	if err := db.Close(); err != nil {
		return nil, err
	}

	t0 = time.Now()
	db, err = kv.Open(path, opts)
	if err != nil {
		return nil, fmt.Errorf("reopen: %w", err)
	}
	res.ReopenSeconds = time.Since(t0).Seconds()
	res.ReopenFrom = "scan"
	if db.Stats().FromCheckpoint {
		res.ReopenFrom = "checkpoint"
	}
	defer db.Close()

	p = startProgress(stderr, quiet, "verify", int64(keys))
	t0 = time.Now()
	for _, i := range order {
		err := db.View(demoKey(i), func(v []byte) error {
			if !bytes.Equal(v, demoValue(val, i)) {
				return fmt.Errorf("%w: key %d has the wrong value after reopen", kv.ErrCorrupt, i)
			}
			return nil
		})
		if err != nil {
			p.finish()
			return nil, fmt.Errorf("verify: %w", err)
		}
		p.add(1)
	}
	el := time.Since(t0).Seconds()
	p.finish()
	res.GetsPerSecond = float64(keys) / el

	t0 = time.Now()
	var prev []byte
	err = db.Scan(nil, nil, func(k, _ []byte) error {
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return errors.New("scan out of order")
		}
		prev = append(prev[:0], k...)
		res.ScannedKeys++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	res.ScanKeysPerSec = float64(res.ScannedKeys) / time.Since(t0).Seconds()
	if res.ScannedKeys < int64(keys) {
		return nil, fmt.Errorf("%w: scan saw %d keys, %d were loaded", kv.ErrCorrupt, res.ScannedKeys, keys)
	}
	res.PoolSize = db.Stats().PoolSize
	res.Verified = true
	return res, nil
}

func printDemo(cmd *cobra.Command, r *demoResult) {
	w := cmd.OutOrStdout()
	how := "one durable Put per key"
	if r.Batch > 0 {
		how = fmt.Sprintf("atomic batches of %d", r.Batch)
	}
	fmt.Fprintf(w, "daxkv demo: pool %s\n", r.Pool)
	fmt.Fprintf(w, "  mode      %s (flush: %s, MAP_SYNC: %v); durability: %s\n", r.Mode, r.FlushMethod, r.MapSync, r.DurabilityScope)
	fmt.Fprintf(w, "  load      %d keys of 16 bytes, %d-byte values, %s: %.2fs, %.0f puts/s\n", r.Keys, r.ValueSize, how, r.LoadSeconds, r.PutsPerSecond)
	from := "every chunk scanned, index rebuilt"
	if r.ReopenFrom == "checkpoint" {
		from = "index rebuilt from the checkpoint the clean close wrote, every listed record verified"
	}
	fmt.Fprintf(w, "  reopen    %.3fs (%s)\n", r.ReopenSeconds, from)
	fmt.Fprintf(w, "  verify    every key read back and compared: %.0f gets/s\n", r.GetsPerSecond)
	fmt.Fprintf(w, "  scan      %d keys in order: %.0f keys/s\n", r.ScannedKeys, r.ScanKeysPerSec)
	fmt.Fprintf(w, "  pool      %d bytes\n", r.PoolSize)
	fmt.Fprintf(w, "ok: all %d keys verified after reopen\n", r.Keys)
}
