package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/kv"
)

func newExportCommand(g *globals) *cobra.Command {
	var quiet, force bool
	cmd := &cobra.Command{
		Use:   "export [POOL] FILE",
		Short: "Write every key and value as JSON Lines (FILE - is standard output)",
		Long: `Write every key and value, in key order, one JSON object per line:
{"key": ..., "value": ...}, with key_base64 / value_base64 in place of key /
value where the bytes are not UTF-8. import reads it back exactly. A FILE
is written beside itself (mode 0600) and put in place when complete; an
existing FILE is replaced only with --force.

The export is a Scan of the open pool (read-only): writes made while it
runs by another handle cannot happen (the pool is locked), so it is a
consistent copy of the pool as it was opened.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, _, err := g.poolArgs(args, 1)
			if err != nil {
				return err
			}
			end := g.showProgress(cmd, quiet) // the open's recovery scan
			defer end()
			return g.withDB(args, 1, true, func(db *kv.DB, rest []string) (err error) {
				end()
				var w io.Writer = cmd.OutOrStdout()
				target := rest[0]
				var tmp *os.File
				if target != "-" {
					if err := checkOutPath("export", src, target, force, g.wait); err != nil {
						return err
					}
					if tmp, err = os.CreateTemp(filepath.Dir(target), ".daxkv-export-*"); err != nil {
						return err
					}
					defer func() {
						if tmp != nil {
							tmp.Close()
							os.Remove(tmp.Name())
						}
					}()
					w = tmp
				}
				bw := bufio.NewWriterSize(w, 1<<16)
				p := startProgress(cmd.ErrOrStderr(), quiet, "export", db.Stats().Keys)
				n := 0
				err = db.Scan(nil, nil, func(k, v []byte) error {
					n++
					p.add(1)
					return writeJSON(bw, makePair(k, v))
				})
				p.finish()
				if err == nil {
					err = bw.Flush()
				}
				if err == nil && tmp != nil {
					if err = tmp.Sync(); err == nil {
						if err = tmp.Close(); err == nil {
							err = placeOut(tmp.Name(), target, force)
						}
					}
					if err == nil {
						tmp = nil
					}
				}
				if err != nil {
					return fmt.Errorf("export: %w", err)
				}
				if target != "-" {
					fmt.Fprintf(cmd.OutOrStdout(), "exported %d keys to %s\n", n, target)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress on stderr")
	cmd.Flags().BoolVar(&force, "force", false, "replace FILE if it exists")
	return cmd
}

func newImportCommand(g *globals) *cobra.Command {
	var quiet bool
	var batch int
	cmd := &cobra.Command{
		Use:   "import [POOL] FILE",
		Short: "Put every key and value of a JSON Lines file (FILE - is standard input)",
		Long: `Read JSON Lines as export writes them ({"key": ..., "value": ...}, or
key_base64 / value_base64) and put every pair, --batch pairs per atomic,
durable batch. The pool is created when it does not exist. A bad line
stops the import with its line number; the batches before it are in the
pool (the report says how many pairs).`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if batch < 1 {
				return fmt.Errorf("%w: --batch %d (want at least 1)", errUsage, batch)
			}
			end := g.showProgress(cmd, quiet) // the open's recovery scan
			defer end()
			return g.withDB(args, 1, false, func(db *kv.DB, rest []string) error {
				end()
				var r io.Reader = cmd.InOrStdin()
				size := int64(0) // unknown: standard input
				if rest[0] != "-" {
					f, err := os.Open(rest[0])
					if err != nil {
						return err
					}
					defer f.Close()
					if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
						size = fi.Size()
					}
					r = f
				}
				p := startByteProgress(cmd.ErrOrStderr(), quiet, "import", size)
				n, err := importPairs(db, bufio.NewReaderSize(p.reader(r), 1<<16), batch, p)
				if err != nil {
					return fmt.Errorf("import: %w (%d pairs imported before it)", err, n)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "imported %d pairs\n", n)
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&batch, "batch", 1000, "pairs per durable batch")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress on stderr")
	return cmd
}

// importPairs puts every pair read from r, batch pairs per Apply, and
// returns how many are in the pool; p (counting r's bytes) is finished.
func importPairs(db *kv.DB, r *bufio.Reader, batch int, p *progress) (int, error) {
	defer p.finish()
	b := db.NewBatch()
	done := 0
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		if err := db.Apply(b); err != nil {
			return err
		}
		done += b.Len()
		b.Reset()
		return nil
	}
	for line := 1; ; line++ {
		raw, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(raw)) > 0 {
			k, v, perr := parsePair(raw)
			if perr != nil {
				return done, fmt.Errorf("line %d: %w: %w", line, errUsage, perr)
			}
			b.Put(k, v)
			if b.Len() == batch {
				if err := flush(); err != nil {
					return done, err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return done, flush()
		}
		if err != nil {
			return done, err
		}
	}
}

// parsePair decodes one JSON Lines object: key or key_base64, value or
// value_base64 (exactly one of each).
func parsePair(raw []byte) (k, v []byte, err error) {
	var p struct {
		Key         *string `json:"key"`
		KeyBase64   *string `json:"key_base64"`
		Value       *string `json:"value"`
		ValueBase64 *string `json:"value_base64"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, nil, err
	}
	field := func(name string, text, b64 *string) ([]byte, error) {
		switch {
		case text != nil && b64 != nil:
			return nil, fmt.Errorf("both %s and %s_base64", name, name)
		case text != nil:
			return []byte(*text), nil
		case b64 != nil:
			return base64.StdEncoding.DecodeString(*b64)
		}
		return nil, fmt.Errorf("no %s", name)
	}
	if k, err = field("key", p.Key, p.KeyBase64); err != nil {
		return nil, nil, err
	}
	if v, err = field("value", p.Value, p.ValueBase64); err != nil {
		return nil, nil, err
	}
	return k, v, nil
}
