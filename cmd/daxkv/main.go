// Command daxkv is the command line tool of the daxkv store: it puts, gets,
// deletes and scans keys of a pool, checks a pool, and runs a demo.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "daxkv:", trimPrefix(err.Error()))
		os.Exit(1)
	}
}
