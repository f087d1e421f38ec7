package main

import (
	"bufio"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/kv"
)

var errLimit = errors.New("limit reached")

func newScanCommand(g *globals) *cobra.Command {
	var start, end string
	var limit int
	var keysOnly bool
	cmd := &cobra.Command{
		Use:   "scan [POOL]",
		Short: "Print keys and values in ascending key order",
		Long: `Print every key in [--start, --end) with its value, in ascending byte order,
one "key<TAB>value" line each (or one JSON object per line with --json).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withDB(args, 0, true, func(db *kv.DB, _ []string) error {
				return scan(cmd, g, db, start, end, limit, keysOnly)
			})
		},
	}
	cmd.Flags().StringVar(&start, "start", "", "first key (inclusive); default: the first key")
	cmd.Flags().StringVar(&end, "end", "", "end key (exclusive); default: past the last key")
	cmd.Flags().IntVar(&limit, "limit", 0, "print at most this many keys (0: no limit)")
	cmd.Flags().BoolVar(&keysOnly, "keys", false, "print keys only")
	return cmd
}

func scan(cmd *cobra.Command, g *globals, db *kv.DB, start, end string, limit int, keysOnly bool) error {
	var s, e []byte
	if start != "" {
		s = []byte(start)
	}
	if end != "" {
		e = []byte(end)
	}
	w := bufio.NewWriter(cmd.OutOrStdout())
	n := 0
	err := db.Scan(s, e, func(k, v []byte) error {
		if limit > 0 && n == limit {
			return errLimit
		}
		n++
		switch {
		case g.json && keysOnly:
			return writeJSON(w, makePair(k, nil))
		case g.json:
			return writeJSON(w, makePair(k, v))
		case keysOnly:
			_, err := fmt.Fprintf(w, "%s\n", k)
			return err
		}
		_, err := fmt.Fprintf(w, "%s\t%s\n", k, v)
		return err
	})
	if errors.Is(err, errLimit) {
		err = nil
	}
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}
