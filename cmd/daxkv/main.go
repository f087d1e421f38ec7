// Command daxkv is the command line tool of the daxkv store: it puts, gets,
// deletes and scans keys of a pool, checks a pool, and runs a demo.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/daxkv/daxkv/kv"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "daxkv:", trimPrefix(err.Error())+hint(err))
		os.Exit(1)
	}
}

// hint says what to do about err, where there is something to say.
func hint(err error) string {
	if errors.Is(err, kv.ErrLocked) {
		return "\n(a pool is open in one process at a time; --wait DURATION waits for it to be closed)"
	}
	return ""
}
