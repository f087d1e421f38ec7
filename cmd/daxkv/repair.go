package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/daxkv/daxkv/kv"
)

func newRepairCommand(g *globals) *cobra.Command {
	var out string
	var force, quiet bool
	cmd := &cobra.Command{
		Use:   "repair [POOL] --out NEW",
		Short: "Salvage every readable record of a damaged pool into a new pool",
		Long: `repair reads every record it can from a damaged pool - around blocks the
kernel lists as bad and pages that fault - and writes the keys recovery would
keep into a new pool at --out. The damaged pool is opened read-only and never
written. It reports what it saved and what was lost.

The new pool is built beside --out under a temporary name and put in place
only when the repair succeeded: a failed repair leaves --out as it was.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, _, err := g.poolArgs(args, 0)
			if err != nil {
				return err
			}
			if out == "" {
				return fmt.Errorf("%w: name the new pool with --out", errUsage)
			}
			mode, err := kv.ParseDAXMode(g.mode)
			if err != nil {
				return err
			}
			if err := checkOutPath("repair", src, out, force, g.wait); err != nil {
				return err
			}
			tmp := filepath.Join(filepath.Dir(out), fmt.Sprintf(".daxkv-repair-%d", os.Getpid()))
			// An interrupt removes the half-built pool before exiting.
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
			done := make(chan struct{})
			defer func() { signal.Stop(sig); close(done) }()
			go func() {
				select {
				case s := <-sig:
					os.Remove(tmp)
					os.Remove(kv.CheckpointPath(tmp))
					fmt.Fprintf(os.Stderr, "daxkv: repair interrupted (%v); %s left as it was\n", s, out)
					os.Exit(130)
				case <-done:
				}
			}()
			end := g.showProgress(cmd, quiet)
			rep, err := kv.Repair(src, tmp, g.options(mode, false))
			end()
			if err != nil {
				return fmt.Errorf("daxkv: repair %s --out %s: %w", src, out, err)
			}
			if err := placeOut(tmp, out, force); err != nil {
				os.Remove(kv.CheckpointPath(tmp))
				return errors.Join(err, os.Remove(tmp))
			}
			return printRepair(cmd, g, out, rep)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "path of the new pool (must not exist)")
	cmd.Flags().BoolVar(&force, "force", false, "replace --out if it exists")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress on stderr")
	return cmd
}

// checkOutPath refuses, for the command verb (repair, backup), a source
// that is not a pool file (a FIFO would block the read), and an output that
// is the source pool itself (by any name, through any link), that is not a
// file or a link, that exists without force, or that a live handle holds
// open.
func checkOutPath(verb, src, out string, force bool, wait time.Duration) error {
	si, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("daxkv: %s %s: %w", verb, src, err)
	}
	if !si.Mode().IsRegular() && si.Mode().Type() != fs.ModeDevice|fs.ModeCharDevice {
		return fmt.Errorf("%w: %s is not a pool file (%v)", errUsage, src, si.Mode().Type())
	}
	lo, err := os.Lstat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if oi, err := os.Stat(out); err == nil && os.SameFile(si, oi) {
		return fmt.Errorf("%w: %s is the pool being read itself", errUsage, out)
	}
	if !lo.Mode().IsRegular() && lo.Mode().Type() != fs.ModeSymlink {
		return fmt.Errorf("%w: %s is not a file (%v)", errUsage, out, lo.Mode().Type())
	}
	if !force {
		return fmt.Errorf("%w: %s exists; pass --force to replace it", errUsage, out)
	}
	if lo.Mode().IsRegular() {
		return notHeld(out, wait)
	}
	return nil
}

// notHeld reports an error wrapping kv.ErrLocked when a handle holds the
// pool file at path open (its flock) for longer than wait: replacing it
// would pull the name from under a live writer.
func notHeld(path string, wait time.Duration) error {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	deadline := time.Now().Add(wait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR):
			return fmt.Errorf("daxkv: lock %s: %w", path, err)
		case time.Now().After(deadline):
			return fmt.Errorf("%w: %s is open in another handle; not replacing it", kv.ErrLocked, path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// placeOut moves the repaired pool from tmp to out: with force a rename
// (which replaces a link at out rather than following it); without, a link
// that fails if out appeared meanwhile.
// The pool's index checkpoint (kv.CheckpointPath), if tmp has one, moves
// with it.
func placeOut(tmp, out string, force bool) error {
	if force {
		if err := os.Rename(tmp, out); err != nil {
			return err
		}
	} else {
		if err := os.Link(tmp, out); err != nil {
			return err
		}
		if err := os.Remove(tmp); err != nil {
			return err
		}
	}
	kv.MoveCheckpoint(tmp, out) // a cache: where it cannot follow, the next open scans
	return nil
}

func printRepair(cmd *cobra.Command, g *globals, out string, rep *kv.RepairReport) error {
	var badBytes int64
	for _, r := range rep.Bad {
		badBytes += r.Len
	}
	if g.json {
		type jsonRange struct {
			Off int64 `json:"off"`
			Len int64 `json:"len"`
		}
		v := struct {
			Out         string      `json:"out"`
			Keys        int         `json:"keys"`
			Bytes       int64       `json:"bytes"`
			Bad         []jsonRange `json:"bad"`
			BadBytes    int64       `json:"bad_bytes"`
			DamagedKeys int         `json:"damaged_keys"`
			Damaged     []jsonPair  `json:"damaged"`
		}{Out: out, Keys: rep.Keys, Bytes: rep.Bytes, Bad: []jsonRange{}, BadBytes: badBytes,
			DamagedKeys: len(rep.Damaged), Damaged: []jsonPair{}}
		for _, r := range rep.Bad {
			v.Bad = append(v.Bad, jsonRange{r.Off, r.Len})
		}
		for _, k := range rep.Damaged {
			v.Damaged = append(v.Damaged, makePair(k, nil))
		}
		return writeJSON(cmd.OutOrStdout(), v)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "saved %d keys (%d bytes) into %s\n", rep.Keys, rep.Bytes, out)
	if len(rep.Bad) == 0 && len(rep.Damaged) == 0 {
		_, err := fmt.Fprintln(w, "lost nothing readable: no bad blocks, no damaged keys")
		return err
	}
	fmt.Fprintf(w, "unreadable: %d bytes in %d ranges\n", badBytes, len(rep.Bad))
	for _, r := range rep.Bad {
		fmt.Fprintf(w, "  [%d, %d)\n", r.Off, r.End())
	}
	fmt.Fprintf(w, "damaged keys (newest record unreadable, not saved): %d\n", len(rep.Damaged))
	for _, k := range rep.Damaged {
		fmt.Fprintf(w, "  %q\n", k)
	}
	return nil
}
