package inspect

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/arch/arm64/arm64asm"
	"golang.org/x/arch/x86/x86asm"
)

// A uprobe costs what the kernel does at the probed instruction. It
// emulates a few instruction kinds in the trap handler and single-steps
// every other one out of line, which costs ten times more on a VM:
//
//   - amd64 (arch/x86/kernel/uprobes.c): CALL rel32, JMP rel8/rel32, Jcc,
//     NOPs (0x90 and 0F 1F), PUSH reg; RET and everything else is stepped.
//   - arm64 (arch/arm64/kernel/probes/simulate-insn.c): B, BL, B.cond,
//     CBZ/CBNZ, TBZ/TBNZ, BR/BLR/RET, ADR/ADRP, LDR (literal); the rest,
//     the STP/MOVD.W of a prologue included, is stepped.
//
// The probe sites below are chosen to be emulated instructions.

// Site is one instruction to put a uprobe on.
type Site struct {
	Func    string `json:"func"`    // the function that contains it
	Offset  uint64 `json:"offset"`  // file offset
	Insn    string `json:"insn"`    // its class: call, jmp, jcc, nop, push, bl, b, …, or the mnemonic
	Stepped bool   `json:"stepped"` // the kernel single-steps it (slow) rather than emulating it
	// AtEntry: the site is its function's entry, before the prologue saves
	// the frame pointer, so the return address is not in a frame record
	// yet (the probes' stack walk reads it at the stack pointer on amd64,
	// from the link register on arm64).
	AtEntry bool `json:"-"`
}

// ErrNoSite means no instruction of the wanted shape was found.
var ErrNoSite = errors.New("no probe site found")

// Insn decodes the instruction at the start of code and says how the
// kernel handles a uprobe there, and the instruction's length.
func Insn(arch string, code []byte) (class string, stepped bool, length int) {
	switch arch {
	case "amd64":
		inst, err := x86asm.Decode(code, 64)
		if err != nil || inst.Len == 0 {
			return "invalid", true, 1
		}
		return x86Class(inst, code)
	case "arm64":
		if len(code) < 4 {
			return "invalid", true, 4
		}
		inst, err := arm64asm.Decode(code[:4])
		if err != nil {
			return "invalid", true, 4
		}
		return arm64Class(inst), !arm64Emulated(inst), 4
	}
	return "invalid", true, 1
}

func x86Class(inst x86asm.Inst, code []byte) (string, bool, int) {
	op16 := false
	for _, p := range inst.Prefix {
		if p&0xff == 0x66 {
			op16 = true
		}
	}
	switch {
	case inst.Op == x86asm.NOP:
		// 0x90 with any prefix, and the multi-byte 0F 1F /0 forms.
		return "nop", false, inst.Len
	case inst.Op == x86asm.CALL && inst.Opcode>>24 == 0xe8 && !op16:
		return "call", false, inst.Len
	case inst.Op == x86asm.JMP && (inst.Opcode>>24 == 0xeb || inst.Opcode>>24 == 0xe9) && !op16:
		return "jmp", false, inst.Len
	case isJcc(inst.Op) && !op16:
		if _, ok := inst.Args[0].(x86asm.Rel); ok {
			return "jcc", false, inst.Len
		}
	case inst.Op == x86asm.PUSH:
		if _, ok := inst.Args[0].(x86asm.Reg); ok && !op16 {
			return "push", false, inst.Len
		}
	}
	return strings.ToLower(inst.Op.String()), true, inst.Len
}

func isJcc(op x86asm.Op) bool {
	switch op {
	case x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JE, x86asm.JG, x86asm.JGE, x86asm.JL,
		x86asm.JLE, x86asm.JNE, x86asm.JNO, x86asm.JNP, x86asm.JNS, x86asm.JO, x86asm.JP, x86asm.JS:
		return true
	}
	return false
}

func arm64Class(inst arm64asm.Inst) string {
	s := inst.Op.String()
	if _, cond := inst.Args[0].(arm64asm.Cond); inst.Op == arm64asm.B && cond {
		return "b.cond"
	}
	return strings.ToLower(s)
}

func arm64Emulated(inst arm64asm.Inst) bool {
	switch inst.Op {
	case arm64asm.B, arm64asm.BL, arm64asm.CBZ, arm64asm.CBNZ, arm64asm.TBZ, arm64asm.TBNZ,
		arm64asm.BR, arm64asm.BLR, arm64asm.RET, arm64asm.ADR, arm64asm.ADRP:
		return true
	case arm64asm.LDR, arm64asm.LDRSW:
		_, literal := inst.Args[1].(arm64asm.PCRel)
		return literal
	}
	return false
}

// code returns a function's machine code and its place in the file.
func (b *Binary) code(name string) (Func, []byte, error) {
	fn, err := b.Func(name)
	if err != nil {
		return fn, nil, err
	}
	code := make([]byte, fn.End-fn.Entry)
	if _, err := b.f.ReadAt(code, int64(fn.Offset)); err != nil {
		return fn, nil, fmt.Errorf("%s: reading code: %w", name, err)
	}
	return fn, code, nil
}

func (b *Binary) site(fn Func, code []byte, off uint64) Site {
	class, stepped, _ := Insn(b.Arch, code[off:])
	return Site{Func: fn.Name, Offset: fn.Offset + off, Insn: class, Stepped: stepped}
}

// EntrySite is the first instruction after the prologue's stack check
// (see Func.Probe): arguments are still in their registers, and a stack
// growth, which restarts the function, does not fire it twice.
func (b *Binary) EntrySite(name string) (Site, error) {
	fn, code, err := b.code(name)
	if err != nil {
		return Site{}, err
	}
	s := b.site(fn, code, fn.Probe-fn.Offset)
	s.AtEntry = true
	return s, nil
}

// inst is one decoded instruction of a function.
type inst struct {
	off, len uint64
	call     uint64 // target of a direct call, else 0
	branch   uint64 // target of a direct jump or conditional jump, else 0
}

// decode walks a function's instructions, with the link-time targets of
// its direct calls and the in-function offsets of its direct branches.
func (b *Binary) decode(fn Func, code []byte) []inst {
	var out []inst
	switch b.Arch {
	case "amd64":
		for i := 0; i < len(code); {
			x, err := x86asm.Decode(code[i:], 64)
			if err != nil || x.Len == 0 {
				i++
				continue
			}
			in := inst{off: uint64(i), len: uint64(x.Len)}
			if rel, ok := x.Args[0].(x86asm.Rel); ok {
				target := uint64(int64(fn.Entry) + int64(i+x.Len) + int64(rel))
				if x.Op == x86asm.CALL {
					in.call = target
				} else if target >= fn.Entry && target < fn.End {
					in.branch = target - fn.Entry
				}
			}
			out = append(out, in)
			i += x.Len
		}
	case "arm64":
		for i := 0; i+4 <= len(code); i += 4 {
			in := inst{off: uint64(i), len: 4}
			if x, err := arm64asm.Decode(code[i : i+4]); err == nil {
				for _, a := range x.Args {
					rel, ok := a.(arm64asm.PCRel)
					if !ok {
						continue
					}
					target := uint64(int64(fn.Entry) + int64(i) + int64(rel))
					if x.Op == arm64asm.BL {
						in.call = target
					} else if x.Op != arm64asm.ADR && x.Op != arm64asm.ADRP && x.Op != arm64asm.LDR && target >= fn.Entry && target < fn.End {
						in.branch = target - fn.Entry
					}
				}
			}
			out = append(out, in)
		}
	}
	return out
}

// calls decodes caller and finds the instructions that call callee directly.
func (b *Binary) calls(caller, callee string) (fn Func, code []byte, insts []inst, at []int, err error) {
	if fn, code, err = b.code(caller); err != nil {
		return
	}
	target, err := b.Func(callee)
	if err != nil {
		return
	}
	insts = b.decode(fn, code)
	for i, in := range insts {
		if in.call == target.Entry {
			at = append(at, i)
		}
	}
	if len(at) == 0 {
		err = fmt.Errorf("%s calls %s nowhere directly (inlined?): %w", caller, callee, ErrNoSite)
	}
	return
}

// CallSites returns each direct call of callee in caller: the call
// instruction itself, where the callee's arguments are in their registers.
func (b *Binary) CallSites(caller, callee string) ([]Site, error) {
	fn, code, insts, at, err := b.calls(caller, callee)
	if err != nil {
		return nil, err
	}
	sites := make([]Site, len(at))
	for i, j := range at {
		sites[i] = b.site(fn, code, insts[j].off)
	}
	return sites, nil
}

// SitesAfterCall returns, for each direct call of callee in caller, the
// first emulated instruction that runs after the callee returns, in
// straight-line code: no branch of the function lands between the call
// and the site, so the site runs exactly once per return of that call.
// Only direct branches are seen; Go's jump tables (switch statements)
// land on case bodies, which are not this kind of code.
func (b *Binary) SitesAfterCall(caller, callee string) ([]Site, error) {
	return b.sitesAfterCall(caller, callee, false)
}

// ResultSitesAfterCall is SitesAfterCall where, in addition, no
// instruction between the call and the site writes a register (only
// NOPs, compares and tests run there): the callee's results are still in
// their registers at the site. Other paths of the function may join
// before the site (a shared error check): the program there must act
// only on a call it saw start.
func (b *Binary) ResultSitesAfterCall(caller, callee string) ([]Site, error) {
	return b.sitesAfterCall(caller, callee, true)
}

func (b *Binary) sitesAfterCall(caller, callee string, keepResults bool) ([]Site, error) {
	fn, code, insts, at, err := b.calls(caller, callee)
	if err != nil {
		return nil, err
	}
	landing := map[uint64]bool{}
	for _, in := range insts {
		if in.branch != 0 {
			landing[in.branch] = true
		}
	}
	var sites []Site
	for _, i := range at {
		// A NOP only if nothing else will do: older kernels emulate the
		// one-byte 0x90 but not the multi-byte NOPs Go pads calls with.
		var found, nop *Site
		kept := true
		for j := i + 1; j < len(insts) && j <= i+16; j++ {
			// Another path may join here. A site for the results may
			// still come after: its program runs only for a call it saw
			// start in the same goroutine.
			if landing[insts[j].off] && !keepResults {
				break
			}
			s := b.site(fn, code, insts[j].off)
			if !s.Stepped && s.Insn != "nop" && kept {
				found = &s
				break
			}
			if !s.Stepped && nop == nil && kept {
				nop = &s
			}
			if s.Insn == "ret" || s.Insn == "jmp" {
				break
			}
			if keepResults && !writesNoRegister(b.Arch, code[insts[j].off:insts[j].off+insts[j].len]) {
				kept = false
			}
		}
		if found == nil {
			found = nop
		}
		if found != nil {
			sites = append(sites, *found)
		} else {
			return nil, fmt.Errorf("no emulated instruction right after %s's call of %s: %w", caller, callee, ErrNoSite)
		}
	}
	return sites, nil
}

// writesNoRegister: a NOP, a compare or a test, which set flags only, or
// a store of a register to memory (a result spilled to the stack; on arm64
// one that does not write its base register back).
func writesNoRegister(arch string, code []byte) bool {
	switch arch {
	case "amd64":
		x, err := x86asm.Decode(code, 64)
		if err != nil {
			return false
		}
		if x.Op == x86asm.MOV {
			_, toMem := x.Args[0].(x86asm.Mem)
			_, fromReg := x.Args[1].(x86asm.Reg)
			return toMem && fromReg
		}
		return x.Op == x86asm.NOP || x.Op == x86asm.TEST || x.Op == x86asm.CMP
	case "arm64":
		x, err := arm64asm.Decode(code)
		if err != nil {
			return false
		}
		switch x.Op {
		case arm64asm.STR, arm64asm.STUR, arm64asm.STP:
			for _, a := range x.Args {
				if m, ok := a.(arm64asm.MemImmediate); ok {
					return m.Mode == arm64asm.AddrOffset
				}
			}
			return false
		}
		return x.Op == arm64asm.NOP || x.Op == arm64asm.CMP || x.Op == arm64asm.CMN || x.Op == arm64asm.TST
	}
	return false
}

// ReturnSites returns the function's return instructions: what a probe
// at the function's end must use when no emulated site will do (the
// kernel single-steps a RET on amd64).
func (b *Binary) ReturnSites(name string) ([]Site, error) {
	fn, code, err := b.code(name)
	if err != nil {
		return nil, err
	}
	rets, err := findReturns(b.Arch, code)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(rets) == 0 {
		return nil, fmt.Errorf("%s: no return instruction found: %w", name, ErrNoSite)
	}
	sites := make([]Site, len(rets))
	for i, r := range rets {
		sites[i] = b.site(fn, code, r)
	}
	return sites, nil
}
