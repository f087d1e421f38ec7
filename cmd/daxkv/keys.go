package main

import (
	"encoding/base64"
	"fmt"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/kv"
)

// jsonPair is how a key and value print as JSON: as strings when they are
// valid UTF-8, else base64 in the *_base64 fields.
type jsonPair struct {
	Key         string `json:"key,omitempty"`
	KeyBase64   string `json:"key_base64,omitempty"`
	Value       string `json:"value,omitempty"`
	ValueBase64 string `json:"value_base64,omitempty"`
}

func makePair(k, v []byte) jsonPair {
	var p jsonPair
	if utf8.Valid(k) {
		p.Key = string(k)
	} else {
		p.KeyBase64 = base64.StdEncoding.EncodeToString(k)
	}
	if utf8.Valid(v) {
		p.Value = string(v)
	} else {
		p.ValueBase64 = base64.StdEncoding.EncodeToString(v)
	}
	return p
}

func newPutCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "put [POOL] KEY VALUE",
		Short: "Store VALUE under KEY (durable when the command returns)",
		Args:  cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withDB(args, 2, false, func(db *kv.DB, rest []string) error {
				return db.Put([]byte(rest[0]), []byte(rest[1]))
			})
		},
	}
}

func newGetCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get [POOL] KEY",
		Short: "Print the value stored under KEY",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withDB(args, 1, true, func(db *kv.DB, rest []string) error {
				v, err := db.Get([]byte(rest[0]))
				if err != nil {
					return fmt.Errorf("get %q: %w", rest[0], err)
				}
				if g.json {
					return writeJSON(cmd.OutOrStdout(), makePair([]byte(rest[0]), v))
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", v)
				return err
			})
		},
	}
}

func newDeleteCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "delete [POOL] KEY",
		Aliases: []string{"del", "rm"},
		Short:   "Remove KEY (removing an absent key is not an error)",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withDB(args, 1, false, func(db *kv.DB, rest []string) error {
				return db.Delete([]byte(rest[0]))
			})
		},
	}
}
