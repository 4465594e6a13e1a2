package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDeniedReason(t *testing.T) {
	mine := procStatus{uids: [3]int{1000, 1000, 1000}, gids: [3]int{1000, 1000, 1000}}
	with := func(f func(*procStatus)) procStatus { s := mine; f(&s); return s }
	for _, c := range []struct {
		name      string
		st        procStatus
		dumpOwner int
		scope     int
		want      string // "" = allowed
	}{
		{"own process", mine, 1000, 0, ""},
		{"own process, Yama scope 1 (left to the kernel)", mine, 1000, 1, ""},
		{"root's", with(func(s *procStatus) { s.uids = [3]int{0, 0, 0} }), 0, 0, "uids are 0, 0, 0"},
		{"set-uid root from mine", with(func(s *procStatus) { s.uids[1], s.uids[2] = 0, 0 }), 0, 0, "uids are 1000, 0, 0"},
		{"saved uid differs", with(func(s *procStatus) { s.uids[2] = 0 }), 1000, 0, "uids are 1000, 1000, 0"},
		{"set-gid", with(func(s *procStatus) { s.gids[1] = 42 }), 1000, 0, "gids are 1000, 42, 1000"},
		{"permitted capabilities", with(func(s *procStatus) { s.capPrm = 1 << 10 }), 1000, 0, "holds capabilities (CapPrm 0000000000000400)"},
		{"ambient capabilities", with(func(s *procStatus) { s.capAmb = 1 }), 1000, 0, "holds capabilities"},
		{"not dumpable", mine, 0, 0, "not dumpable"},
		{"Yama scope 2", mine, 1000, 2, "ptrace_scope is 2"},
		{"Yama scope 3", mine, 1000, 3, "ptrace_scope is 3"},
	} {
		got := deniedReason(c.st, 1000, 1000, c.dumpOwner, c.scope)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: deniedReason = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestReadProcStatus(t *testing.T) {
	st, err := readProcStatus(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.uids != [3]int{os.Getuid(), os.Geteuid(), os.Getuid()} || st.gids[0] != os.Getgid() {
		t.Errorf("own status %+v, want uid %d gid %d", st, os.Getuid(), os.Getgid())
	}
	if st.capPrm != capSet("CapPrm") || st.capEff != capSet("CapEff") {
		t.Errorf("own capabilities %x/%x, want %x/%x", st.capPrm, st.capEff, capSet("CapPrm"), capSet("CapEff"))
	}
}

func TestPtraceScope(t *testing.T) {
	dir := t.TempDir()
	defer func(p string) { yamaScopePath = p }(yamaScopePath)
	for content, want := range map[string]int{"1\n": 1, "2": 2, "junk": 3} {
		yamaScopePath = filepath.Join(dir, "scope")
		os.WriteFile(yamaScopePath, []byte(content), 0o644)
		if got := ptraceScope(); got != want {
			t.Errorf("ptrace_scope %q: %d, want %d", content, got, want)
		}
	}
	yamaScopePath = filepath.Join(dir, "absent")
	if got := ptraceScope(); got != 0 {
		t.Errorf("without Yama: %d, want 0", got)
	}
}
