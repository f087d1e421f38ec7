package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/kv"
)

// jsonStats is kv.Stats as printed with --json.
type jsonStats struct {
	Keys             int64   `json:"keys"`
	PoolSize         int64   `json:"pool_size"`
	Used             int64   `json:"used"`
	Free             int64   `json:"free"`
	Limbo            int64   `json:"limbo"`
	Chunks           int64   `json:"chunks"`
	FileSize         int64   `json:"file_size"`
	AllocatedBytes   int64   `json:"allocated_bytes"`
	Mode             string  `json:"mode"`
	PreferredMode    string  `json:"preferred_mode"`
	PreferenceNote   string  `json:"preference_ignored,omitempty"`
	MapSync          bool    `json:"map_sync"`
	DeviceDAX        bool    `json:"device_dax"`
	FlushMethod      string  `json:"flush_method"`
	MaxValueSize     int     `json:"max_value_size"`
	ChunkSize        int64   `json:"chunk_size"`
	Recovered        bool    `json:"recovered"`
	RecoverySeconds  float64 `json:"recovery_seconds"`
	ReplayedBatches  int     `json:"replayed_batches"`
	DroppedBatches   int     `json:"dropped_batches"`
	DiscardedRecords int     `json:"discarded_records"`
	// PersistenceDomain is "" when the kernel does not say.
	PersistenceDomain string `json:"persistence_domain"`
	UnsafeShutdown    bool   `json:"unsafe_shutdown"`
	BadBytes          int64  `json:"bad_bytes"`
	DamagedKeys       int    `json:"damaged_keys"`
	ChunksPunched     int64  `json:"chunks_punched"`
}

func toJSONStats(s kv.Stats) jsonStats {
	return jsonStats{
		Keys: s.Keys, PoolSize: s.PoolSize, Used: s.Used, Free: s.Free, Limbo: s.Limbo,
		Chunks: s.PoolSize / max(1, s.ChunkSize), FileSize: s.FileSize, AllocatedBytes: s.AllocatedBytes,
		Mode: s.Mode.String(), PreferredMode: s.PreferredMode.String(), PreferenceNote: s.PreferenceIgnored,
		MapSync: s.MapSync, DeviceDAX: s.DeviceDAX, FlushMethod: s.FlushMethod,
		MaxValueSize: s.MaxValueSize, ChunkSize: s.ChunkSize,
		Recovered: s.Recovered, RecoverySeconds: s.RecoveryTime.Seconds(),
		ReplayedBatches: s.ReplayedBatches, DroppedBatches: s.DroppedBatches, DiscardedRecords: s.DiscardedRecords,
		PersistenceDomain: s.PersistenceDomain, UnsafeShutdown: s.UnsafeShutdown,
		BadBytes: s.BadBytes, DamagedKeys: s.DamagedKeys, ChunksPunched: s.ChunksPunched,
	}
}

func newStatsCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "stats [POOL]",
		Short: "Print the pool's figures and modes",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withDB(args, 0, true, func(db *kv.DB, _ []string) error {
				return printStats(cmd, g, db)
			})
		},
	}
}

func printStats(cmd *cobra.Command, g *globals, db *kv.DB) error {
	s := db.Stats()
	if g.json {
		return writeJSON(cmd.OutOrStdout(), toJSONStats(s))
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "keys            %d\n", s.Keys)
	fmt.Fprintf(w, "pool size       %d bytes (%d chunks of %d)\n", s.PoolSize, s.PoolSize/max(1, s.ChunkSize), s.ChunkSize)
	fmt.Fprintf(w, "space           live %d, limbo %d, free %d bytes\n", s.Used, s.Limbo, s.Free)
	fmt.Fprintf(w, "file            %d bytes, %d allocated, %d chunks punched\n", s.FileSize, s.AllocatedBytes, s.ChunksPunched)
	fmt.Fprintf(w, "mode            %s (preferred %s), map_sync=%v, device_dax=%v, flush=%s\n",
		s.Mode, s.PreferredMode, s.MapSync, s.DeviceDAX, s.FlushMethod)
	if s.PreferenceIgnored != "" {
		fmt.Fprintf(w, "preference      not applied: %s\n", s.PreferenceIgnored)
	}
	fmt.Fprintf(w, "max value size  %d bytes\n", s.MaxValueSize)
	domain := s.PersistenceDomain
	if domain == "" {
		domain = "not reported by the kernel"
	}
	fmt.Fprintf(w, "persistence     %s\n", domain)
	if s.UnsafeShutdown || s.BadBytes > 0 || s.DamagedKeys > 0 {
		fmt.Fprintf(w, "media           unsafe shutdown=%v, bad bytes=%d, damaged keys=%d\n",
			s.UnsafeShutdown, s.BadBytes, s.DamagedKeys)
	}
	fmt.Fprintf(w, "last open       recovered=%v in %v, batches replayed=%d dropped=%d, records discarded=%d\n",
		s.Recovered, s.RecoveryTime.Round(time.Microsecond), s.ReplayedBatches, s.DroppedBatches, s.DiscardedRecords)
	return nil
}
