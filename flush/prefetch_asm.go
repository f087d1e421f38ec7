//go:build amd64 || arm64

package flush

// prefetch issues PREFETCHT0 (amd64) or PRFM PLDL1KEEP (arm64) for the line
// holding *p.
//
//go:noescape
func prefetch(p *byte)
