//go:build !unix

package flush

import "errors"

// msync is unsupported without a Unix mapping; the store does not run here.
func msync([]byte) error {
	return errors.ErrUnsupported
}
