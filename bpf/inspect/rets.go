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
