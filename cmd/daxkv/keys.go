package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/kv"
	"github.com/daxkv/daxkv/recovery"
)

// jsonPair is how a key and value print as JSON: as strings when they are
// valid UTF-8, else base64 in the *_base64 fields.
//
// A nil value (keys only) prints no value field; an empty one prints
// "value": "".
type jsonPair struct {
	Key         string  `json:"key,omitempty"`
	KeyBase64   string  `json:"key_base64,omitempty"`
	Value       *string `json:"value,omitempty"`
	ValueBase64 *string `json:"value_base64,omitempty"`
}

func makePair(k, v []byte) jsonPair {
	var p jsonPair
	if utf8.Valid(k) {
		p.Key = string(k)
	} else {
		p.KeyBase64 = base64.StdEncoding.EncodeToString(k)
	}
	switch {
	case v == nil:
	case utf8.Valid(v):
		s := string(v)
		p.Value = &s
	default:
		s := base64.StdEncoding.EncodeToString(v)
		p.ValueBase64 = &s
	}
	return p
}

// maxStdinValue bounds a value read from standard input: the largest any
// pool stores (FORMAT.md: at most 1 GiB). A variable only so that a test
// can bound an endless stream more cheaply.
var maxStdinValue = recovery.MaxValue

// encoding is how put takes, and get prints, binary keys and values.
type encoding struct{ hex, base64 bool }

func (e *encoding) flags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&e.hex, "hex", false, "keys and values are hexadecimal")
	cmd.Flags().BoolVar(&e.base64, "base64", false, "keys and values are standard base64")
	cmd.MarkFlagsMutuallyExclusive("hex", "base64")
}

func (e *encoding) decode(what, s string) ([]byte, error) {
	var b []byte
	var err error
	switch {
	case e.hex:
		b, err = hex.DecodeString(s)
	case e.base64:
		b, err = base64.StdEncoding.DecodeString(s)
	default:
		return []byte(s), nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s %q: %w", errUsage, what, s, err)
	}
	return b, nil
}

func (e *encoding) encode(b []byte) string {
	switch {
	case e.hex:
		return hex.EncodeToString(b)
	case e.base64:
		return base64.StdEncoding.EncodeToString(b)
	}
	return string(b)
}

func newPutCommand(g *globals) *cobra.Command {
	var enc encoding
	cmd := &cobra.Command{
		Use:   "put [POOL] KEY VALUE",
		Short: "Store VALUE under KEY (durable when the command returns)",
		Long: `Store VALUE under KEY; the write is durable when the command returns.
VALUE "-" reads the value from standard input, byte for byte (never
decoded). --hex or --base64 take KEY and VALUE encoded, for binary bytes.`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("%w: put needs KEY and VALUE", errUsage)
			}
			var v []byte
			if args[len(args)-1] == "-" {
				// Read before the pool is opened (and locked), and no
				// more than the largest value any pool takes.
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), int64(maxStdinValue)+1))
				if err != nil {
					return fmt.Errorf("read the value from standard input: %w", err)
				}
				if len(b) > maxStdinValue {
					return fmt.Errorf("%w: the value on standard input is over %d bytes", kv.ErrValueTooLarge, maxStdinValue)
				}
				v = b
			}
			return g.withDB(args, 2, false, func(db *kv.DB, rest []string) error {
				k, err := enc.decode("key", rest[0])
				if err != nil {
					return err
				}
				if rest[1] != "-" {
					if v, err = enc.decode("value", rest[1]); err != nil {
						return err
					}
				}
				return db.Put(k, v)
			})
		},
	}
	enc.flags(cmd)
	return cmd
}

func newGetCommand(g *globals) *cobra.Command {
	var enc encoding
	cmd := &cobra.Command{
		Use:   "get [POOL] KEY",
		Short: "Print the value stored under KEY",
		Long: `Print the value stored under KEY: its raw bytes (a newline follows only
when standard output is a terminal), or encoded with --hex or --base64,
or as a JSON object with --json. An absent key exits with status 1 and
"not found" on standard error.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withDB(args, 1, true, func(db *kv.DB, rest []string) error {
				k, err := enc.decode("key", rest[0])
				if err != nil {
					return err
				}
				v, err := db.Get(k)
				if err != nil {
					return fmt.Errorf("get %q: %w", rest[0], err)
				}
				out := cmd.OutOrStdout()
				switch {
				case g.json:
					return writeJSON(out, makePair(k, v))
				case enc.hex || enc.base64:
					_, err = fmt.Fprintln(out, enc.encode(v))
				default:
					if _, err = out.Write(v); err == nil && isTerminal(out) {
						_, err = fmt.Fprintln(out)
					}
				}
				return err
			})
		},
	}
	enc.flags(cmd)
	return cmd
}

func newDeleteCommand(g *globals) *cobra.Command {
	var enc encoding
	cmd := &cobra.Command{
		Use:     "delete [POOL] KEY",
		Aliases: []string{"del", "rm"},
		Short:   "Remove KEY (removing an absent key is not an error)",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withDB(args, 1, false, func(db *kv.DB, rest []string) error {
				k, err := enc.decode("key", rest[0])
				if err != nil {
					return err
				}
				return db.Delete(k)
			})
		},
	}
	enc.flags(cmd)
	return cmd
}
