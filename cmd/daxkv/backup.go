package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/kv"
)

func newBackupCommand(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "backup [POOL] OUT",
		Short: "Write a consistent, compact copy of a pool, usable as a pool (OUT - is standard output)",
		Long: `backup writes every key and value of the pool, as of one instant, as a new
pool file at OUT (kv.DB.Backup: a snapshot copied into a compact pool;
writers in the same process are not blocked). The pool is opened
read-only. OUT is built beside itself under a temporary name, with mode
0600, and put in place only when complete; an existing OUT is replaced
only with --force.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, rest, err := g.poolArgs(args, 1)
			if err != nil {
				return err
			}
			out := rest[0]
			if out != "-" {
				if err := checkOutPath("backup", src, out, force); err != nil {
					return err
				}
			}
			return g.withDB(args, 1, true, func(db *kv.DB, _ []string) (err error) {
				if out == "-" {
					_, err = db.Backup(cmd.OutOrStdout())
					return err
				}
				tmp, err := os.CreateTemp(filepath.Dir(out), ".daxkv-backup-*")
				if err != nil {
					return err
				}
				defer func() {
					if tmp != nil {
						tmp.Close()
						os.Remove(tmp.Name())
					}
				}()
				n, err := db.Backup(tmp)
				if err == nil {
					err = tmp.Sync()
				}
				if err == nil {
					err = tmp.Close()
				}
				if err == nil {
					err = placeOut(tmp.Name(), out, force)
				}
				if err != nil {
					return errors.Join(fmt.Errorf("daxkv: backup %s to %s: %w", src, out, err), os.Remove(tmp.Name()))
				}
				tmp = nil
				keys := db.Stats().Keys
				if g.json {
					return writeJSON(cmd.OutOrStdout(), map[string]any{"out": out, "keys": keys, "bytes": n})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "backed up %d keys to %s (%d bytes)\n", keys, out, n)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "replace OUT if it exists")
	return cmd
}
