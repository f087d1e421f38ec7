//go:build amd64

#include "textflag.h"

// func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// The flush loops round p down to its 64-byte line and step one line at a
// time until they pass p+n.

// func flushCLWB(p unsafe.Pointer, n uintptr)
TEXT ·flushCLWB(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), CX
	ADDQ AX, CX
	ANDQ $~63, AX
clwbloop:
	CLWB (AX)
	ADDQ $64, AX
	CMPQ AX, CX
	JB   clwbloop
	RET

// func flushCLFLUSHOPT(p unsafe.Pointer, n uintptr)
TEXT ·flushCLFLUSHOPT(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), CX
	ADDQ AX, CX
	ANDQ $~63, AX
optloop:
	CLFLUSHOPT (AX)
	ADDQ $64, AX
	CMPQ AX, CX
	JB   optloop
	RET

// func flushCLFLUSH(p unsafe.Pointer, n uintptr)
TEXT ·flushCLFLUSH(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), CX
	ADDQ AX, CX
	ANDQ $~63, AX
clfloop:
	CLFLUSH (AX)
	ADDQ $64, AX
	CMPQ AX, CX
	JB   clfloop
	RET

// func sfence()
TEXT ·sfence(SB), NOSPLIT, $0-0
	SFENCE
	RET

// func copyNT(dst, src unsafe.Pointer, n uintptr) (head, tail uintptr)
//
// n >= 128, so at least one whole 64-byte line of dst lies between head and
// tail. SSE2 (MOVOU, MOVNTO = MOVNTDQ) is baseline on amd64.
TEXT ·copyNT(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

	// head = -dst & 63: bytes up to dst's next 64-byte boundary.
	MOVQ DI, AX
	NEGQ AX
	ANDQ $63, AX
	MOVQ AX, head+24(FP)
	SUBQ AX, CX

	// Head: single bytes up to an 8-byte boundary, then 8-byte words.
	MOVQ AX, DX
	ANDQ $7, DX
	JZ   headwords
headbytes:
	MOVBLZX (SI), BX
	MOVB    BX, (DI)
	INCQ    SI
	INCQ    DI
	DECQ    DX
	JNZ     headbytes
headwords:
	SHRQ $3, AX
	JZ   lines
headwordloop:
	MOVQ (SI), BX
	MOVQ BX, (DI)
	ADDQ $8, SI
	ADDQ $8, DI
	DECQ AX
	JNZ  headwordloop

lines:
	// DI is now 64-byte aligned. tail = CX & 63; CX>>6 whole lines.
	MOVQ CX, DX
	ANDQ $63, DX
	MOVQ DX, tail+32(FP)
	SHRQ $6, CX
	JZ   tail
lineloop:
	MOVOU  0(SI), X0
	MOVOU  16(SI), X1
	MOVOU  32(SI), X2
	MOVOU  48(SI), X3
	MOVNTO X0, 0(DI)
	MOVNTO X1, 16(DI)
	MOVNTO X2, 32(DI)
	MOVNTO X3, 48(DI)
	ADDQ   $64, SI
	ADDQ   $64, DI
	DECQ   CX
	JNZ    lineloop

tail:
	// Tail: 8-byte words, then single bytes.
	MOVQ DX, AX
	SHRQ $3, AX
	JZ   tailbytes
tailwordloop:
	MOVQ (SI), BX
	MOVQ BX, (DI)
	ADDQ $8, SI
	ADDQ $8, DI
	DECQ AX
	JNZ  tailwordloop
tailbytes:
	ANDQ $7, DX
	JZ   done
tailbyteloop:
	MOVBLZX (SI), BX
	MOVB    BX, (DI)
	INCQ    SI
	INCQ    DI
	DECQ    DX
	JNZ     tailbyteloop
done:
	RET

// func prefetch(p *byte)
TEXT ·prefetch(SB), NOSPLIT, $0-8
	MOVQ p+0(FP), AX
	PREFETCHT0 (AX)
	RET
