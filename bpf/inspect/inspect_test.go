package inspect

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const testProgram = `package main

import (
	"fmt"
	"net/http"
	"os"
)

type server struct{ client *http.Client }

//go:noinline
func (s *server) hello(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintln(w, "hi")
}

func callOut(c *http.Client) {
	req, _ := http.NewRequest("GET", "http://127.0.0.1:1/", nil)
	resp, err := c.Do(req) // the call site
	if err == nil {
		resp.Body.Close()
	}
}

func main() {
	s := &server{client: http.DefaultClient}
	h := s.hello
	http.HandleFunc("/", h)
	if len(os.Args) > 5 {
		callOut(s.client)
		http.ListenAndServe("127.0.0.1:0", nil)
	}
}
`

var (
	buildOnce sync.Once
	bins      map[string]string
	buildErr  error
)

// testBinaries builds the test program normally, stripped, as PIE, and
// with uncompressed DWARF.
func testBinaries(t testing.TB) map[string]string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "inspect-test")
		if err != nil {
			buildErr = err
			return
		}
		os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/prog\n\ngo 1.21\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "main.go"), []byte(testProgram), 0o644)
		bins = map[string]string{}
		// fuzz: DWARF left uncompressed, so FuzzInspect's patches reach the DWARF parser.
		for name, flags := range map[string][]string{"full": nil, "stripped": {"-ldflags=-s -w"}, "pie": {"-buildmode=pie"}, "fuzz": {"-ldflags=-compressdwarf=false"}} {
			out := filepath.Join(dir, name)
			cmd := exec.Command("go", append(append([]string{"build", "-o", out}, flags...), ".")...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErr = errors.New(string(b))
				return
			}
			bins[name] = out
		}
	})
	if buildErr != nil {
		t.Fatalf("building the test program: %v", buildErr)
	}
	return bins
}

func open(t *testing.T, path string) *Binary {
	t.Helper()
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestOpenReadsBuildInfo(t *testing.T) {
	b := open(t, testBinaries(t)["full"])
	if !strings.HasPrefix(b.GoVersion, "go1.") || b.GoMinor < MinGoMinor || b.MainModule != "example.com/prog" || !b.HasDWARF || b.PIE {
		t.Fatalf("got %+v", b)
	}
	if p := open(t, testBinaries(t)["pie"]); !p.PIE {
		t.Errorf("PIE build not seen as PIE")
	}
}

func TestFuncAndReturns(t *testing.T) {
	for _, kind := range []string{"full", "stripped", "pie"} {
		b := open(t, testBinaries(t)[kind])
		fn, err := b.Func("net/http.serverHandler.ServeHTTP")
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		// The entry probe goes after the stack check (CMP; JBE morestack).
		if fn.Probe <= fn.Offset || fn.Probe > fn.Offset+32 {
			t.Errorf("%s: probe offset %#x for entry %#x: the prologue's stack check was not found", kind, fn.Probe, fn.Offset)
		}
		rets, err := b.RetOffsets("net/http.serverHandler.ServeHTTP")
		if err != nil || len(rets) == 0 {
			t.Fatalf("%s: rets %v %v", kind, rets, err)
		}
		f, _ := os.Open(b.Path)
		for _, r := range rets {
			if r <= fn.Offset || r >= fn.Offset+(fn.End-fn.Entry) {
				t.Errorf("%s: RET at %#x outside the function [%#x, %#x)", kind, r, fn.Offset, fn.Offset+fn.End-fn.Entry)
			}
			one := make([]byte, 1)
			f.ReadAt(one, int64(r))
			if b.Arch == "amd64" && one[0] != 0xc3 {
				t.Errorf("%s: byte at %#x is %#x, not RET", kind, r, one[0])
			}
		}
		f.Close()
		if _, err := b.Func("main.noSuchFunction"); !errors.Is(err, ErrNoFunc) {
			t.Errorf("missing function: %v", err)
		}
	}
}

func TestSymbolizeAndCallSite(t *testing.T) {
	for _, kind := range []string{"full", "stripped"} {
		b := open(t, testBinaries(t)[kind])
		callOut, err := b.Func("main.callOut")
		if err != nil {
			t.Fatal(err)
		}
		// Find the return address of the call on the call-site line.
		var retAddr uint64
		for pc := callOut.Entry; pc < callOut.End; pc++ {
			_, _, line, _ := b.Symbolize(pc)
			src, _ := os.ReadFile(filepathOf(b, pc))
			lines := strings.Split(string(src), "\n")
			if line > 0 && line <= len(lines) && strings.Contains(lines[line-1], "the call site") {
				retAddr = pc + 1 // any pc on the line, as if it were a return address
				break
			}
		}
		if retAddr == 0 {
			t.Fatalf("%s: no pc on the call-site line", kind)
		}
		// Client.Do is inlined into callOut: its instructions carry
		// net/http's file and line, the call site must still be main.go's.
		var inlinedPC uint64
		for pc := callOut.Entry; pc < callOut.End; pc++ {
			if f := filepathOf(b, pc); strings.HasSuffix(f, "net/http/client.go") {
				inlinedPC = pc
				break
			}
		}
		if inlinedPC == 0 {
			t.Fatalf("%s: Client.Do was not inlined into main.callOut; the test needs it", kind)
		}
		if site := b.CallSite([]uint64{1, inlinedPC + 1}); site == nil || site.Func != "main.callOut" || !strings.HasSuffix(site.File, "/main.go") || site.Line != callLine(t, site.File) {
			t.Errorf("%s: call site through an inlined Client.Do: %+v", kind, site)
		}
		get, _ := b.Func("net/http.(*Client).do")
		site := b.CallSite([]uint64{get.Entry + 4, get.Entry + 8, retAddr, callOut.Entry})
		if site == nil || site.Func != "main.callOut" || !strings.HasSuffix(site.File, "main.go") {
			t.Fatalf("%s: call site %+v", kind, site)
		}
		if b.CallSite([]uint64{get.Entry}) != nil {
			t.Errorf("%s: a stdlib-only stack has no call site", kind)
		}
	}
}

func callLine(t *testing.T, file string) int {
	src, _ := os.ReadFile(file)
	for i, l := range strings.Split(string(src), "\n") {
		if strings.Contains(l, "the call site") {
			return i + 1
		}
	}
	t.Fatalf("no call site line in %s", file)
	return 0
}

func filepathOf(b *Binary, pc uint64) string {
	_, file, _, _ := b.Symbolize(pc)
	return file
}

func TestFuncStartResolvesMethodValues(t *testing.T) {
	b := open(t, testBinaries(t)["full"])
	fm, err := b.Func("main.(*server).hello-fm")
	if err != nil {
		t.Fatal(err)
	}
	name, file, line, ok := b.FuncStart(fm.Entry)
	src, _ := os.ReadFile(file)
	if !ok || name != "main.(*server).hello" || line < 1 || !strings.HasPrefix(strings.Split(string(src), "\n")[line-1], "func (s *server) hello") {
		t.Fatalf("FuncStart(-fm) = %s %s:%d", name, file, line)
	}
}

func TestOffsets(t *testing.T) {
	full := open(t, testBinaries(t)["full"])
	o, err := full.Offsets()
	if err != nil {
		t.Fatal(err)
	}
	if o.Source != "dwarf" || o.GGoid == 0 || o.RequestURL == 0 || o.NetFDRaddr == 0 || o.TCPAddrPort == 0 || o.HasGin {
		t.Fatalf("DWARF offsets %+v", o)
	}
	if want := full.GoMinor >= 24; o.SwissMaps != want {
		t.Errorf("SwissMaps %v for %s", o.SwissMaps, full.GoVersion)
	}
	stripped := open(t, testBinaries(t)["stripped"])
	if stripped.HasDWARF {
		t.Fatal("-w build has DWARF")
	}
	s, err := stripped.Offsets()
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != "table:go1."+itoa(stripped.GoMinor) {
		t.Errorf("source %q", s.Source)
	}
	o.Source, s.Source = "", ""
	if o != s {
		t.Errorf("the generated table disagrees with DWARF for %s:\n table %+v\n dwarf %+v", full.GoVersion, s, o)
	}
}

// The offsets come from the largest "runtime" unit alone (where the linker
// puts the types), and agree with a walk of every unit; compressed DWARF
// and not.
func TestOffsetsFromTypesUnit(t *testing.T) {
	for _, name := range []string{"full", "pie", "fuzz"} {
		b := open(t, testBinaries(t)[name])
		units := typeUnits(b.dwarf, b.sections["info"], b.elf.ByteOrder)
		if len(units) == 0 {
			t.Fatalf("%s: no runtime unit found", name)
		}
		fast, err := offsetsFromUnits(b.dwarf, units[:1])
		if err != nil {
			t.Fatalf("%s: the largest runtime unit lacks offsets: %v", name, err)
		}
		all, err := offsetsFromUnits(b.dwarf, nil)
		if err != nil {
			t.Fatal(err)
		}
		if fast != all {
			t.Errorf("%s: the types unit gives\n %+v\nevery unit gives\n %+v", name, fast, all)
		}
		if got, _ := offsetsFromDWARF(b.dwarf, units); got != all {
			t.Errorf("%s: offsetsFromDWARF %+v", name, got)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "script.sh")
	os.WriteFile(text, []byte("#!/bin/sh\necho hi\n"), 0o755)
	if _, err := Open(text); !errors.Is(err, ErrNotELF) {
		t.Errorf("shell script: %v", err)
	}
	if _, err := Open("/bin/true"); !errors.Is(err, ErrNotGo) {
		t.Errorf("/bin/true: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// An ELF header that is cut short.
	b, _ := os.ReadFile(testBinaries(t)["full"])
	cut := filepath.Join(dir, "cut")
	os.WriteFile(cut, b[:200], 0o755)
	if _, err := Open(cut); err == nil {
		t.Errorf("truncated binary opened")
	}
}

func TestGoMinor(t *testing.T) {
	for v, want := range map[string]int{"go1.26.8": 26, "go1.21.0": 21, "go1.27rc1": 27, "go1.22.1 X:loopvar": 22} {
		if got, ok := goMinor(v); !ok || got != want {
			t.Errorf("goMinor(%q) = %d %v", v, got, ok)
		}
	}
	if _, ok := goMinor("devel +abc"); ok {
		t.Errorf("devel parsed")
	}
}

func TestIsServiceCode(t *testing.T) {
	for fn, want := range map[string]bool{
		"main.callDown":                                 true,
		"main.(*server).echo.func1":                     true,
		"example.com/svc/handlers.Echo":                 true,
		"net/http.(*Client).Do":                         false,
		"runtime.goexit":                                false,
		"github.com/gin-gonic/gin.(*Context).Next":      false,
		"github.com/jackc/pgx/v5.(*Conn).Query":         false,
		"golang.org/x/net/http2.(*Transport).RoundTrip": false,
		"type:.eq.main.T":                               false,
	} {
		if got := IsServiceCode(fn); got != want {
			t.Errorf("IsServiceCode(%q) = %v", fn, got)
		}
	}
}

func TestGoProcesses(t *testing.T) {
	bin := testBinaries(t)["full"]
	cmd := exec.Command(bin, "a", "b", "c", "d", "e") // serves until killed
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var found *Process
	for i := 0; i < 50 && found == nil; i++ {
		ps := GoProcesses("example.com/prog")
		if len(ps) > 0 && ps[0].PID == cmd.Process.Pid {
			found = &ps[0]
		}
	}
	if found == nil || found.Module != "example.com/prog" || found.Exe != bin || !strings.Contains(found.Cmdline, "a b c") {
		t.Fatalf("process %d not listed first: %+v", cmd.Process.Pid, found)
	}
}

// TestEchoTable: echo v4's context layouts by release, for binaries
// without DWARF (v4.12.0's is also checked against a real stripped build
// by the probe tests).
func TestEchoTable(t *testing.T) {
	for _, c := range []struct {
		version       string
		path, handler uint64
	}{
		{"v4.10.2", 16, 88},
		{"v4.11.4", 16, 88},
		{"v4.12.0", 80, 144},
		{"v4.13.4", 88, 80},
		{"v4.15.0", 88, 80},
	} {
		o := echoTable(c.version)
		if o.EchoContextPath != c.path || o.EchoContextHandler != c.handler {
			t.Errorf("%s: path %d handler %d, want %d %d", c.version, o.EchoContextPath, o.EchoContextHandler, c.path, c.handler)
		}
	}
}
