package probe_test

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"outboundlens/bpf/routes"
)

// routerCall is one kind of request to a router's test service: what is
// sent, the route it must be recorded with, and the handler function that
// serves it.
type routerCall struct {
	method, path, route, handler string
}

// TestChi: a service routed by chi v5 (a static route, a parameter, routes
// nested with Route, Group and With, a mounted router) gets each request's
// route pattern as chi reports it (RoutePattern), 32 requests in flight,
// each outbound call attributed to its request (precision and recall 1
// against the downstream's view). chi keeps no handler in its context: the
// probe reports none and the route index names it, one registration per
// method and pattern. Built with the local Go (with and without DWARF: the
// table's chi offsets), Go 1.21, Go 1.27 and the releases under test.
func TestChi(t *testing.T) {
	calls := []routerCall{
		{http.MethodGet, "/health", "/health", "health"},
		{http.MethodGet, "/users/%d", "/users/{id}", "getUser"},
		{http.MethodGet, "/api/orders/%d", "/api/orders/{id}", "getOrder"},
		{http.MethodPost, "/api/orders", "/api/orders", "createOrder"},
		{http.MethodGet, "/admin/stats", "/admin/stats", "adminStats"},
	}
	for _, tc := range routerBuilds() {
		t.Run(tc.name, func(t *testing.T) { testRouter(t, "chi", tc.toolchain, tc.stripped, calls, false) })
	}
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run("sites-"+arch, func(t *testing.T) { routerSites(t, "chi", arch) })
	}
}

// TestEcho: a service routed by echo v4 (a static route, a parameter, a
// group with middleware, a route middleware) gets each request's route path
// and handler function (file and line, the function the route registered,
// not echo's wrapper of it) from the probe, 32 requests in flight, each
// outbound call attributed to its request; the route index agrees on the
// handler.
func TestEcho(t *testing.T) {
	calls := []routerCall{
		{http.MethodGet, "/health", "/health", "health"},
		{http.MethodGet, "/users/%d", "/users/:id", "getUser"},
		{http.MethodGet, "/api/orders/%d", "/api/orders/:id", "getOrder"},
		{http.MethodPost, "/api/orders", "/api/orders", "createOrder"},
	}
	for _, tc := range routerBuilds() {
		t.Run(tc.name, func(t *testing.T) { testRouter(t, "echo", tc.toolchain, tc.stripped, calls, true) })
	}
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run("sites-"+arch, func(t *testing.T) { routerSites(t, "echo", arch) })
	}
}

type routerBuild struct {
	name, toolchain string
	stripped        bool
}

// routerBuilds: the local Go with and without DWARF, the oldest and newest
// supported releases, and the releases under test (OL_GO_TOOLCHAINS).
func routerBuilds() []routerBuild {
	bs := []routerBuild{{"local", "local", false}, {"local-w", "local", true}}
	seen := map[string]bool{"local": true}
	for _, tc := range append([]string{"go1.21.13", "go1.27.4"}, toolchains...) {
		if !seen[tc] {
			seen[tc] = true
			bs = append(bs, routerBuild{tc, tc, false})
		}
	}
	return bs
}

// buildRouterService builds testdata/<name> (a module of its own, at go
// 1.21) with a toolchain ("local": the go on PATH) and more environment.
func buildRouterService(t *testing.T, name, toolchain string, stripped bool, env ...string) (bin, src string) {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(t.TempDir(), name)
	args := []string{"build", "-o", bin}
	if stripped {
		args = append(args, "-ldflags=-w")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Dir = src
	build.Env = append(os.Environ(), env...)
	if toolchain != "local" {
		build.Env = append(build.Env, "GOTOOLCHAIN="+toolchain)
	}
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the %s service with %s: %v\n%s", name, toolchain, err, out)
	}
	return bin, src
}

// routerSites: the router's probe sits on instructions the kernel
// emulates, read byte by byte at each offset, for amd64 and arm64.
func routerSites(t *testing.T, name, arch string) {
	bin, _ := buildRouterService(t, name, "local", false, "GOARCH="+arch, "CGO_ENABLED=0")
	out, err := exec.Command(helperBin, "sites", bin).Output()
	if err != nil {
		t.Fatalf("helper sites: %v", err)
	}
	var r siteReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	code, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range r.Sites {
		if s.Role != name+"-route" {
			continue
		}
		if s.Stepped || !s.RequestPath {
			t.Errorf("%s: %s at %s, stepped %v", s.Role, s.Func, s.Insn, s.Stepped)
		}
		for _, off := range s.Offsets {
			n++
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
	if n != 1 {
		t.Errorf("%d %s-route sites, want the one call of pool.Put: %s", n, name, out)
	}
}

// funcLines finds the line of each top-level function of a Go file.
func funcLines(t *testing.T, file string) map[string]int {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
			out[fd.Name.Name] = fset.Position(fd.Pos()).Line
		}
	}
	return out
}

func testRouter(t *testing.T, name, toolchain string, stripped bool, calls []routerCall, probeHandler bool) {
	bin, src := buildRouterService(t, name, toolchain, stripped)
	lines := funcLines(t, filepath.Join(src, "main.go"))

	e := newEnv(t, "local")
	addr := freeAddr(t)
	h := startHelper(t, "--header", "x-test-id", "--", bin, "-addr", addr, "-downstream", "http://"+e.down)
	ready := h.waitReady()
	if toolchain != "local" && !strings.HasPrefix(ready.GoVersion, toolchain) {
		t.Fatalf("the service was built by %s, want %s", ready.GoVersion, toolchain)
	}
	if strings.HasPrefix(ready.Offsets, "table:") != stripped {
		t.Fatalf("offsets from %q, stripped %v", ready.Offsets, stripped)
	}
	role := name + "-route"
	placed := false
	for _, s := range ready.Sites {
		if s.Role == role {
			placed = true
			if s.Stepped || !s.RequestPath {
				t.Errorf("%s probe at %+v: want an emulated instruction on the request path", role, s)
			}
		}
	}
	if !placed {
		t.Fatalf("no %s probe in %+v", role, ready.Sites)
	}
	waitFor(t, "the service to listen", 20*time.Second, func() bool { return listening.MatchString(h.stderr.String()) })

	const total = 160
	sent := map[string]routerCall{} // test id -> its call
	paths := map[string]string{}
	for i := 0; i < total; i++ {
		c := calls[i%len(calls)]
		id := fmt.Sprintf("%s-%d", name, i)
		sent[id] = c
		paths[id] = c.path
		if strings.Contains(c.path, "%d") {
			paths[id] = fmt.Sprintf(c.path, i)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, 32)
	for id, c := range sent {
		wg.Add(1)
		sem <- struct{}{}
		go func(id string, c routerCall) {
			defer wg.Done()
			defer func() { <-sem }()
			req, _ := http.NewRequest(c.method, "http://"+addr+paths[id], nil)
			req.Header.Set("X-Test-Id", id)
			resp, err := client.Do(req)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != c.route {
					err = fmt.Errorf("%s %s: %d %q, want the handler of %s", c.method, paths[id], resp.StatusCode, b, c.route)
				}
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}(id, c)
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	waitFor(t, "the requests", 10*time.Second, func() bool { return h.count("request") >= total })
	rs := h.stop()

	ids := testIDs(rs)
	got := 0
	for _, r := range byType(rs, "request") {
		id := r.Headers["x-test-id"]
		c, ok := sent[id]
		if !ok {
			t.Errorf("a request nobody sent: %+v", r)
			continue
		}
		got++
		if r.Method != c.method || r.Path != paths[id] {
			t.Errorf("%s: recorded %s %s, sent %s %s", id, r.Method, r.Path, c.method, paths[id])
		}
		if r.Route != c.route {
			t.Errorf("%s (%s %s): route %q, want %q", id, c.method, paths[id], r.Route, c.route)
		}
		switch {
		case !probeHandler && r.Handler != nil:
			t.Errorf("%s: handler %+v from the probe; %s handlers come from the route index", id, r.Handler, name)
		case probeHandler && (r.Handler == nil || r.Handler.Func != "main."+c.handler || r.Handler.Line != lines[c.handler] || filepath.Base(r.Handler.File) != "main.go"):
			t.Errorf("%s (%s): handler %+v, want main.%s at main.go:%d", id, c.route, r.Handler, c.handler, lines[c.handler])
		}
	}
	if got != total {
		t.Fatalf("%d request records, want %d", got, total)
	}
	traced := map[key]int{}
	for _, r := range byType(rs, "outbound") {
		if r.Dport != port(e.down) {
			continue
		}
		id := "none"
		if r.Request != nil {
			id = ids[*r.Request]
		}
		traced[key{id, r.Sport}]++
	}
	seen := map[key]int{}
	for _, x := range e.truth() {
		if c, ok := sent[x.TestID]; !ok || x.CallerRoute != c.route {
			t.Errorf("the downstream saw a call of %q from %q", x.TestID, x.CallerRoute)
		}
		seen[key{x.TestID, x.RemotePort}]++
	}
	p, r := score(t, name+" downstream calls", traced, seen)
	t.Logf("%s %s: %d requests, precision %.4f recall %.4f", name, toolchain, total, p, r)
	if p != 1 || r != 1 {
		t.Fatalf("precision %.4f and recall %.4f must both be 1", p, r)
	}
	checkLost(t, rs)

	// The route index's handler of each (method, route): exactly one.
	idx, err := routes.Index(src)
	if err != nil {
		t.Fatal(err)
	}
	indexed := map[string][]routes.Route{}
	for _, r := range idx {
		indexed[r.Method+" "+r.Path] = append(indexed[r.Method+" "+r.Path], r)
	}
	for _, c := range calls {
		rs := indexed[c.method+" "+c.route]
		if len(rs) != 1 {
			t.Fatalf("route index: %d registrations of %s %s, want 1 (index: %+v)", len(rs), c.method, c.route, idx)
		}
		h := rs[0].Handler
		if h.Func != "main."+c.handler || h.Line != lines[c.handler] || h.File != filepath.Join(src, "main.go") {
			t.Errorf("route index: %s %s handled by %+v, want main.%s at main.go:%d", c.method, c.route, h, c.handler, lines[c.handler])
		}
	}
}
