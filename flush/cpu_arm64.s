//go:build arm64

#include "textflag.h"

// func readCTR() uint64
TEXT ·readCTR(SB), NOSPLIT|NOFRAME, $0-8
	MRS  CTR_EL0, R0
	MOVD R0, ret+0(FP)
	RET

// The loops round p down to its line (line is a power of two) and step one
// line at a time until they pass p+n.

// func dcCVAC(p unsafe.Pointer, n, line uintptr)
TEXT ·dcCVAC(SB), NOSPLIT|NOFRAME, $0-24
	MOVD p+0(FP), R0
	MOVD n+8(FP), R1
	MOVD line+16(FP), R2
	ADD  R0, R1, R1
	SUB  $1, R2, R3
	BIC  R3, R0, R0
cvacloop:
	DC   CVAC, R0 // 0xD50B7A20: SYS #3, C7, C10, #1, X0
	ADD  R2, R0, R0
	CMP  R1, R0
	BLO  cvacloop
	DSB  $15 // DSB SY, 0xD5033F9F
	RET

// func dcCVAP(p unsafe.Pointer, n, line uintptr)
TEXT ·dcCVAP(SB), NOSPLIT|NOFRAME, $0-24
	MOVD p+0(FP), R0
	MOVD n+8(FP), R1
	MOVD line+16(FP), R2
	ADD  R0, R1, R1
	SUB  $1, R2, R3
	BIC  R3, R0, R0
cvaploop:
	// DC CVAP, X0 is SYS #3, C7, C12, #1, X0. The Go assembler has no
	// mnemonic for it.
	WORD $0xD50B7C20
	ADD  R2, R0, R0
	CMP  R1, R0
	BLO  cvaploop
	DSB  $15 // DSB SY
	RET

// func dsbSY()
TEXT ·dsbSY(SB), NOSPLIT|NOFRAME, $0-0
	DSB $15 // DSB SY
	RET

// func prefetch(p *byte)
TEXT ·prefetch(SB), NOSPLIT|NOFRAME, $0-8
	MOVD p+0(FP), R0
	PRFM (R0), PLDL1KEEP
	RET
