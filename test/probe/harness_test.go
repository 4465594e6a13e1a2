// Package probe_test runs the real helper against the real sample service,
// built in the test with each Go toolchain under test, with real probes,
// real HTTP on 127.0.0.1 and real concurrency. It needs root.
package probe_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"outboundlens/bpf/records"
	"outboundlens/test/probe/servers"
)

var (
	repoRoot  string
	workDir   string
	helperBin string
	// toolchains under test: OL_GO_TOOLCHAINS="go1.21.13,go1.26.0"; default: the local go.
	toolchains []string
	sampleBins = map[string]string{} // toolchain -> sample binary
	sampleMu   sync.Mutex
	downBin    string
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "the probe integration tests attach real BPF programs and must run as root (CI does): sudo -E go test ./...")
		os.Exit(1)
	}
	var err error
	workDir, err = os.MkdirTemp("", "ol-probe-test-")
	if err != nil {
		panic(err)
	}
	helperBin = filepath.Join(workDir, "outbound-lens-helper")
	// Without cgo, as npm run build ships it: raising file capabilities on
	// every thread needs it.
	mustRun("", []string{"CGO_ENABLED=0"}, "go", "build", "-C", filepath.Join(repoRoot, "bpf"), "-o", helperBin, "./cmd/outbound-lens-helper")
	downBin = filepath.Join(workDir, "downstream")
	mustRun(filepath.Join(repoRoot, "sample"), nil, "go", "build", "-o", downBin, "./downstream")
	if v := os.Getenv("OL_GO_TOOLCHAINS"); v != "" {
		toolchains = strings.Split(v, ",")
	} else {
		toolchains = []string{"local"}
	}
	code := m.Run()
	os.RemoveAll(workDir)
	os.Exit(code)
}

func mustRun(dir string, env []string, name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		os.Exit(1)
	}
}

// sampleFor builds the sample service with a toolchain ("local" = the go on
// PATH), more -ldflags and more environment (GOARCH=arm64, …).
func sampleFor(t testing.TB, toolchain string, extraLdflags string, env ...string) string {
	t.Helper()
	sampleMu.Lock()
	defer sampleMu.Unlock()
	key := toolchain + "|" + extraLdflags + "|" + strings.Join(env, ",")
	if b, ok := sampleBins[key]; ok {
		return b
	}
	out := filepath.Join(workDir, "sample-"+strings.NewReplacer("|", "-", " ", "", "=", "", ",", "-").Replace(key))
	args := []string{"build", "-o", out}
	if extraLdflags != "" {
		args = append(args, "-ldflags="+extraLdflags)
	}
	args = append(args, ".")
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Join(repoRoot, "sample")
	cmd.Env = append(os.Environ(), env...)
	if toolchain != "local" {
		cmd.Env = append(cmd.Env, "GOTOOLCHAIN="+toolchain)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the sample with %s: %v\n%s", toolchain, err, b)
	}
	sampleBins[key] = out
	return out
}

// handedOut is every address freeAddr gave in this run: the kernel may
// offer a just-closed port again, and two processes of one scenario must
// not be given the same one.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// freeAddr returns a 127.0.0.1 address that is free now and was not handed
// out before in this run.
func freeAddr(t testing.TB) string {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		handedOut.Lock()
		fresh := !handedOut.addrs[addr]
		handedOut.addrs[addr] = true
		handedOut.Unlock()
		if fresh {
			return addr
		}
	}
}

var listening = regexp.MustCompile(`listening on (\S+)`)

// proc is a started process whose stderr is scanned for "listening on".
type proc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	exited chan struct{} // closed when the process has exited
}

func (p *proc) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

type lockedBuffer = servers.LockedBuffer

func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func start(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	return startCmd(t, exec.Command(name, args...))
}

// startCmd starts cmd (set up by the caller: credentials, environment) and
// waits until it says it is listening.
func startCmd(t testing.TB, cmd *exec.Cmd) *proc {
	t.Helper()
	name, args := cmd.Path, cmd.Args[1:]
	p := &proc{cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if !p.hasExited() {
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	waitFor(t, name+" to listen", 20*time.Second, func() bool {
		if p.hasExited() && !listening.MatchString(p.stderr.String()) {
			t.Fatalf("%s %v exited before listening: %s", name, args, p.stderr.String())
		}
		return listening.MatchString(p.stderr.String())
	})
	return p
}

// env is one scenario's world: a downstream and the sample's flags.
type env struct {
	t          testing.TB
	down       string // downstream HTTP addr
	raw        string // downstream raw TCP addr
	service    string // sample service addr
	toolchain  string
	heartbeat  time.Duration
	ldflags    string
	buildEnv   []string // e.g. GOFLAGS=-buildmode=pie, CGO_ENABLED=1
	sampleArgs []string
}

func newEnv(t testing.TB, toolchain string) *env {
	e := &env{t: t, toolchain: toolchain, down: freeAddr(t), raw: freeAddr(t), service: freeAddr(t)}
	start(t, downBin, "-addr", e.down, "-raw", e.raw)
	return e
}

func (e *env) sampleArgv() []string {
	argv := []string{sampleFor(e.t, e.toolchain, e.ldflags, e.buildEnv...), "-addr", e.service, "-downstream", "http://" + e.down, "-raw", e.raw}
	if e.heartbeat > 0 {
		argv = append(argv, "-heartbeat", e.heartbeat.String())
	}
	return append(argv, e.sampleArgs...)
}

// record is any helper record, decoded into the contract's own types.
type (
	record = records.Any
	loc    = records.Loc
)

// helper is a running outbound-lens-helper with its records collected.
type helper struct {
	t       testing.TB
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stderr  *lockedBuffer
	mu      sync.Mutex
	records []record
	ready   *record
	done    chan struct{}
	exit    int
}

func startHelper(t testing.TB, args ...string) *helper {
	t.Helper()
	return startHelperWith(t, nil, args...)
}

// startHelperWith lets setup change the command before it starts: another
// helper binary (cmd.Path), credentials, environment.
func startHelperWith(t testing.TB, setup func(*exec.Cmd), args ...string) *helper {
	t.Helper()
	h := &helper{t: t, stderr: &lockedBuffer{}, done: make(chan struct{})}
	h.cmd = exec.Command(helperBin, append([]string{"trace", "--format", "ndjson"}, args...)...)
	if setup != nil {
		setup(h.cmd)
	}
	h.cmd.Stderr = h.stderr
	var err error
	if h.stdin, err = h.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s := bufio.NewScanner(out)
		s.Buffer(make([]byte, 1<<20), 1<<20)
		for s.Scan() {
			var r record
			if !utf8.Valid(s.Bytes()) {
				t.Errorf("helper wrote a line that is not valid UTF-8: %q", s.Text())
			}
			if err := json.Unmarshal(s.Bytes(), &r); err != nil {
				t.Errorf("helper wrote a line that is not a JSON record: %q", s.Text())
				continue
			}
			h.mu.Lock()
			h.records = append(h.records, r)
			if r.Type == "ready" {
				h.ready = &h.records[len(h.records)-1]
			}
			h.mu.Unlock()
		}
		h.cmd.Wait()
		h.exit = h.cmd.ProcessState.ExitCode()
		close(h.done)
	}()
	t.Cleanup(func() {
		select {
		case <-h.done:
		default:
			h.cmd.Process.Kill()
			<-h.done
		}
	})
	return h
}

func (h *helper) waitReady() record {
	h.t.Helper()
	waitFor(h.t, "the helper's ready record", 30*time.Second, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		select {
		case <-h.done:
			h.t.Fatalf("helper exited (%d) before ready:\n%s", h.exit, h.stderr.String())
		default:
		}
		return h.ready != nil
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	return *h.ready
}

func (h *helper) snapshot() []record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]record(nil), h.records...)
}

func (h *helper) count(typ string) int {
	n := 0
	for _, r := range h.snapshot() {
		if r.Type == typ {
			n++
		}
	}
	return n
}

// stop closes stdin (the way an editor stops it) and waits for the exit.
func (h *helper) stop() []record {
	h.t.Helper()
	h.stdin.Close()
	select {
	case <-h.done:
	case <-time.After(15 * time.Second):
		h.t.Fatalf("helper did not exit within 15 s of its stdin closing:\n%s", h.stderr.String())
	}
	return h.snapshot()
}

func (h *helper) wait(timeout time.Duration) []record {
	h.t.Helper()
	select {
	case <-h.done:
	case <-time.After(timeout):
		h.t.Fatalf("helper did not exit within %v:\n%s", timeout, h.stderr.String())
	}
	return h.snapshot()
}

// launch starts the sample under the helper and waits until it serves.
func (e *env) launch(headers ...string) *helper {
	args := []string{"--header", "x-test-id"}
	for _, h := range headers {
		args = append(args, "--header", h)
	}
	args = append(append(args, "--"), e.sampleArgv()...)
	h := startHelper(e.t, args...)
	h.waitReady()
	waitFor(e.t, "the sample to listen", 20*time.Second, func() bool { return strings.Contains(h.stderr.String(), "listening on") })
	return h
}

var client = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func (e *env) get(path, testID string, hdr map[string]string) {
	e.t.Helper()
	method := http.MethodGet
	if strings.HasPrefix(path, "/api/") {
		method = http.MethodPost
	}
	req, _ := http.NewRequest(method, "http://"+e.service+path, nil)
	req.Header.Set("X-Test-Id", testID)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Errorf("%s %s: %v", method, path, err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		e.t.Errorf("%s %s: status %d", method, path, resp.StatusCode)
	}
}

type truth struct {
	Kind        string `json:"kind"`
	TestID      string `json:"testId"`
	CallerRoute string `json:"callerRoute"`
	Path        string `json:"path"`
	RemotePort  int    `json:"remotePort"`
	AtNs        int64  `json:"atNs"`
}

func (e *env) truth() []truth {
	e.t.Helper()
	resp, err := http.Get("http://" + e.down + "/truth")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var ts []truth
	if err := json.NewDecoder(resp.Body).Decode(&ts); err != nil {
		e.t.Fatal(err)
	}
	return ts
}

func byType(rs []record, typ string) []record {
	var out []record
	for _, r := range rs {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

func (e *env) sampleFile() string { return filepath.Join(repoRoot, "sample") }

// killHelperOnExit makes sure no helper outlives a failed test.
var _ = syscall.SIGTERM
