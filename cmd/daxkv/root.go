package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

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
	wait time.Duration
	// bars, when a command set them (showProgress), show the library's
	// progress reports for the pool it opens.
	bars *opBars
}

func newRootCommand() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "daxkv",
		Short: "A persistent key-value store for persistent memory",
		Long: `daxkv stores keys and values in one pool file mapped into memory.
On a DAX filesystem over persistent memory it commits with CPU cache-line
flushes and a fence (MAP_SYNC); elsewhere through the page cache and msync.

Commands that take a pool accept it as --pool PATH or as their first
argument; without either they use $DAXKV_POOL.`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if g.wait < 0 {
				return fmt.Errorf("%w: --wait %v is negative", errUsage, g.wait)
			}
			return nil
		},
	}
	root.PersistentFlags().StringVarP(&g.pool, "pool", "p", "", "pool file")
	root.PersistentFlags().StringVar(&g.mode, "mode", "auto", "durability mode: auto, on, off or emulated")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print machine-readable JSON")
	root.PersistentFlags().DurationVar(&g.wait, "wait", 0, "wait up to this long for another process to close the pool (default: fail at once)")
	root.AddCommand(
		newCreateCommand(g),
		newModeCommand(g),
		newPutCommand(g),
		newGetCommand(g),
		newDeleteCommand(g),
		newScanCommand(g),
		newStatsCommand(g),
		newCheckCommand(g),
		newRepairCommand(g),
		newCompactCommand(g),
		newInfoCommand(g),
		newDemoCommand(g),
		newBenchCommand(g),
		newExportCommand(g),
		newBackupCommand(g),
		newImportCommand(g),
		newCrashtestCommand(g),
	)
	return root
}

// poolEnv names the pool when neither --pool nor an argument does.
const poolEnv = "DAXKV_POOL"

// poolArgs splits args into the pool path and the rest: the pool is --pool,
// or else the first argument when there are want+1 of them, or else
// $DAXKV_POOL when there are want.
func (g *globals) poolArgs(args []string, want int) (string, []string, error) {
	env := os.Getenv(poolEnv)
	switch {
	case g.pool != "" && len(args) == want:
		return g.pool, args, nil
	case g.pool == "" && len(args) == want+1:
		return args[0], args[1:], nil
	case g.pool == "" && len(args) == want && env != "":
		return env, args, nil
	case g.pool == "":
		return "", nil, fmt.Errorf("%w: name the pool with --pool, as the first argument or in $%s", errUsage, poolEnv)
	}
	return "", nil, fmt.Errorf("%w: want %d arguments after the pool, got %d", errUsage, want, len(args))
}

func (g *globals) open(path string, readOnly bool) (*kv.DB, error) {
	mode, err := kv.ParseDAXMode(g.mode)
	if err != nil {
		return nil, err
	}
	return kv.Open(path, g.options(mode, readOnly))
}

// options are the kv.Options of a pool this command opens.
func (g *globals) options(mode kv.DAXMode, readOnly bool) *kv.Options {
	o := &kv.Options{DAX: mode, ReadOnly: readOnly, LockWait: g.wait}
	if g.bars != nil {
		o.Progress = g.bars.report
	}
	return o
}

// showProgress makes the pools this command opens show their long
// operations' progress on cmd's stderr, when it is a terminal and quiet is
// false. The returned function ends the last bar; call it before printing
// results.
func (g *globals) showProgress(cmd *cobra.Command, quiet bool) func() {
	g.bars = &opBars{w: cmd.ErrOrStderr(), quiet: quiet}
	return g.bars.end
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

// commit is set at link time by make build (-X main.commit=...), for
// builds the toolchain does not stamp (go run, -buildvcs=false).
var commit string

// version is the module's version and the commit it was built from, as
// the Go toolchain records them (go build in a git checkout stamps the
// commit), or as make build passed it.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	rev, dirty := commit, false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return fmt.Sprintf("%s (commit unknown, %s)", v, bi.GoVersion)
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return fmt.Sprintf("%s (commit %s, %s)", v, rev, bi.GoVersion)
}
