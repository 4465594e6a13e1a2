package probe

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// maxBPFStack is the stack a program and every function it calls share
// (the kernel's MAX_BPF_STACK); the verifier rounds each frame up to 32
// bytes before adding them.
const maxBPFStack = 512

// frames returns, for each function of a program's instructions (the
// program itself first, then the subprograms linked after it), the
// lowest stack offset its code uses and the functions it calls or hands
// to a helper as a callback (bpf_loop's run on the caller's stack).
func frames(insns asm.Instructions) (order []string, frame map[string]int, calls map[string][]string) {
	frame, calls = map[string]int{}, map[string][]string{}
	fn := ""
	fromFP := map[asm.Register]bool{} // registers holding a copy of r10
	for i := range insns {
		ins := &insns[i]
		if s := ins.Symbol(); s != "" {
			fn = s
			order = append(order, fn)
			clear(fromFP)
		}
		low := func(off int) {
			if off < 0 && -off > frame[fn] {
				frame[fn] = -off
			}
		}
		op := ins.OpCode
		switch {
		case ins.IsFunctionCall() || ins.IsLoadOfFunctionPointer():
			calls[fn] = append(calls[fn], ins.Reference())
		case op.Class().IsLoad() && ins.Src == asm.R10:
			low(int(ins.Offset))
		case op.Class().IsStore() && ins.Dst == asm.R10:
			low(int(ins.Offset))
		case op.Class().IsALU() && op.ALUOp() == asm.Mov && op.Source() == asm.RegSource && ins.Src == asm.R10:
			fromFP[ins.Dst] = true
			continue
		case op.Class().IsALU() && op.ALUOp() == asm.Add && op.Source() == asm.ImmSource && fromFP[ins.Dst]:
			low(int(ins.Constant))
			continue
		}
		if op.Class().IsALU() || op.Class().IsLoad() {
			delete(fromFP, ins.Dst)
		}
		if op.Class().IsJump() && op.JumpOp() == asm.Call {
			for r := asm.R0; r <= asm.R5; r++ {
				delete(fromFP, r)
			}
		}
	}
	return order, frame, calls
}

func roundFrame(n int) int { return (max(n, 1) + 31) &^ 31 }

// deepest is the stack a call chain from fn takes at most, and the chain.
func deepest(fn string, frame map[string]int, calls map[string][]string, seen map[string]bool) (int, []string) {
	if seen[fn] {
		return 0, nil // recursion is refused by the verifier anyway
	}
	seen[fn] = true
	defer delete(seen, fn)
	best, chain := 0, []string(nil)
	for _, c := range calls[fn] {
		if d, ch := deepest(c, frame, calls, seen); d > best {
			best, chain = d, ch
		}
	}
	return roundFrame(frame[fn]) + best, append([]string{fmt.Sprintf("%s (%d bytes)", fn, frame[fn])}, chain...)
}

// Every program's stack, with that of the deepest chain of functions it
// calls, fits the verifier's 512 bytes as the compiler laid the frames
// out, each rounded up to 32 bytes. A kernel's verifier counts at most
// that (it counts the slots the paths it walks use); kernels differ in
// how much less they count (6.18.44 refused a sys_enter that earlier
// 6.18 kernels loaded), so the bound that holds on every kernel is this
// one. Both architectures' objects are checked.
func TestStackFitsEveryVerifier(t *testing.T) {
	for _, obj := range []string{"probe_x86_bpfel.o", "probe_arm64_bpfel.o"} {
		spec, err := ebpf.LoadCollectionSpec(obj)
		if err != nil {
			t.Fatal(err)
		}
		for name, ps := range spec.Programs {
			order, frame, calls := frames(ps.Instructions)
			if len(order) == 0 || order[0] != ps.Name {
				t.Fatalf("%s %s: the instructions do not start with the program's symbol (%v)", obj, name, order)
			}
			d, chain := deepest(ps.Name, frame, calls, map[string]bool{})
			if d > maxBPFStack {
				t.Errorf("%s: program %s and the functions it calls take %d bytes of stack, over %d: %s",
					obj, name, d, maxBPFStack, strings.Join(chain, " -> "))
			}
		}
	}
}

// The bound above sees stack use where clang puts it: directly, through
// a copy of r10 with an offset added, and in a called function.
func TestFramesSeeStackUse(t *testing.T) {
	insns := asm.Instructions{
		asm.StoreImm(asm.R10, -8, 0, asm.DWord).WithSymbol("prog"),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -200),
		asm.Call.Label("sub"),
		asm.Return(),
		asm.LoadMem(asm.R0, asm.R10, -40, asm.DWord).WithSymbol("sub"),
		asm.Return(),
	}
	_, frame, calls := frames(insns)
	if frame["prog"] != 200 || frame["sub"] != 40 {
		t.Fatalf("frames %v, want prog 200, sub 40", frame)
	}
	if d, _ := deepest("prog", frame, calls, map[string]bool{}); d != 224+64 {
		t.Fatalf("deepest %d, want 288", d)
	}
}
