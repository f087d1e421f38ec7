package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/kv"
)

var errLimit = errors.New("limit reached")

// scanOptions are scan's flags.
type scanOptions struct {
	enc                encoding // of --start, --end and --prefix
	start, end, prefix string
	limit              int
	keysOnly, reverse  bool
	format             string
}

func newScanCommand(g *globals) *cobra.Command {
	var o scanOptions
	cmd := &cobra.Command{
		Use:   "scan [POOL]",
		Short: "Print keys and values in key order",
		Long: `Print every key in [--start, --end) and under --prefix with its value, in
ascending byte order (descending with --reverse), one "key<TAB>value" line
each; --format json prints one JSON object per line (as --json does) and
--format hex both key and value in hexadecimal. --limit stops after that
many keys (with --reverse: the last ones). --reverse holds the range in
memory before it prints it.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.json {
				o.format = "json"
			}
			switch o.format {
			case "text", "json", "hex":
			default:
				return fmt.Errorf("%w: --format %q (want text, json or hex)", errUsage, o.format)
			}
			if o.limit < 0 {
				return fmt.Errorf("%w: --limit %d (want 0, no limit, or more)", errUsage, o.limit)
			}
			for _, b := range []*string{&o.start, &o.end, &o.prefix} {
				d, err := o.enc.decode("bound", *b)
				if err != nil {
					return err
				}
				*b = string(d)
			}
			return g.withDB(args, 0, true, func(db *kv.DB, _ []string) error {
				return scan(cmd.OutOrStdout(), db, &o)
			})
		},
	}
	cmd.Flags().StringVar(&o.start, "start", "", "first key (inclusive); default: the first key")
	cmd.Flags().StringVar(&o.end, "end", "", "end key (exclusive); default: past the last key")
	cmd.Flags().StringVar(&o.prefix, "prefix", "", "only keys that start with this")
	cmd.Flags().IntVar(&o.limit, "limit", 0, "print at most this many keys (0: no limit)")
	cmd.Flags().BoolVar(&o.keysOnly, "keys-only", false, "print keys only")
	cmd.Flags().BoolVar(&o.keysOnly, "keys", false, "print keys only (as --keys-only)")
	cmd.Flags().BoolVar(&o.reverse, "reverse", false, "descending key order")
	cmd.Flags().StringVar(&o.format, "format", "text", "text, json or hex")
	o.enc.flags(cmd) // --hex, --base64: the bounds and prefix are encoded
	return cmd
}

// bounds returns the range to scan: [start, end) narrowed to the prefix.
func (o *scanOptions) bounds() (start, end []byte) {
	if o.start != "" {
		start = []byte(o.start)
	}
	if o.end != "" {
		end = []byte(o.end)
	}
	if o.prefix == "" {
		return start, end
	}
	p := []byte(o.prefix)
	if bytes.Compare(start, p) < 0 {
		start = p
	}
	if pe := prefixEnd(p); pe != nil && (end == nil || bytes.Compare(pe, end) < 0) {
		end = pe
	}
	return start, end
}

// prefixEnd is the first key after every key that starts with p, or nil
// when there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	e := bytes.Clone(p)
	for i := len(e) - 1; i >= 0; i-- {
		if e[i] < 0xff {
			e[i]++
			return e[:i+1]
		}
	}
	return nil
}

func (o *scanOptions) print(w io.Writer, k, v []byte) error {
	var err error
	switch {
	case o.format == "json" && o.keysOnly:
		err = writeJSON(w, makePair(k, nil))
	case o.format == "json":
		err = writeJSON(w, makePair(k, v))
	case o.format == "hex" && o.keysOnly:
		_, err = fmt.Fprintf(w, "%s\n", hex.EncodeToString(k))
	case o.format == "hex":
		_, err = fmt.Fprintf(w, "%s\t%s\n", hex.EncodeToString(k), hex.EncodeToString(v))
	case o.keysOnly:
		_, err = fmt.Fprintf(w, "%s\n", k)
	default:
		_, err = fmt.Fprintf(w, "%s\t%s\n", k, v)
	}
	return err
}

func scan(out io.Writer, db *kv.DB, o *scanOptions) error {
	start, end := o.bounds()
	if start != nil && end != nil && bytes.Compare(start, end) >= 0 {
		return nil // an empty range
	}
	w := bufio.NewWriter(out)
	n := 0
	var held [][2][]byte // --reverse: the range, in order
	err := db.Scan(start, end, func(k, v []byte) error {
		if o.reverse {
			held = append(held, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
			return nil
		}
		if o.limit > 0 && n == o.limit {
			return errLimit
		}
		n++
		return o.print(w, k, v)
	})
	if errors.Is(err, errLimit) {
		err = nil
	}
	for i := len(held) - 1; err == nil && i >= 0 && (o.limit == 0 || n < o.limit); i-- {
		n++
		err = o.print(w, held[i][0], held[i][1])
	}
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}
