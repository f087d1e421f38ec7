package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/kv"
)

func newRepairCommand(g *globals) *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "repair [POOL] --out NEW",
		Short: "Salvage every readable record of a damaged pool into a new pool",
		Long: `repair reads every record it can from a damaged pool - around blocks the
kernel lists as bad and pages that fault - and writes the keys recovery would
keep into a new pool at --out. The damaged pool is opened read-only and never
written. It reports what it saved and what was lost.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, _, err := g.poolArgs(args, 0)
			if err != nil {
				return err
			}
			if out == "" {
				return fmt.Errorf("%w: name the new pool with --out", errUsage)
			}
			if err := clearOut(src, out, force); err != nil {
				return err
			}
			rep, err := kv.Repair(src, out, nil)
			if err != nil {
				return err
			}
			return printRepair(cmd, g, out, rep)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "path of the new pool (must not exist)")
	cmd.Flags().BoolVar(&force, "force", false, "replace --out if it exists")
	return cmd
}

// clearOut makes way for the new pool at out: an existing file there is
// refused without force, and never removed when it is the damaged pool
// itself. A symbolic link at out is removed, not followed.
func clearOut(src, out string, force bool) error {
	fo, err := os.Lstat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !force {
		return fmt.Errorf("%w: %s exists; pass --force to replace it", errUsage, out)
	}
	if fi, err := os.Stat(src); err == nil && os.SameFile(fi, fo) {
		return fmt.Errorf("%w: --out %s is the damaged pool itself", errUsage, out)
	}
	if fo.IsDir() {
		return fmt.Errorf("%w: --out %s is a directory", errUsage, out)
	}
	return os.Remove(out)
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
			Out      string      `json:"out"`
			Keys     int         `json:"keys"`
			Bytes    int64       `json:"bytes"`
			Bad      []jsonRange `json:"bad"`
			BadBytes int64       `json:"bad_bytes"`
			Damaged  []string    `json:"damaged_keys"`
		}{Out: out, Keys: rep.Keys, Bytes: rep.Bytes, Bad: []jsonRange{}, BadBytes: badBytes, Damaged: []string{}}
		for _, r := range rep.Bad {
			v.Bad = append(v.Bad, jsonRange{r.Off, r.Len})
		}
		for _, k := range rep.Damaged {
			v.Damaged = append(v.Damaged, strconv.Quote(string(k)))
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
