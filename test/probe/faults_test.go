package probe_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// textDiff compares the executable mappings of the process's binary in its
// live memory (/proc/PID/mem, read only) with the file's bytes, and
// returns how many bytes differ: an attached uprobe shows as a breakpoint
// instruction written into the process's copy of the page.
func textDiff(t *testing.T, pid int) int {
	t.Helper()
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	diff, compared := 0, 0
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[5] != exe || !strings.Contains(f[1], "x") {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		start, _ := strconv.ParseUint(lo, 16, 64)
		end, _ := strconv.ParseUint(hi, 16, 64)
		off, _ := strconv.ParseUint(f[2], 16, 64)
		live := make([]byte, end-start)
		want := make([]byte, end-start)
		if _, err := mem.ReadAt(live, int64(start)); err != nil {
			t.Fatalf("reading pid %d's text at %#x: %v", pid, start, err)
		}
		n, _ := file.ReadAt(want, int64(off))
		for i := 0; i < n; i++ {
			if live[i] != want[i] {
				diff++
			}
		}
		compared += n
	}
	if compared == 0 {
		t.Fatalf("no executable mapping of %s in pid %d", exe, pid)
	}
	return diff
}

func uprobeEvents(t *testing.T) []string {
	for _, p := range []string{"/sys/kernel/tracing/uprobe_events", "/sys/kernel/debug/tracing/uprobe_events"} {
		if b, err := os.ReadFile(p); err == nil {
			return strings.Split(strings.TrimSpace(string(b)), "\n")
		}
	}
	return nil
}

// TestHelperKilledMidTrace: SIGKILL leaves the helper no chance to clean
// up; the kernel must. The service keeps serving, and its text is again
// byte for byte the file's: no breakpoint of a probe is left in it, nor a
// uprobe in tracefs.
func TestHelperKilledMidTrace(t *testing.T) {
	e := newEnv(t, toolchains[len(toolchains)-1])
	s := start(t, e.sampleArgv()[0], e.sampleArgv()[1:]...)
	pid := s.cmd.Process.Pid
	before := uprobeEvents(t)
	if n := textDiff(t, pid); n != 0 {
		t.Fatalf("pid %d's text differs from its file in %d bytes before any probe", pid, n)
	}
	h := startHelper(t, "--pid", fmt.Sprint(pid), "--header", "x-test-id")
	h.waitReady()
	e.get("/echo", "k1", nil)
	waitFor(t, "the request", 10*time.Second, func() bool { return h.count("request") >= 1 })
	probed := textDiff(t, pid)
	if probed == 0 {
		t.Fatalf("no breakpoint in pid %d's text while traced: the comparison cannot see probes", pid)
	}
	// Requests in flight while the helper dies.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			e.get("/echo", fmt.Sprint("k-in-flight", i), nil)
		}
	}()
	time.Sleep(20 * time.Millisecond)
	h.cmd.Process.Kill()
	<-h.done
	<-done
	waitFor(t, "the probes to go from pid's text", 5*time.Second, func() bool { return textDiff(t, pid) == 0 })
	if s.hasExited() {
		t.Fatalf("the service died with the helper: %s", s.stderr.String())
	}
	for i := 0; i < 5; i++ {
		e.get("/echo", fmt.Sprint("after", i), nil)
	}
	if after := uprobeEvents(t); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("uprobe_events changed: before %q, after %q", before, after)
	}
	t.Logf("%d bytes of text held breakpoints while traced; none after SIGKILL", probed)
}

// exited reports whether pid is gone or a zombie (its parent, not this
// test, reaps it).
func exited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z") || strings.HasPrefix(rest, "X")
}

// TestHelperEndsWithItsCaller: whatever started the helper (the extension
// host, a script) going away ends the trace: within a second the helper has
// stopped reading events and written its end record, whether the caller
// was its parent, held its stdin, or read its socket; it has exited a
// little later, once the kernel has taken the probes out (one uprobe at a
// time, each after a grace period: 0.8-1.8 s in all measured here).
func TestHelperEndsWithItsCaller(t *testing.T) {
	e := newEnv(t, toolchains[len(toolchains)-1])
	s := start(t, e.sampleArgv()[0], e.sampleArgv()[1:]...)
	pid := fmt.Sprint(s.cmd.Process.Pid)
	const ends, exits = time.Second, 5 * time.Second

	t.Run("its parent dies", func(t *testing.T) {
		dir := t.TempDir()
		outFile, errFile := filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
		sh := exec.Command("sh", "-c", `"$0" trace --format ndjson --pid "$1" >"$2" 2>"$3" </dev/null & echo $!; wait`, helperBin, pid, outFile, errFile)
		out, _ := sh.StdoutPipe()
		if err := sh.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		helperPid, _ := strconv.Atoi(strings.TrimSpace(line))
		t.Cleanup(func() { syscall.Kill(helperPid, syscall.SIGKILL) })
		waitFor(t, "the helper to trace", 30*time.Second, func() bool {
			b, _ := os.ReadFile(outFile)
			return bytes.Contains(b, []byte(`"type":"ready"`))
		})
		t0 := time.Now()
		sh.Process.Kill()
		sh.Wait()
		waitFor(t, "the end record after the parent died", ends, func() bool {
			b, _ := os.ReadFile(outFile)
			return bytes.Contains(b, []byte(`"type":"end"`))
		})
		waitFor(t, "the helper to exit after its parent", exits, func() bool { return exited(helperPid) })
		t.Logf("parent killed: helper gone after %v", time.Since(t0))
	})

	t.Run("its stdin closes", func(t *testing.T) {
		h := startHelper(t, "--pid", pid)
		h.waitReady()
		t0 := time.Now()
		h.stdin.Close()
		waitFor(t, "the end record after stdin closed", ends, func() bool { return h.count("end") == 1 })
		rs := h.wait(exits)
		if ends := byType(rs, "end"); ends[0].Reason != "stdin-closed" {
			t.Errorf("want an end record with reason stdin-closed, got %+v", ends)
		}
		t.Logf("stdin closed: helper gone after %v", time.Since(t0))
	})

	t.Run("its socket closes", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "s")
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		cmd := exec.Command(helperBin, "trace", "--format", "ndjson", "--pid", pid, "--connect", sock, "--token", "tok")
		stderr := &lockedBuffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waited := make(chan struct{})
		go func() { cmd.Wait(); close(waited) }()
		t.Cleanup(func() { cmd.Process.Kill(); <-waited })
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the helper's socket: %v\n%s", err, stderr.String())
			}
			if strings.Contains(line, `"type":"ready"`) {
				break
			}
		}
		t0 := time.Now()
		c.Close()
		select {
		case <-waited:
		case <-time.After(exits):
			t.Fatalf("the helper still runs %v after its socket closed:\n%s", exits, stderr.String())
		}
		t.Logf("socket closed: helper gone after %v", time.Since(t0))
	})
	if s.hasExited() {
		t.Errorf("the service exited: %s", s.stderr.String())
	}
}

// TestSamePidTracedTwice: two traces of one process at once both see every
// request, and one ending leaves the other tracing.
func TestSamePidTracedTwice(t *testing.T) {
	e := newEnv(t, toolchains[len(toolchains)-1])
	s := start(t, e.sampleArgv()[0], e.sampleArgv()[1:]...)
	pid := fmt.Sprint(s.cmd.Process.Pid)
	a := startHelper(t, "--pid", pid, "--header", "x-test-id")
	a.waitReady()
	b := startHelper(t, "--pid", pid, "--header", "x-test-id")
	b.waitReady()
	for i := 0; i < 3; i++ {
		e.get("/echo", fmt.Sprint("both", i), nil)
	}
	for _, h := range []*helper{a, b} {
		waitFor(t, "3 requests in each trace", 10*time.Second, func() bool { return h.count("request") >= 3 })
	}
	a.stop()
	e.get("/echo", "b-only", nil)
	waitFor(t, "the request after the first trace ended", 10*time.Second, func() bool { return b.count("request") >= 4 })
	rs := b.stop()
	ids := map[string]bool{}
	for _, r := range byType(rs, "request") {
		ids[r.Headers["x-test-id"]] = true
	}
	for _, want := range []string{"both0", "both1", "both2", "b-only"} {
		if !ids[want] {
			t.Errorf("the second trace lacks request %s: %v", want, ids)
		}
	}
	waitFor(t, "the probes to go", 5*time.Second, func() bool { return textDiff(t, s.cmd.Process.Pid) == 0 })
}

// execerSource is a small HTTP service that forks a child on /fork (a
// shell that echoes) and replaces itself with sleep on /exec.
const execerSource = `package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	l, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		panic(err)
	}
	fmt.Fprintf(os.Stderr, "listening on %s\n", l.Addr())
	http.HandleFunc("/fork", func(w http.ResponseWriter, r *http.Request) {
		out, err := exec.Command("/bin/sh", "-c", "echo forked").Output()
		fmt.Fprintf(w, "%s %v", out, err)
	})
	http.HandleFunc("/exec", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		syscall.Exec("/bin/sleep", []string{"sleep", "60"}, os.Environ())
	})
	http.Serve(l, nil)
}
`

// TestTargetForksAndExecs: children the target forks do not disturb the
// trace; the target exec'ing another program ends it with a clear end
// record (reason target-exec), the probes gone from the new program.
func TestTargetForksAndExecs(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module execer\n\ngo 1.21\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(execerSource), 0o644)
	bin := filepath.Join(dir, "execer")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the execer: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	s := start(t, bin, addr)
	pid := s.cmd.Process.Pid
	h := startHelper(t, "--pid", fmt.Sprint(pid))
	h.waitReady()
	e := &env{t: t, service: addr}
	for i := 0; i < 3; i++ {
		e.get("/fork", fmt.Sprint("f", i), nil)
	}
	waitFor(t, "the requests that forked", 10*time.Second, func() bool { return h.count("request") >= 3 })
	if n := h.count("end"); n != 0 {
		t.Fatalf("the trace ended when the target forked")
	}
	e.get("/exec", "x", nil)
	rs := h.wait(10 * time.Second)
	if h.exit != 0 {
		t.Errorf("helper exit %d, want 0:\n%s", h.exit, h.stderr.String())
	}
	if ends := byType(rs, "end"); len(ends) != 1 || ends[0].Reason != "target-exec" {
		t.Errorf("want one end record with reason target-exec, got %+v\n%s", ends, h.stderr.String())
	}
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe == bin || s.hasExited() {
		t.Fatalf("pid %d did not exec (exe %s)", pid, exe)
	}
	if n := textDiff(t, pid); n != 0 {
		t.Errorf("the new program's text differs from its file in %d bytes", n)
	}
}

// TestRingBufferOverflow: a burst the helper cannot read in time (it is
// stopped meanwhile) fills the ring buffer; the events that did not fit are
// counted as lost in stats, the service answers every request, and the
// trace goes on: requests after the burst are recorded whole.
func TestRingBufferOverflow(t *testing.T) {
	e := newEnv(t, toolchains[len(toolchains)-1])
	s := start(t, e.sampleArgv()[0], e.sampleArgv()[1:]...)
	args := []string{"--pid", fmt.Sprint(s.cmd.Process.Pid), "--header", "x-test-id"}
	hdr := map[string]string{}
	for i := 0; i < 6; i++ { // every header slot in use: the largest events
		name := fmt.Sprintf("x-fill-%d", i)
		args = append(args, "--header", name)
		hdr[name] = strings.Repeat("v", 250)
	}
	h := startHelper(t, args...)
	h.waitReady()
	h.cmd.Process.Signal(syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			h.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	const burst, workers = 12000, 32
	next := make(chan int, burst)
	for i := 0; i < burst; i++ {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				e.get("/echo", fmt.Sprint("burst", i), hdr)
			}
		}()
	}
	wg.Wait()
	h.cmd.Process.Signal(syscall.SIGCONT)
	stopped = false
	// Until the helper has read what the buffer holds, new events find
	// it full too.
	seen := -1
	waitFor(t, "the helper to drain the ring buffer", 60*time.Second, func() bool {
		time.Sleep(500 * time.Millisecond)
		n := len(h.snapshot())
		drained := n == seen
		seen = n
		return drained
	})
	for i := 0; i < 3; i++ {
		e.get("/echo", fmt.Sprint("after", i), nil)
	}
	waitFor(t, "the requests after the burst", 10*time.Second, func() bool {
		n := 0
		for _, r := range h.snapshot() {
			if r.Type == "request" && strings.HasPrefix(r.Headers["x-test-id"], "after") {
				n++
			}
		}
		return n == 3
	})
	rs := h.stop()
	if h.exit != 0 {
		t.Errorf("helper exit %d:\n%s", h.exit, h.stderr.String())
	}
	st := byType(rs, "stats")
	if len(st) == 0 || st[len(st)-1].Lost == 0 {
		t.Fatalf("a %d-request burst into a stopped reader lost nothing: %+v", burst, st)
	}
	last := st[len(st)-1]
	got := len(byType(rs, "request"))
	if got >= burst+3 {
		t.Errorf("%d requests recorded of %d, with %d events lost", got, burst+3, last.Lost)
	}
	// After the burst, attribution is whole again: each request's own
	// outbound call is attributed to it.
	after := map[string]string{} // request record id -> test id
	for _, r := range byType(rs, "request") {
		if strings.HasPrefix(r.Headers["x-test-id"], "after") {
			after[r.ID] = r.Headers["x-test-id"]
		}
	}
	attributed := map[string]bool{}
	for _, o := range byType(rs, "outbound") {
		if o.Request != nil && after[*o.Request] != "" {
			attributed[after[*o.Request]] = true
		}
	}
	if len(after) != 3 || len(attributed) != 3 {
		t.Errorf("requests after the burst: %v, with their outbound calls: %v", after, attributed)
	}
	if s.hasExited() {
		t.Errorf("the service exited: %s", s.stderr.String())
	}
	t.Logf("burst of %d requests: %d recorded, %d events lost", burst, got, last.Lost)
}

// TestEmptyPrograms: --empty-programs (npm run bench's measure of what
// the probe hits alone cost) attaches every probe a trace would, each hit
// runs its program, and nothing is reported.
func TestEmptyPrograms(t *testing.T) {
	e := newEnv(t, toolchains[len(toolchains)-1])
	s := start(t, e.sampleArgv()[0], e.sampleArgv()[1:]...)
	h := startHelper(t, "--pid", fmt.Sprint(s.cmd.Process.Pid), "--empty-programs", "--probe-stats")
	ready := h.waitReady()
	const n = 5
	for i := 0; i < n; i++ {
		e.get("/echo", fmt.Sprint("empty", i), nil)
	}
	rs := h.stop()
	if got := len(byType(rs, "request")) + len(byType(rs, "outbound")); got != 0 {
		t.Errorf("%d request or outbound records with empty programs, want none", got)
	}
	stats := byType(rs, "stats")
	if len(stats) == 0 {
		t.Fatal("no stats record")
	}
	runs := map[string]uint64{}
	for _, p := range stats[len(stats)-1].Programs {
		runs[p.Program] = p.Runs
	}
	for _, prog := range []string{"serve_http", "request_end", "gin_route", "round_trip"} {
		if runs[prog] < n {
			t.Errorf("%s ran %d times for %d requests: %v", prog, runs[prog], n, runs)
		}
	}
	if len(ready.Sites) == 0 || len(ready.Probes) == 0 {
		t.Errorf("ready record without its probes: %+v", ready)
	}
}
