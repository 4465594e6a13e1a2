package inspect

import (
	"fmt"

	"golang.org/x/arch/arm64/arm64asm"
	"golang.org/x/arch/x86/x86asm"
)

// findReturns disassembles a function's code and returns the offsets (from
// the start of code) of its return instructions.
func findReturns(arch string, code []byte) ([]uint64, error) {
	var rets []uint64
	switch arch {
	case "amd64":
		for i := 0; i < len(code); {
			inst, err := x86asm.Decode(code[i:], 64)
			if err != nil || inst.Len == 0 {
				// Padding or data between functions: step over one byte.
				i++
				continue
			}
			if inst.Op == x86asm.RET {
				rets = append(rets, uint64(i))
			}
			i += inst.Len
		}
	case "arm64":
		for i := 0; i+4 <= len(code); i += 4 {
			inst, err := arm64asm.Decode(code[i : i+4])
			if err == nil && inst.Op == arm64asm.RET {
				rets = append(rets, uint64(i))
			}
		}
	default:
		return nil, fmt.Errorf("cannot disassemble %s", arch)
	}
	return rets, nil
}

// prologueEnd returns the offset (from the start of code) of the first
// instruction after the stack-bound check of a Go function prologue, or 0
// when the function has none (NOSPLIT). When the stack must grow, the
// prologue calls runtime.morestack, which re-runs the function from its
// entry: a probe on the entry would fire twice for one call. After the
// check it fires once.
func prologueEnd(arch string, code []byte) uint64 {
	const maxInsts = 8
	switch arch {
	case "amd64":
		for i, n := 0, 0; i < len(code) && n < maxInsts; n++ {
			inst, err := x86asm.Decode(code[i:], 64)
			if err != nil || inst.Len == 0 {
				return 0
			}
			next := i + inst.Len
			if inst.Op == x86asm.JBE {
				if rel, ok := inst.Args[0].(x86asm.Rel); ok && next+int(rel) > next {
					return uint64(next)
				}
			}
			i = next
		}
	case "arm64":
		for i, n := 0, 0; i+4 <= len(code) && n < maxInsts; i, n = i+4, n+1 {
			inst, err := arm64asm.Decode(code[i : i+4])
			if err != nil {
				return 0
			}
			if c, ok := inst.Args[0].(arm64asm.Cond); inst.Op == arm64asm.B && ok && c.Value == 9 { // B.LS
				return uint64(i + 4)
			}
		}
	}
	return 0
}
