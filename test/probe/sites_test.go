package probe_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"
)

// The instruction bytes the kernel emulates at a uprobe on amd64 (see
// branch_setup_xol_ops and push_setup_xol_ops in arch/x86/kernel/uprobes.c),
// written out here independently of the helper's disassembler.
func x86Emulated(b []byte) bool {
	i := 0
	for i < len(b) && (b[i] == 0x66 || b[i] == 0x41 || b[i] == 0x40) {
		i++
	}
	prefixed := i > 0 && b[0] == 0x66
	if i+1 >= len(b) {
		return false
	}
	op := b[i]
	switch {
	case op == 0x90, op == 0x0f && b[i+1] == 0x1f: // NOP, NOPL/NOPW
		return true
	case prefixed:
		return false
	case op == 0xe8, op == 0xe9, op == 0xeb, op >= 0x70 && op <= 0x7f: // CALL, JMP, Jcc rel8
		return true
	case op == 0x0f && b[i+1] >= 0x80 && b[i+1] <= 0x8f: // Jcc rel32
		return true
	case op >= 0x50 && op <= 0x57: // PUSH reg
		return true
	}
	return false
}

// arm64: B, BL, B.cond, CBZ/CBNZ, TBZ/TBNZ, BR/BLR/RET (simulate-insn.c).
func arm64Emulated(w uint32) bool {
	switch {
	case w&0x7c000000 == 0x14000000: // B, BL
		return true
	case w&0xff000010 == 0x54000000: // B.cond
		return true
	case w&0x7e000000 == 0x34000000: // CBZ, CBNZ
		return true
	case w&0x7e000000 == 0x36000000: // TBZ, TBNZ
		return true
	case w&0xff9ffc1f == 0xd61f0000: // BR, BLR, RET (br/blr/ret Xn)
		return true
	}
	return false
}

type siteReport struct {
	GoVersion string `json:"goVersion"`
	Arch      string `json:"arch"`
	Sites     []struct {
		Role        string   `json:"role"`
		Func        string   `json:"func"`
		Insn        string   `json:"insn"`
		Stepped     bool     `json:"stepped"`
		RequestPath bool     `json:"requestPath"`
		Offsets     []uint64 `json:"offsets"`
	} `json:"sites"`
}

// Every probe hit on a request's path must be at an instruction the kernel
// emulates: a single-stepped one costs ten times more. Checked on the sample
// built with each Go release under test, for amd64 and arm64, by reading
// the bytes at each chosen offset.
func TestProbeSitesAreEmulated(t *testing.T) {
	for _, tc := range toolchains {
		for _, arch := range []string{"amd64", "arm64"} {
			t.Run(tc+"/"+arch, func(t *testing.T) {
				bin := sampleFor(t, tc, "", "GOARCH="+arch, "CGO_ENABLED=0")
				roles := checkSitesEmulated(t, bin, arch)
				for _, want := range []string{"request-start", "request-end", "goroutine-start", "gin-route", "round-trip"} {
					if !roles[want] {
						t.Errorf("no %s probe placed", want)
					}
				}
			})
		}
	}
}

// checkSitesEmulated asks the helper where its probes go in bin and checks
// that every site on a request's path is an instruction the kernel
// emulates, by reading its bytes; it returns the roles placed.
func checkSitesEmulated(t *testing.T, bin, arch string) map[string]bool {
	t.Helper()
	out, err := exec.Command(helperBin, "sites", bin).Output()
	if err != nil {
		t.Fatalf("helper sites: %v", err)
	}
	var r siteReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r.Arch != arch {
		t.Fatalf("arch %q, want %q", r.Arch, arch)
	}
	code, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]bool{}
	for _, s := range r.Sites {
		roles[s.Role] = true
		if !s.RequestPath {
			continue
		}
		if s.Stepped {
			t.Errorf("%s: %s at a single-stepped %s", s.Role, s.Func, s.Insn)
		}
		for _, off := range s.Offsets {
			ok := false
			if arch == "amd64" {
				ok = x86Emulated(code[off : off+8])
			} else {
				w := uint32(code[off]) | uint32(code[off+1])<<8 | uint32(code[off+2])<<16 | uint32(code[off+3])<<24
				ok = arm64Emulated(w)
			}
			if !ok {
				t.Errorf("%s: %s at file offset %#x: bytes % x are not an instruction the kernel emulates", s.Role, s.Func, off, code[off:off+8])
			}
		}
	}
	return roles
}
