#include "textflag.h"

// PUSHQ BP
TEXT ·pushReg(SB), NOSPLIT|NOFRAME, $0-0
	BYTE $0x55
	BYTE $0x5d // POPQ BP
	RET

// CALL rel32
TEXT ·callRel32(SB), NOSPLIT, $0-0
	CALL ·empty(SB)
	RET

TEXT ·empty(SB), NOSPLIT|NOFRAME, $0-0
	RET

// JMP rel8 to the next instruction
TEXT ·jmpRel8(SB), NOSPLIT|NOFRAME, $0-0
	BYTE $0xeb; BYTE $0x00
	RET

// JE rel8 to the next instruction
TEXT ·jcc(SB), NOSPLIT|NOFRAME, $0-0
	BYTE $0x74; BYTE $0x00
	RET

// NOP (one byte)
TEXT ·nop1(SB), NOSPLIT|NOFRAME, $0-0
	BYTE $0x90
	RET

// NOPL 0(AX)(AX*1), the alignment NOP Go emits before calls
TEXT ·nopl(SB), NOSPLIT|NOFRAME, $0-0
	BYTE $0x0f; BYTE $0x1f; BYTE $0x44; BYTE $0x00; BYTE $0x00
	RET

// NOPW 0(AX)(AX*1)
TEXT ·nopw(SB), NOSPLIT|NOFRAME, $0-0
	BYTE $0x66; BYTE $0x0f; BYTE $0x1f; BYTE $0x44; BYTE $0x00; BYTE $0x00
	RET

// CMPQ SP, 0x10(R14): a Go function's stack-bound check
TEXT ·cmpStackBound(SB), NOSPLIT|NOFRAME, $0-0
	BYTE $0x49; BYTE $0x3b; BYTE $0x66; BYTE $0x10
	RET

// MOVQ SP, BP... as MOVQ AX, DX (no effect on the caller)
TEXT ·movReg(SB), NOSPLIT|NOFRAME, $0-0
	BYTE $0x48; BYTE $0x89; BYTE $0xc2
	RET

// RET
TEXT ·ret(SB), NOSPLIT|NOFRAME, $0-0
	RET
