package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/kv"
)

func newCheckCommand(g *globals) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "check [POOL]",
		Short: "Verify every record of the pool (fsck); exits non-zero on a problem",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Read-only: the pool is never written. What a crash left for
			// the next writable open to settle is not a problem.
			end := g.showProgress(cmd, quiet)
			defer end()
			return g.withDB(args, 0, true, func(db *kv.DB, _ []string) error {
				return check(cmd, g, db, end)
			})
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress on stderr")
	return cmd
}

// check verifies db and prints the report, once endProgress has ended
// the progress bars.
func check(cmd *cobra.Command, g *globals, db *kv.DB, endProgress func()) error {
	s := db.Stats()
	rep, err := db.Verify()
	endProgress()
	if err != nil {
		return err
	}
	var cerr error
	if len(rep.Problems) > 0 {
		cerr = &kv.CheckError{Problems: rep.Problems}
	}
	if g.json {
		out := struct {
			OK        bool     `json:"ok"`
			Keys      int      `json:"keys"`
			Records   int      `json:"records"`
			Problems  []string `json:"problems"`
			Unsettled []string `json:"unsettled"`
		}{OK: cerr == nil, Keys: rep.Keys, Records: rep.Records, Problems: rep.Problems, Unsettled: rep.Unsettled}
		if err := writeJSON(cmd.OutOrStdout(), out); err != nil {
			return err
		}
		return cerr
	}
	w := cmd.OutOrStdout()
	if len(rep.Unsettled) > 0 {
		fmt.Fprintf(w, "the pool was not closed cleanly; %d things a crash left, which the next writable open settles:\n", len(rep.Unsettled))
		for i, u := range rep.Unsettled {
			if i == 20 {
				fmt.Fprintf(w, "  ... and %d more\n", len(rep.Unsettled)-20)
				break
			}
			fmt.Fprintf(w, "  %s\n", u)
		}
	}
	if cerr != nil {
		return cerr
	}
	_, err = fmt.Fprintf(w, "ok: %d keys, pool of %d bytes, no problems\n", rep.Keys, s.PoolSize)
	return err
}
