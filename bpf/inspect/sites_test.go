package inspect

import (
	"encoding/binary"
	"testing"
)

func TestInsnClasses(t *testing.T) {
	le := func(w uint32) []byte { return binary.LittleEndian.AppendUint32(nil, w) }
	for _, c := range []struct {
		arch    string
		code    []byte
		class   string
		stepped bool
	}{
		{"amd64", []byte{0x55}, "push", false},                              // PUSHQ BP
		{"amd64", []byte{0x41, 0x56}, "push", false},                        // PUSHQ R14
		{"amd64", []byte{0xe8, 1, 2, 3, 4}, "call", false},                  // CALL rel32
		{"amd64", []byte{0xff, 0xd2}, "call", true},                         // CALL DX
		{"amd64", []byte{0xeb, 0x00}, "jmp", false},                         // JMP rel8
		{"amd64", []byte{0xe9, 0, 0, 0, 0}, "jmp", false},                   // JMP rel32
		{"amd64", []byte{0x76, 0x10}, "jcc", false},                         // JBE rel8
		{"amd64", []byte{0x0f, 0x86, 0, 0, 0, 0}, "jcc", false},             // JBE rel32
		{"amd64", []byte{0x90}, "nop", false},                               // NOP
		{"amd64", []byte{0x0f, 0x1f, 0x44, 0x00, 0x00}, "nop", false},       // NOPL
		{"amd64", []byte{0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00}, "nop", false}, // NOPW
		{"amd64", []byte{0xc3}, "ret", true},                                // RET
		{"amd64", []byte{0x49, 0x3b, 0x66, 0x10}, "cmp", true},              // CMPQ SP, 0x10(R14)
		{"amd64", []byte{0x48, 0x89, 0xe5}, "mov", true},                    // MOVQ SP, BP
		{"amd64", []byte{0x66, 0xe8, 1, 2}, "", true},                       // CALLW: the kernel refuses 0x66
		{"arm64", le(0x94000010), "bl", false},                              // BL
		{"arm64", le(0x14000010), "b", false},                               // B
		{"arm64", le(0x54000209), "b.cond", false},                          // B.LS
		{"arm64", le(0xb4000040), "cbz", false},                             // CBZ
		{"arm64", le(0xd63f0080), "blr", false},                             // BLR X4
		{"arm64", le(0xd65f03c0), "ret", false},                             // RET
		{"arm64", le(0xf81d0ffe), "str", true},                              // MOVD.W R30, -48(RSP)
		{"arm64", le(0xa9bf7bfd), "stp", true},                              // STP
	} {
		class, stepped, _ := Insn(c.arch, c.code)
		if c.class != "" && class != c.class || stepped != c.stepped {
			t.Errorf("%s % x: %s stepped=%v, want %s stepped=%v", c.arch, c.code, class, stepped, c.class, c.stepped)
		}
	}
}

// The sites of a real binary: an entry after the stack check, each direct
// call, and the first emulated instruction after a call.
func TestSites(t *testing.T) {
	b := open(t, testBinaries(t)["full"])
	e, err := b.EntrySite("net/http.serverHandler.ServeHTTP")
	if err != nil || e.Stepped || e.Insn != "push" {
		t.Errorf("entry %+v %v", e, err)
	}
	calls, err := b.CallSites("runtime.newproc.func1", "runtime.runqput")
	if err != nil || len(calls) != 1 || calls[0].Insn != "call" {
		t.Errorf("call sites %+v %v", calls, err)
	}
	after, err := b.SitesAfterCall("net/http.(*conn).serve", "net/http.serverHandler.ServeHTTP")
	if err != nil || len(after) != 1 || after[0].Stepped {
		t.Errorf("after call %+v %v", after, err)
	}
	conn, _ := b.Func("net/http.(*conn).serve")
	if len(after) == 1 && (after[0].Offset <= conn.Offset || after[0].Offset >= conn.Offset+conn.End-conn.Entry) {
		t.Errorf("after-call site %#x outside conn.serve", after[0].Offset)
	}
	if _, err := b.CallSites("runtime.newproc.func1", "main.callOut"); err == nil {
		t.Errorf("a call that is not there was found")
	}
}
