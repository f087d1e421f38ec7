package main

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/kv"
)

// jsonCompact is a compaction's result as printed with --json.
type jsonCompact struct {
	Moved          int   `json:"moved"`
	Emptied        int   `json:"emptied_chunks"`
	Punched        int   `json:"punched_chunks"`
	Freed          int64 `json:"freed_bytes"`
	Consolidated   bool  `json:"consolidated_only"`
	AllocatedStart int64 `json:"allocated_before"`
	AllocatedEnd   int64 `json:"allocated_after"`
	FileSize       int64 `json:"file_size"`
}

func newCompactCommand(g *globals) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "compact [POOL]",
		Short: "Move live records out of sparse chunks and give the emptied chunks back to the filesystem",
		Long: `compact moves the live records of sparse chunks elsewhere in the pool and
punches the emptied chunks out of the file (it keeps its size; the blocks go
back to the filesystem). Every move is as crash-safe as a Put. A pool on
device DAX cannot give blocks back: there the chunks are only consolidated.
Interrupted (Ctrl-C, or --timeout), it stops with what it moved so far
kept, and exits with status 1.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return g.withDB(args, 0, false, func(db *kv.DB, _ []string) error {
				before := db.Stats()
				res, err := db.CompactWithResult(ctx)
				after := db.Stats()
				out := jsonCompact{Moved: res.Moved, Emptied: res.Emptied, Punched: res.Punched, Freed: res.Freed,
					Consolidated: res.Consolidated, AllocatedStart: before.AllocatedBytes,
					AllocatedEnd: after.AllocatedBytes, FileSize: after.FileSize}
				if g.json {
					if jerr := writeJSON(cmd.OutOrStdout(), out); jerr != nil && err == nil {
						err = jerr
					}
				} else {
					w := cmd.OutOrStdout()
					fmt.Fprintf(w, "moved %d records, emptied %d chunks, punched %d (%d bytes given back)\n",
						res.Moved, res.Emptied, res.Punched, res.Freed)
					fmt.Fprintf(w, "file %d bytes, allocated %d -> %d bytes\n", after.FileSize, before.AllocatedBytes, after.AllocatedBytes)
					if res.Consolidated {
						fmt.Fprintln(w, "device DAX: nothing can be punched; the emptied chunks are free for new records")
					}
				}
				return err
			})
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0: no limit; readers holding records of a chunk make it wait)")
	return cmd
}
