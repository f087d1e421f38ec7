package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newCheckCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check [POOL]",
		Short: "Verify every record of the pool (fsck); exits non-zero on a problem",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			path, _, err := g.poolArgs(args, 0)
			if err != nil {
				return err
			}
			// Open recovers a crashed pool first (read-write), so that Check
			// sees the state a reader would.
			db, err := g.open(path, false)
			if err != nil {
				return err
			}
			defer closeDB(db, &err)
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
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "ok: %d keys, pool of %d bytes, no problems\n", s.Keys, s.PoolSize)
			return err
		},
	}
}
