//go:build !amd64 && !arm64

package flush

func prefetch(*byte) {}
