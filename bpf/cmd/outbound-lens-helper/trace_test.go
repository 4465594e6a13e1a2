package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseTraceFlags(t *testing.T) {
	f, err := parseTraceFlags([]string{"--cwd", "/srv", "--env", "A=1", "--env", "B=x=y", "--header", "x-id", "--", "./svc", "-addr", ":80"})
	if err != nil {
		t.Fatal(err)
	}
	if f.dir != "/srv" || !slices.Equal(f.env, headerList{"A=1", "B=x=y"}) || !slices.Equal(f.launch, []string{"./svc", "-addr", ":80"}) {
		t.Errorf("parsed %+v", f)
	}
	if !slices.Equal(f.headers, headerList{"traceparent", "x-id"}) {
		t.Errorf("headers %v", f.headers)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "give a target"},
		{[]string{"--pid", "1", "--", "/bin/x"}, "not both"},
		{[]string{"--pid", "1", "--cwd", "/"}, "apply to a binary to launch"},
		{[]string{"--pid", "1", "--env", "A=1"}, "apply to a binary to launch"},
		{[]string{"--pid", "1", "--env-file", "/dev/null"}, "apply to a binary to launch"},
		{[]string{"--env-file", "/nonexistent/env", "--", "/bin/x"}, "--env-file: open /nonexistent/env"},
		{[]string{"--env", "NOEQUALS", "--", "/bin/x"}, `--env "NOEQUALS": use NAME=VALUE`},
		{[]string{"--env", "=v", "--", "/bin/x"}, "use NAME=VALUE"},
		{[]string{"--format", "xml", "--pid", "1"}, "use text or ndjson"},
	} {
		if _, err := parseTraceFlags(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.args, err, c.want)
		}
	}
}

func TestEnvFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "env")
	os.WriteFile(path, []byte("# a comment\nDSN=postgres://u:p@h/db?x=1\n\nEMPTY=\r\nA=from-file\n"), 0o600)
	f, err := parseTraceFlags([]string{"--env-file", path, "--env", "A=from-flag", "--", "/bin/x"})
	if err != nil {
		t.Fatal(err)
	}
	want := headerList{"DSN=postgres://u:p@h/db?x=1", "EMPTY=", "A=from-file", "A=from-flag"}
	if !slices.Equal(f.env, want) {
		t.Errorf("env %q, want %q", f.env, want)
	}
	os.WriteFile(path, []byte("OK=1\nnot a variable\n"), 0o600)
	if _, err := parseTraceFlags([]string{"--env-file", path, "--", "/bin/x"}); err == nil || !strings.Contains(err.Error(), ":2: use NAME=VALUE") {
		t.Errorf("a bad line: %v", err)
	}
}

func TestUserEnv(t *testing.T) {
	// /etc/passwd always has root.
	if got := userEnv(0); !slices.Equal(got, []string{"HOME=/root", "USER=root", "LOGNAME=root"}) {
		t.Errorf("userEnv(0) = %q", got)
	}
	if got := userEnv(4_000_000_000); got != nil {
		t.Errorf("an unknown uid: %q, want nothing", got)
	}
}

func TestCanTrace(t *testing.T) {
	for _, c := range []struct {
		set  uint64
		want bool
	}{
		{0, false},
		{1 << 21, true},            // CAP_SYS_ADMIN
		{1<<38 | 1<<39, true},      // CAP_PERFMON + CAP_BPF
		{1 << 39, false},           // CAP_BPF alone
		{0xc000080004, true},       // what SetcapCaps gives where the bounding set lacks CAP_SYS_RESOURCE, less CAP_SYS_ADMIN
		{0x000001fffeffffff, true}, // root in a sandbox
	} {
		if got := canTrace(c.set); got != c.want {
			t.Errorf("canTrace(%#x) = %v, want %v", c.set, got, c.want)
		}
	}
}
