package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/kv"
)

// errUsage is returned for wrong arguments.
var errUsage = errors.New("daxkv: usage")

// globals are the flags every command shares.
type globals struct {
	pool string
	mode string
	json bool
}

func newRootCommand() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "daxkv",
		Short: "A persistent key-value store for persistent memory",
		Long: `daxkv stores keys and values in one pool file mapped into memory.
On a DAX filesystem over persistent memory it commits with CPU cache-line
flushes and a fence (MAP_SYNC); elsewhere through the page cache and msync.

Commands that take a pool accept it as --pool PATH or as their first argument.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.pool, "pool", "p", "", "pool file")
	root.PersistentFlags().StringVar(&g.mode, "mode", "auto", "durability mode: auto, on, off or emulated")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print machine-readable JSON")
	root.AddCommand(
		newPutCommand(g),
		newGetCommand(g),
		newDeleteCommand(g),
		newScanCommand(g),
		newStatsCommand(g),
		newCheckCommand(g),
		newRepairCommand(g),
		newInfoCommand(g),
		newDemoCommand(g),
		newCrashtestCommand(g),
	)
	return root
}

// poolArgs splits args into the pool path and the rest: the pool is --pool,
// or else the first argument when there are want+1 of them.
func (g *globals) poolArgs(args []string, want int) (string, []string, error) {
	switch {
	case g.pool != "" && len(args) == want:
		return g.pool, args, nil
	case g.pool == "" && len(args) == want+1:
		return args[0], args[1:], nil
	case g.pool == "":
		return "", nil, fmt.Errorf("%w: name the pool with --pool or as the first argument", errUsage)
	}
	return "", nil, fmt.Errorf("%w: want %d arguments after the pool, got %d", errUsage, want, len(args))
}

func (g *globals) open(path string, readOnly bool) (*kv.DB, error) {
	mode, err := kv.ParseDAXMode(g.mode)
	if err != nil {
		return nil, err
	}
	return kv.Open(path, &kv.Options{DAX: mode, ReadOnly: readOnly})
}

// withDB splits args (the pool and want more), opens the pool and runs fn
// on it, closing it afterwards and keeping the first error.
func (g *globals) withDB(args []string, want int, readOnly bool, fn func(db *kv.DB, rest []string) error) (err error) {
	path, rest, err := g.poolArgs(args, want)
	if err != nil {
		return err
	}
	db, err := g.open(path, readOnly)
	if err != nil {
		return err
	}
	defer closeDB(db, &err)
	return fn(db, rest)
}

// closeDB closes db and keeps the first error.
func closeDB(db *kv.DB, err *error) {
	if cerr := db.Close(); *err == nil {
		*err = cerr
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	return enc.Encode(v)
}

// trimPrefix drops the library's "daxkv: " prefix, which main prints once.
func trimPrefix(s string) string {
	for strings.HasPrefix(s, "daxkv: ") {
		s = strings.TrimPrefix(s, "daxkv: ")
	}
	return s
}
