package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/kv"
)

func newCreateCommand(g *globals) *cobra.Command {
	var size, chunk int64
	cmd := &cobra.Command{
		Use:   "create [POOL]",
		Short: "Create a new, empty pool",
		Long: `Create a new pool at POOL (or --pool, or $DAXKV_POOL), formatted and
closed cleanly. An existing file is never touched: create fails instead.
--size is the initial size (the pool grows by itself past it) and
--chunk-size the unit of growth and block allocation; both round up to
whole chunks.`,
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			path, _, err := g.poolArgs(args, 0)
			if err != nil {
				return err
			}
			mode, err := kv.ParseDAXMode(g.mode)
			if err != nil {
				return err
			}
			// O_EXCL: the file is this command's, or create fails; an
			// empty file is formatted by the open, and removed again
			// when the open fails, so a failed create leaves nothing.
			f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				if errors.Is(err, fs.ErrExist) {
					return fmt.Errorf("create %s: %w", path, fs.ErrExist)
				}
				return err
			}
			f.Close()
			db, err := kv.Open(path, &kv.Options{DAX: mode, Size: size, ChunkSize: chunk})
			if err != nil {
				os.Remove(path)
				return err
			}
			s := db.Stats()
			if err := db.Close(); err != nil {
				return err
			}
			if g.json {
				return writeJSON(cmd.OutOrStdout(), struct {
					Pool      string `json:"pool"`
					Size      int64  `json:"size"`
					ChunkSize int64  `json:"chunk_size"`
					Mode      string `json:"mode"`
				}{path, s.PoolSize, s.ChunkSize, s.Mode.String()})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s: %d bytes, chunks of %d, mode %s\n", path, s.PoolSize, s.ChunkSize, s.Mode)
			return nil
		},
	}
	cmd.Flags().Int64Var(&size, "size", kv.DefaultSize, "initial size in bytes")
	cmd.Flags().Int64Var(&chunk, "chunk-size", kv.DefaultChunkSize, "chunk size in bytes (a power of two)")
	return cmd
}

func newModeCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "mode [POOL] [auto|on|off|emulated]",
		Short: "Show or set the pool's preferred durability mode",
		Long: `With no mode, print the pool's preferred mode (recorded in its superblock)
and the mode this open got. With one, record it as the preferred mode: a
later open with --mode auto (the default) applies it, as far as it is as
durable as auto (see the kv package's Options.DAX). The pool is the first
argument, --pool or $DAXKV_POOL.`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var set string
			switch {
			case len(args) == 2:
				set = args[1]
				args = args[:1]
			case len(args) == 1 && g.pool != "":
				set = args[0]
				args = nil
			case len(args) == 1 && isModeName(args[0]) && os.Getenv(poolEnv) != "":
				if _, err := os.Stat(args[0]); err == nil {
					return fmt.Errorf("%w: %q is both a mode and a file here: name the pool with --pool or as the first argument", errUsage, args[0])
				}
				set = args[0]
				args = nil
			}
			var want kv.DAXMode
			if set != "" {
				m, err := kv.ParseDAXMode(set)
				if err != nil {
					return err
				}
				want = m
			}
			return g.withDB(args, 0, set == "", func(db *kv.DB, _ []string) error {
				if set != "" {
					if err := db.SetPreferredMode(want); err != nil {
						return err
					}
				}
				s := db.Stats()
				pref := s.PreferredMode
				if set != "" {
					pref = want
				}
				if g.json {
					return writeJSON(cmd.OutOrStdout(), struct {
						Preferred string `json:"preferred_mode"`
						Mode      string `json:"mode"`
					}{pref.String(), s.Mode.String()})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "preferred %s, this open %s\n", pref, s.Mode)
				return nil
			})
		},
	}
}

func isModeName(s string) bool {
	_, err := kv.ParseDAXMode(s)
	return err == nil
}
