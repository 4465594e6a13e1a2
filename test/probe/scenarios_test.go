package probe_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"outboundlens/bpf/records"
)

func eachToolchain(t *testing.T, f func(t *testing.T, toolchain string)) {
	for _, tc := range toolchains {
		t.Run(tc, func(t *testing.T) { f(t, tc) })
	}
}

type key struct {
	testID string
	port   int
}

// TestAttributionUnderConcurrency: hundreds of requests, 32 in flight, over
// every route kind, with a background goroutine calling out meanwhile. Every
// outbound record is checked against what the downstream itself saw.
func TestAttributionUnderConcurrency(t *testing.T) {
	eachToolchain(t, func(t *testing.T, toolchain string) {
		attributionUnderConcurrency(t, newEnv(t, toolchain))
	})
}

// attributionUnderConcurrency runs the scenario on e's build of the sample.
func attributionUnderConcurrency(t *testing.T, e *env) {
	toolchain := e.toolchain
	{
		e.heartbeat = 20 * time.Millisecond
		h := e.launch()

		routes := []string{"/echo", "/users/%d", "/fanout", "/twice", "/dial", "/api/v1/orders"}
		const total, inFlight = 330, 32
		sem := make(chan struct{}, inFlight)
		var wg sync.WaitGroup
		for i := 0; i < total; i++ {
			path := routes[i%len(routes)]
			if strings.Contains(path, "%d") {
				path = fmt.Sprintf(path, i)
			}
			wg.Add(1)
			sem <- struct{}{}
			go func(i int, path string) {
				defer wg.Done()
				defer func() { <-sem }()
				e.get(path, fmt.Sprintf("t%d", i), nil)
			}(i, path)
		}
		wg.Wait()
		waitFor(t, "all request records", 10*time.Second, func() bool { return h.count("request") >= total })
		// The heartbeat keeps calling while the truth is fetched: background
		// calls near that moment are left out on both sides, by the time the
		// probe saw the call start and the downstream saw it arrive.
		cutoff := time.Now().Add(-100 * time.Millisecond).UnixNano()
		ts := e.truth()
		rs := h.stop()

		testOf := map[string]string{}
		for _, r := range byType(rs, "request") {
			testOf[r.ID] = r.Headers["x-test-id"]
		}
		downPort, rawPort := port(e.down), port(e.raw)
		traced := map[key]int{}
		tracedRecs := map[key][]record{}
		var tracedN int
		var late []record
		for _, r := range byType(rs, "outbound") {
			if r.Dport != downPort && r.Dport != rawPort {
				continue
			}
			// An HTTP call names its method and URL (the sample's calls are GETs of {downstream}/…).
			if r.Via == "http" && (r.Op == nil || r.Op.Protocol != "http" || r.Op.Method != "GET" || r.Op.Scheme != "http" || r.Op.Host != e.down || !strings.HasPrefix(r.Op.Path, "/")) {
				t.Errorf("HTTP call's op %+v", r.Op)
			}
			id := "background"
			if r.Request != nil {
				id = testOf[*r.Request]
				if id == "" {
					t.Errorf("outbound record names request %s, which has no request record (or no x-test-id): %+v", *r.Request, r)
					continue
				}
			} else if r.TsNs > cutoff {
				late = append(late, r)
				continue
			}
			traced[key{id, r.Sport}]++
			tracedRecs[key{id, r.Sport}] = append(tracedRecs[key{id, r.Sport}], r)
			tracedN++
		}
		// A background call the probe saw start before the cutoff may reach
		// the downstream after it (a busy machine): traced calls are matched
		// against everything the downstream saw, and the downstream's calls
		// must all be traced up to the cutoff.
		truthN, background := 0, 0
		truthKeys, truthAll := map[key]int{}, map[key]int{}
		for _, x := range ts {
			truthAll[key{x.TestID, x.RemotePort}]++
			if x.TestID == "background" && x.AtNs > cutoff {
				continue
			}
			truthKeys[key{x.TestID, x.RemotePort}]++
			if x.TestID == "background" {
				background++
			}
			truthN++
		}
		tp := 0
		for k, n := range traced {
			m := truthAll[k]
			if m < n {
				t.Errorf("traced %d outbound for %v, the downstream saw %d:", n, k, m)
				for _, r := range tracedRecs[k] {
					t.Errorf("  %+v call site %+v", r, r.CallSite)
				}
				n = m
			}
			tp += n
		}
		// Recall over the downstream's calls up to the cutoff: a traced call
		// that arrived after it counts for precision above, not here.
		found := 0
		for k, n := range truthKeys {
			if traced[k] < n {
				t.Errorf("the downstream saw %d calls for %v, traced %d", n, k, traced[k])
				n = traced[k]
			}
			found += n
		}
		precision := float64(tp) / float64(tracedN)
		recall := float64(found) / float64(truthN)
		t.Logf("%s: %d requests, %d outbound traced, %d seen downstream (%d background), precision %.4f recall %.4f, %d late heartbeats",
			toolchain, total, tracedN, truthN, background, precision, recall, len(late))
		if precision != 1 || recall != 1 {
			t.Fatalf("precision %.4f and recall %.4f must both be 1", precision, recall)
		}
		if truthN < total {
			t.Fatalf("only %d downstream calls for %d requests: the sample did not do its work", truthN, total)
		}
		checkReuse(t, rs)
		checkLost(t, rs)
	}
}

func port(addr string) int {
	var p int
	fmt.Sscanf(addr[strings.LastIndex(addr, ":")+1:], "%d", &p)
	return p
}

// checkReuse: a connection is new at most once, on its first traced use;
// every later use is reused. (A first use may be reused too: net/http can
// park a connection dialed for one request in its idle pool and hand it to
// another.)
func checkReuse(t *testing.T, rs []record) {
	t.Helper()
	obs := byType(rs, "outbound")
	sort.SliceStable(obs, func(i, j int) bool { return obs[i].TsNs < obs[j].TsNs })
	seen := map[string]bool{}
	reused := 0
	for _, r := range obs {
		if r.Via != "http" {
			continue
		}
		tuple := fmt.Sprintf("%s:%d>%s:%d", r.Src, r.Sport, r.Dst, r.Dport)
		if !r.Reused && seen[tuple] {
			t.Errorf("connection %s: reported new, but it was used before", tuple)
		}
		if r.Reused {
			reused++
		}
		seen[tuple] = true
	}
	if reused == 0 {
		t.Errorf("no outbound record was on a reused keep-alive connection")
	}
}

func checkLost(t *testing.T, rs []record) {
	t.Helper()
	st := byType(rs, "stats")
	if len(st) == 0 {
		t.Fatal("no stats record")
	}
	last := st[len(st)-1]
	if last.Lost != 0 {
		t.Errorf("%d events lost", last.Lost)
	}
	checkMaps(t, last)
}

// checkMaps: the last stats record lists the probes' hash maps, with the
// evictions of goroutine_request (and of the other maps whose new keys the
// probes count) at 0: a test is far from filling any, so an eviction
// counted here is a key the probes counted twice. ctx_request, a plain
// hash map, is empty once every request has ended: an entry left is one
// an end did not delete.
func checkMaps(t *testing.T, st record) {
	t.Helper()
	counted := map[string]bool{"goroutine_request": false, "dial_name": false, "outbound_conns": false, "connect_by_thread": false}
	plain := map[string]bool{"ctx_request": false}
	for _, m := range st.Maps {
		if _, ok := plain[m.Map]; ok {
			plain[m.Map] = true
		}
		if m.Map == "ctx_request" && m.Entries != 0 {
			t.Errorf("map ctx_request: %d entries after every request ended", m.Entries)
		}
		if m.Entries > uint64(m.Max) || m.Max == 0 {
			t.Errorf("map %s: %d entries of %d", m.Map, m.Entries, m.Max)
		}
		if _, ok := counted[m.Map]; !ok {
			if m.Evictions != nil {
				t.Errorf("map %s: evictions %d, want null (not counted)", m.Map, *m.Evictions)
			}
			continue
		}
		counted[m.Map] = true
		if m.Evictions == nil {
			t.Errorf("map %s: evictions not counted", m.Map)
		} else if *m.Evictions != 0 {
			t.Errorf("map %s: %d of %d entries, %d evictions, want 0", m.Map, m.Entries, m.Max, *m.Evictions)
		}
	}
	for name, ok := range counted {
		if !ok {
			t.Errorf("stats: no map %s in %v", name, st.Maps)
		}
	}
	for name, ok := range plain {
		if !ok {
			t.Errorf("stats: no map %s in %v", name, st.Maps)
		}
	}
}

// TestKeepAliveAndCallSite: sequential calls reuse one connection; records
// carry the call site in the sample's own code, the Gin route and handler,
// and the W3C trace id.
func TestKeepAliveAndCallSite(t *testing.T) {
	eachToolchain(t, func(t *testing.T, toolchain string) {
		e := newEnv(t, toolchain)
		h := e.launch()
		const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		for i := 0; i < 4; i++ {
			e.get("/echo", fmt.Sprintf("k%d", i), map[string]string{"traceparent": tp})
		}
		e.get("/users/42", "u42", nil)
		waitFor(t, "5 requests", 10*time.Second, func() bool { return h.count("request") >= 5 })
		rs := h.stop()

		var echo []record
		for _, r := range byType(rs, "outbound") {
			if r.Dport == port(e.down) && r.Request != nil {
				echo = append(echo, r)
			}
		}
		if len(echo) != 5 {
			t.Fatalf("want 5 outbound records, got %d: %+v", len(echo), echo)
		}
		for i, r := range echo[:4] {
			if r.Reused != (i > 0) || r.Sport != echo[0].Sport {
				t.Errorf("call %d: reused=%v sport=%d, want reused=%v on sport %d", i, r.Reused, r.Sport, i > 0, echo[0].Sport)
			}
			if r.Src != "127.0.0.1" || r.Dst != "127.0.0.1" || r.Proto != "tcp" {
				t.Errorf("call %d: tuple %s %s:%d -> %s:%d", i, r.Proto, r.Src, r.Sport, r.Dst, r.Dport)
			}
			if r.CallSite == nil || !strings.HasPrefix(r.CallSite.File, e.sampleFile()) || r.CallSite.Line == 0 || !strings.HasPrefix(r.CallSite.Func, "main.") {
				t.Errorf("call %d: call site %+v is not in the sample's code", i, r.CallSite)
			} else {
				checkLineCallsOut(t, r.CallSite)
			}
			// The call path: callDown's line, then the handler's line that calls it.
			if len(r.CallPath) < 2 || !reflect.DeepEqual(r.CallPath[0], *r.CallSite) || r.CallPath[1].Func != "main.(*server).echo" || !strings.HasPrefix(r.CallPath[1].File, e.sampleFile()) {
				t.Errorf("call %d: call path %+v, want callDown then the echo handler", i, r.CallPath)
			} else if src, err := os.ReadFile(r.CallPath[1].File); err == nil {
				if line := strings.Split(string(src), "\n")[r.CallPath[1].Line-1]; !strings.Contains(line, "callDown(") {
					t.Errorf("call %d: the handler's line %d does not call callDown: %q", i, r.CallPath[1].Line, line)
				}
			}
		}
		reqs := map[string]record{}
		for _, r := range byType(rs, "request") {
			reqs[r.ID] = r
		}
		for i, r := range echo {
			req, ok := reqs[*r.Request]
			if !ok {
				t.Fatalf("no request record %s", *r.Request)
			}
			wantPath, wantRoute := "/echo", "/echo"
			if i == 4 {
				wantPath, wantRoute = "/users/42", "/users/:id"
			}
			if req.Path != wantPath || req.Route != wantRoute || req.Method != "GET" {
				t.Errorf("request %s: %s %s route %q, want GET %s route %q", req.ID, req.Method, req.Path, req.Route, wantPath, wantRoute)
			}
			if req.Handler == nil || !strings.HasPrefix(req.Handler.File, e.sampleFile()) || req.Handler.Line == 0 {
				t.Errorf("request %s: handler %+v not in the sample", req.ID, req.Handler)
			}
			if i < 4 && (req.Headers["traceparent"] != tp || req.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736") {
				t.Errorf("request %s: traceparent %q traceId %q", req.ID, req.Headers["traceparent"], req.TraceID)
			}
			if i == 4 && (req.TraceID != "" || req.Headers["x-test-id"] != "u42") {
				t.Errorf("request %s: headers %v traceId %q", req.ID, req.Headers, req.TraceID)
			}
			if req.EndNs < req.StartNs || r.TsNs < req.StartNs || r.TsNs > req.EndNs {
				t.Errorf("request %s: times start %d end %d, outbound at %d", req.ID, req.StartNs, req.EndNs, r.TsNs)
			}
		}
	})
}

// checkLineCallsOut: the reported line is really the one making the call.
func checkLineCallsOut(t *testing.T, l *loc) {
	t.Helper()
	b, err := os.ReadFile(l.File)
	if err != nil {
		t.Errorf("call site file: %v", err)
		return
	}
	lines := strings.Split(string(b), "\n")
	if l.Line > len(lines) {
		t.Errorf("call site %s:%d is past the end of the file", l.File, l.Line)
		return
	}
	line := lines[l.Line-1]
	if !strings.Contains(line, "(") {
		t.Errorf("call site %s:%d is %q, not a call", l.File, l.Line, line)
	}
}

// TestFanoutGoroutines: calls made by goroutines a handler started belong
// to the handler's request; a background goroutine's calls to none.
func TestFanoutAndBackground(t *testing.T) {
	eachToolchain(t, func(t *testing.T, toolchain string) {
		e := newEnv(t, toolchain)
		e.heartbeat = 30 * time.Millisecond
		h := e.launch()
		e.get("/fanout", "f1", nil)
		time.Sleep(200 * time.Millisecond)
		waitFor(t, "the request record", 10*time.Second, func() bool { return h.count("request") >= 1 })
		rs := h.stop()

		req := byType(rs, "request")[0]
		var parts, background int
		goids := map[uint64]bool{}
		for _, r := range byType(rs, "outbound") {
			if r.Dport != port(e.down) {
				continue
			}
			if r.Request == nil {
				background++
				continue
			}
			if *r.Request != req.ID {
				t.Errorf("outbound %+v names %s, want %s", r, *r.Request, req.ID)
			}
			if r.Goid == req.Goid {
				t.Errorf("fan-out call ran in the handler's goroutine %d, expected its own", r.Goid)
			}
			goids[r.Goid] = true
			parts++
		}
		if parts != 3 || len(goids) != 3 {
			t.Errorf("want 3 fan-out calls from 3 goroutines, got %d from %d", parts, len(goids))
		}
		if background < 2 {
			t.Errorf("want the background goroutine's calls reported with request null, got %d", background)
		}
		for _, x := range e.truth() {
			if x.TestID == "background" && x.CallerRoute != "" {
				t.Errorf("background call carried a route %q", x.CallerRoute)
			}
		}
	})
}

// TestOnlyTargetProcess: two processes of the same binary; only the one
// whose pid is given is traced.
func TestOnlyTargetProcess(t *testing.T) {
	eachToolchain(t, func(t *testing.T, toolchain string) {
		e := newEnv(t, toolchain)
		other := *e
		other.service = freeAddr(t)
		a := start(t, e.sampleArgv()[0], e.sampleArgv()[1:]...)
		start(t, other.sampleArgv()[0], other.sampleArgv()[1:]...)
		h := startHelper(t, "--pid", fmt.Sprint(a.cmd.Process.Pid), "--header", "x-test-id")
		ready := h.waitReady()
		if ready.PID != a.cmd.Process.Pid {
			t.Fatalf("ready names pid %d, want %d", ready.PID, a.cmd.Process.Pid)
		}
		for i := 0; i < 5; i++ {
			e.get("/echo", fmt.Sprintf("a%d", i), nil)
			other.get("/echo", fmt.Sprintf("b%d", i), nil)
		}
		waitFor(t, "5 request records", 10*time.Second, func() bool { return h.count("request") >= 5 })
		time.Sleep(200 * time.Millisecond)
		rs := h.stop()
		if n := len(byType(rs, "request")); n != 5 {
			t.Errorf("want 5 requests (the target's), got %d", n)
		}
		for _, r := range rs {
			if (r.Type == "request" || r.Type == "outbound") && r.PID != a.cmd.Process.Pid {
				t.Errorf("record from pid %d: %+v", r.PID, r)
			}
			if r.Type == "request" && !strings.HasPrefix(r.Headers["x-test-id"], "a") {
				t.Errorf("traced a request of the other process: %+v", r)
			}
		}
		if a.hasExited() {
			t.Errorf("the traced service exited: %s", a.stderr.String())
		}
		e.get("/echo", "after", nil) // still serves after the helper left
	})
}

// TestTargetExitsMidTrace: the helper notices, says so, and exits cleanly.
func TestTargetExitsMidTrace(t *testing.T) {
	e := newEnv(t, toolchains[0])
	s := start(t, e.sampleArgv()[0], e.sampleArgv()[1:]...)
	h := startHelper(t, "--pid", fmt.Sprint(s.cmd.Process.Pid))
	h.waitReady()
	go client.Get("http://" + e.service + "/slow?ms=3000")
	time.Sleep(300 * time.Millisecond)
	s.cmd.Process.Signal(syscall.SIGKILL)
	rs := h.wait(10 * time.Second)
	if h.exit != 0 {
		t.Errorf("helper exit code %d, want 0:\n%s", h.exit, h.stderr.String())
	}
	ends := byType(rs, "end")
	if len(ends) != 1 || ends[0].Reason != "target-exited" {
		t.Errorf("want an end record with reason target-exited, got %+v", ends)
	}
	if len(byType(rs, "stats")) == 0 {
		t.Errorf("want a final stats record")
	}
}

// TestBadInput: each mistake gets a coded error and a non-zero exit.
func TestBadInput(t *testing.T) {
	cases := []struct {
		name string
		args func(t *testing.T) []string
		code records.Code
	}{
		{"non-Go binary", func(t *testing.T) []string {
			p := exec.Command("sleep", "30")
			p.Start()
			t.Cleanup(func() { p.Process.Kill(); p.Wait() })
			return []string{"--pid", fmt.Sprint(p.Process.Pid)}
		}, "NOT_GO"},
		{"non-Go binary launched", func(t *testing.T) []string { return []string{"--", "/bin/true"} }, "NOT_GO"},
		{"no such pid", func(t *testing.T) []string { return []string{"--pid", "999999999"} }, "NO_PROCESS"},
		{"not an HTTP server", func(t *testing.T) []string { return []string{"--", helperBin, "help"} }, "NOT_HTTP_SERVER"},
		{"corrupt Go binary", func(t *testing.T) []string {
			return []string{"--", corruptCopy(t, newEnv(t, toolchains[0]).sampleArgv()[0])}
		}, "UNSUPPORTED_BINARY"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := startHelper(t, c.args(t)...)
			rs := h.wait(20 * time.Second)
			if h.exit == 0 {
				t.Errorf("exit code 0, want non-zero")
			}
			errs := byType(rs, "error")
			if len(errs) != 1 || errs[0].Code != c.code || errs[0].Message == "" {
				t.Fatalf("want one error record with code %s, got %+v\nstderr: %s", c.code, rs, h.stderr.String())
			}
			if len(byType(rs, "ready")) != 0 {
				t.Errorf("ready record despite the error")
			}
		})
	}
}

// corruptCopy copies a Go executable with its .gopclntab header claiming
// more functions than the section holds.
func corruptCopy(t *testing.T, bin string) string {
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	sec := ef.Section(".gopclntab")
	if sec == nil {
		t.Fatalf("%s has no .gopclntab", bin)
	}
	binary.LittleEndian.PutUint64(data[sec.Offset+8:], 1<<40)
	out := filepath.Join(t.TempDir(), "corrupt")
	if err := os.WriteFile(out, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStrippedBinary: without DWARF or a symbol table the helper falls
// back to its per-version offsets and .gopclntab, and still attributes.
func TestStrippedBinary(t *testing.T) {
	e := newEnv(t, toolchains[len(toolchains)-1])
	e.ldflags = "-s -w"
	h := e.launch()
	if r := h.waitReady(); !strings.HasPrefix(r.Offsets, "table") {
		t.Errorf("stripped binary: offsets from %q, want the version table", r.Offsets)
	}
	e.get("/echo", "s1", nil)
	waitFor(t, "the request", 10*time.Second, func() bool { return h.count("request") >= 1 })
	rs := h.stop()
	req := byType(rs, "request")[0]
	obs := byType(rs, "outbound")
	if req.Route != "/echo" || len(obs) == 0 || obs[0].Request == nil || *obs[0].Request != req.ID {
		t.Fatalf("stripped binary: request %+v outbound %+v", req, obs)
	}
	if obs[0].CallSite == nil || obs[0].CallSite.Line == 0 {
		t.Errorf("stripped binary: no call site %+v", obs[0].CallSite)
	}
}

// TestBuildForms: a position-independent build (the default of several
// distributions' Go packaging and of hardened builds), one linked by the C
// toolchain (cgo), a -trimpath build and a stripped PIE give the same
// answers as the plain build: every PC read at run time is mapped back
// through the load bias; and each runs the whole concurrency scenario
// (TestAttributionUnderConcurrency) with precision and recall 1.
func TestBuildForms(t *testing.T) {
	for _, form := range []struct {
		name, ldflags string
		env           []string
	}{
		{"pie", "", []string{"GOFLAGS=-buildmode=pie", "CGO_ENABLED=0"}},
		{"cgo-pie", "", []string{"GOFLAGS=-buildmode=pie", "CGO_ENABLED=1"}},
		{"cgo", "", []string{"CGO_ENABLED=1"}},
		{"trimpath", "", []string{"GOFLAGS=-trimpath"}},
		{"stripped-pie", "-s -w", []string{"GOFLAGS=-buildmode=pie", "CGO_ENABLED=0"}},
	} {
		t.Run(form.name, func(t *testing.T) {
			e := newEnv(t, toolchains[len(toolchains)-1])
			e.ldflags, e.buildEnv = form.ldflags, form.env
			h := e.launch()
			h.waitReady()
			e.get("/echo", "b1", nil)
			e.get("/users/42", "b2", nil)
			waitFor(t, "the requests", 10*time.Second, func() bool { return h.count("request") >= 2 })
			rs := h.stop()
			handlers := map[string]string{"/echo": "main.(*server).echo", "/users/:id": "main.(*server).getUser"}
			for _, req := range byType(rs, "request") {
				if req.Handler == nil || req.Handler.Func != handlers[req.Route] {
					t.Errorf("%s: handler %+v, want %s", req.Route, req.Handler, handlers[req.Route])
				}
				var mine []record
				for _, ob := range byType(rs, "outbound") {
					if ob.Request != nil && *ob.Request == req.ID {
						mine = append(mine, ob)
					}
				}
				if len(mine) != 1 {
					t.Errorf("%s: %d outbound records, want 1: %+v", req.Route, len(mine), mine)
					continue
				}
				if mine[0].CallSite == nil || mine[0].CallSite.Func != "main.(*server).callDown" {
					t.Errorf("%s: call site %+v, want main.(*server).callDown", req.Route, mine[0].CallSite)
				}
			}
			// And the whole concurrency scenario, as exact as on a plain build.
			a := newEnv(t, e.toolchain)
			a.ldflags, a.buildEnv = form.ldflags, form.env
			attributionUnderConcurrency(t, a)
		})
	}
}

// TestWithoutPrivileges: as an unprivileged user the helper says what to do.
func TestWithoutPrivileges(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "helper")
	b, _ := os.ReadFile(helperBin)
	os.WriteFile(bin, b, 0o755)
	os.Chmod(dir, 0o755)
	e := newEnv(t, toolchains[0])
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin, "trace", "--format", "ndjson", "--", e.sampleArgv()[0])
	out, _ := cmd.Output()
	if cmd.ProcessState.ExitCode() == 0 {
		t.Fatalf("unprivileged trace exited 0: %s", out)
	}
	if !strings.Contains(string(out), `"code":"NO_PRIVILEGES"`) || !strings.Contains(string(out), "setcap") {
		t.Fatalf("want a NO_PRIVILEGES error that explains setcap, got %s", out)
	}
}

// TestLaunchDirAndEnv: --cwd, --env and --env-file shape the launched
// service's working directory (a relative binary is found there) and
// environment; the file's values stay out of the helper's command line.
func TestLaunchDirAndEnv(t *testing.T) {
	e := newEnv(t, toolchains[len(toolchains)-1])
	dir := t.TempDir()
	argv := e.sampleArgv()
	if err := os.Symlink(argv[0], filepath.Join(dir, "svc")); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(dir, "env")
	if err := os.WriteFile(envFile, []byte("OL_SECRET=s3cret value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--cwd", dir, "--env", "OL_LAUNCH_TEST=a=b", "--env-file", envFile, "--", "./svc"}, argv[1:]...)
	h := startHelper(t, args...)
	pid := h.waitReady().PID
	if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", h.cmd.Process.Pid)); strings.Contains(string(cmdline), "s3cret") {
		t.Errorf("the env file's value is on the helper's command line: %q", cmdline)
	}
	waitFor(t, "the sample to listen", 20*time.Second, func() bool { return strings.Contains(h.stderr.String(), "listening on") })
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil || cwd != dir {
		t.Errorf("the service runs in %q (%v), want %q", cwd, err, dir)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	vars := strings.Split(string(environ), "\x00")
	for _, want := range []string{"OL_LAUNCH_TEST=a=b", "OL_SECRET=s3cret value", "PATH=" + os.Getenv("PATH")} {
		if !slices.Contains(vars, want) {
			t.Errorf("the service's environment lacks %s: %q", want, vars)
		}
	}
	e.get("/echo", "cwd1", nil)
	waitFor(t, "the request", 10*time.Second, func() bool { return h.count("request") >= 1 })
	if obs := byType(h.stop(), "outbound"); len(obs) == 0 {
		t.Errorf("no outbound record from the service launched in %s", dir)
	}
}

// rawRequest sends bytes as one HTTP request on a new connection and
// returns the status line.
func rawRequest(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("sending %.60q: %v", req, err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the answer to %.60q: %v", req, err)
	}
	return strings.TrimSpace(line)
}

// TestHostileRequests: a 1 MB path, invalid UTF-8 in the path and a header,
// control characters, an over-long method and header value, sent as raw
// bytes. Every line the helper writes stays valid UTF-8 JSON (the harness
// checks each one); what the probe cut is named in `truncated`; invalid
// bytes read as U+FFFD; the outbound call is still attributed.
func TestHostileRequests(t *testing.T) {
	e := newEnv(t, toolchains[len(toolchains)-1])
	h := e.launch("x-hostile")
	send := func(method, target, id, hostile string) string {
		req := method + " " + target + " HTTP/1.1\r\nHost: x\r\nX-Test-Id: " + id + "\r\n"
		if hostile != "" {
			req += "X-Hostile: " + hostile + "\r\n"
		}
		return rawRequest(t, e.service, req+"Connection: close\r\n\r\n")
	}
	long := strings.Repeat("a", 1_000_000)
	for _, c := range []struct{ method, target, id, hostile, status string }{
		{"GET", "/users/" + long, "long-path", "", "200"},
		{"GET", "/users/%ff%fe%80", "escaped-bytes", "", "200"},
		{"GET", "/users/\xff\xfe", "raw-bytes", "\xff\xfe\x80bad", "200"},
		// The handler runs; its own downstream URL is then refused (502).
		{"GET", "/users/%1b%5b2J%00", "escaped-controls", "tab\there", "502"},
		{"GET", "/echo", "long-header", strings.Repeat("h", 10_000), "200"},
		{strings.Repeat("M", 40), "/echo", "long-method", "", "404"},
		// Go's server refuses a control character in a header value (400)
		// before any handler runs: there is no request to report.
		{"GET", "/echo", "control-header", "a\x01b", "400"},
	} {
		if got := send(c.method, c.target, c.id, c.hostile); !strings.Contains(got, " "+c.status+" ") {
			t.Errorf("%s: answered %q, want %s", c.id, got, c.status)
		}
	}
	e.get("/echo", "after", nil)
	waitFor(t, "the request records", 10*time.Second, func() bool { return h.count("request") >= 7 })
	rs := h.stop()
	byID := map[string]record{}
	for _, r := range byType(rs, "request") {
		byID[r.Headers["x-test-id"]] = r
	}
	want := []struct {
		id, path, method string
		truncated        []string
		hostile          string
	}{
		{"long-path", "/users/" + long[:256-len("/users/")], "GET", []string{"path"}, ""},
		{"escaped-bytes", "/users/\uFFFD\uFFFD\uFFFD", "GET", nil, ""},
		{"raw-bytes", "/users/\uFFFD\uFFFD", "GET", nil, "\uFFFD\uFFFD\uFFFDbad"},
		{"escaped-controls", "/users/\x1b[2J\x00", "GET", nil, "tab\there"},
		{"long-header", "/echo", "GET", []string{"headers.x-hostile"}, strings.Repeat("h", 256)},
		{"long-method", "/echo", strings.Repeat("M", 16), []string{"method"}, ""},
		{"after", "/echo", "GET", nil, ""},
	}
	for _, w := range want {
		r, ok := byID[w.id]
		if !ok {
			t.Errorf("%s: no request record", w.id)
			continue
		}
		if r.Path != w.path || r.Method != w.method || !slices.Equal(r.Truncated, w.truncated) || r.Headers["x-hostile"] != w.hostile {
			t.Errorf("%s: path %.40q method %q truncated %q x-hostile %.40q; want %.40q %q %q %.40q",
				w.id, r.Path, r.Method, r.Truncated, r.Headers["x-hostile"], w.path, w.method, w.truncated, w.hostile)
		}
	}
	if _, ok := byID["control-header"]; ok {
		t.Errorf("a request Go's server refused was reported")
	}
	attributed := false
	for _, o := range byType(rs, "outbound") {
		attributed = attributed || (o.Request != nil && *o.Request == byID["long-path"].ID)
	}
	if !attributed {
		t.Errorf("the 1 MB path request's downstream call was not attributed to it")
	}
}

// Headers asked for are found in a request's header map of any size: a
// classic map's buckets and overflow buckets (Go before 1.24), a Swiss
// map's single group and its tables' groups (Go 1.24+), with the other
// headers' keys skipped.
func TestManyHeaders(t *testing.T) {
	for _, tc := range slices.Compact([]string{toolchains[0], toolchains[len(toolchains)-1]}) {
		t.Run(tc, func(t *testing.T) {
			e := newEnv(t, tc)
			h := e.launch("x-other")
			counts := []int{0, 3, 12, 60, 200}
			for _, n := range counts {
				hdr := map[string]string{
					"traceparent": fmt.Sprintf("00-%032x-%016x-01", n+1, n+1),
					"X-Other":     fmt.Sprintf("other-%d", n),
				}
				for i := 0; i < n; i++ {
					hdr[fmt.Sprintf("X-Filler-%03d", i)] = "f"
				}
				e.get("/health", fmt.Sprintf("many-%d", n), hdr)
			}
			waitFor(t, "the request records", 10*time.Second, func() bool { return h.count("request") >= len(counts) })
			got := map[string]record{}
			for _, r := range byType(h.stop(), "request") {
				got[r.Headers["x-test-id"]] = r
			}
			for _, n := range counts {
				r, ok := got[fmt.Sprintf("many-%d", n)]
				tp := fmt.Sprintf("00-%032x-%016x-01", n+1, n+1)
				if !ok || r.Headers["traceparent"] != tp || r.Headers["x-other"] != fmt.Sprintf("other-%d", n) || len(r.Headers) != 3 {
					t.Errorf("%d other headers: request %v, headers %v", n, ok, r.Headers)
				}
			}
		})
	}
}
