package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/kv"
)

func newBackupCommand(g *globals) *cobra.Command {
	var force, quiet bool
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
				if err := checkOutPath("backup", src, out, force, g.wait); err != nil {
					return err
				}
			}
			// The library builds the copy in a temporary pool under
			// $TMPDIR: point it at a directory of ours, removed on the way
			// out, and by an interrupt (which skips deferred calls), with
			// the half-written OUT. A reader of - that goes away makes the
			// write fail (SIGPIPE ignored) instead of killing the process.
			work, err := os.MkdirTemp("", "daxkv-backup-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			os.Setenv("TMPDIR", work)
			var partial atomic.Pointer[string]
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
			signal.Ignore(syscall.SIGPIPE)
			done := make(chan struct{})
			defer func() { signal.Stop(sig); close(done) }()
			go func() {
				select {
				case s := <-sig:
					os.RemoveAll(work)
					if p := partial.Load(); p != nil {
						os.Remove(*p)
					}
					fmt.Fprintf(os.Stderr, "daxkv: backup interrupted (%v); %s left as it was\n", s, out)
					os.Exit(130)
				case <-done:
				}
			}()
			end := g.showProgress(cmd, quiet)
			defer end()
			return g.withDB(args, 1, true, func(db *kv.DB, _ []string) (err error) {
				if out == "-" {
					_, err = db.Backup(cmd.OutOrStdout())
					return err
				}
				tmp, err := os.CreateTemp(filepath.Dir(out), ".daxkv-backup-*")
				if err != nil {
					return err
				}
				name := tmp.Name()
				partial.Store(&name)
				defer func() {
					if tmp != nil {
						tmp.Close()
						os.Remove(tmp.Name())
					}
				}()
				n, err := db.Backup(tmp)
				end()
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
				partial.Store(nil)
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
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress on stderr")
	return cmd
}
