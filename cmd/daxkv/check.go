package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/kv"
)

func newCheckCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check [POOL]",
		Short: "Verify every record of the pool (fsck); exits non-zero on a problem",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Read-only: the pool is never written. What a crash left for
			// the next writable open to settle is not a problem.
			return g.withDB(args, 0, true, func(db *kv.DB, _ []string) error {
				return check(cmd, g, db)
			})
		},
	}
}

func check(cmd *cobra.Command, g *globals, db *kv.DB) error {
	s := db.Stats()
	cerr := db.Check()
	if g.json {
		out := struct {
			OK    bool   `json:"ok"`
			Keys  int64  `json:"keys"`
			Error string `json:"error,omitempty"`
		}{OK: cerr == nil, Keys: s.Keys}
		if cerr != nil {
			out.Error = cerr.Error()
		}
		if err := writeJSON(cmd.OutOrStdout(), out); err != nil {
			return err
		}
		return cerr
	}
	if cerr != nil {
		return cerr
	}
	_, err := fmt.Fprintf(cmd.OutOrStdout(), "ok: %d keys, pool of %d bytes, no problems\n", s.Keys, s.PoolSize)
	return err
}
