package alloc

import "errors"

var (
	// ErrTooLarge is returned by Alloc when the request is larger than
	// MaxExtent (half a chunk): no pool growth can satisfy it.
	ErrTooLarge = errors.New("daxkv: allocation larger than the maximum extent")

	// ErrFull is returned, unwrapped, by Alloc when no free extent of the size
	// exists even after merging adjacent free space. The caller grows the
	// pool, calls Grow and retries.
	ErrFull = errors.New("daxkv: no free extent: the pool must grow")

	// ErrBadExtent is wrapped by the errors of ValidGeometry and
	// Builder.ValidExtent when a pool geometry or an extent found on the media
	// cannot be right.
	ErrBadExtent = errors.New("daxkv: bad pool geometry or extent")
)
