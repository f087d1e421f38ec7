//go:build !unix

package flush

import (
	"os"
	"testing"
)

func mapFile(tb testing.TB, _ int) ([]byte, *os.File) {
	tb.Skip("needs a Unix shared file mapping")
	return nil, nil
}
