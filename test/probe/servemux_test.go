package probe_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestServeMux: a service routed by net/http's ServeMux gets the pattern
// that chose each request's handler as its `route`, under concurrency
// (32 requests in flight over a method pattern with a wildcard, a method
// pattern, a subtree and a host pattern), and each request's outbound call
// is still attributed to it (checked against the downstream's view of the
// source port). Go 1.23+ keeps the pattern in Request.Pattern, Go 1.22 in
// Request.pat; Go 1.21 has neither: its requests have no route and are
// otherwise recorded as before. A binary without DWARF (-w) gets the
// offsets from the per-release table.
func TestServeMux(t *testing.T) {
	for _, tc := range []struct {
		toolchain string // "local": the go on PATH
		stripped  bool   // built with -ldflags=-w
		patterns  bool   // the release routes by patterns and records them
	}{
		{"local", false, true},
		{"local", true, true},
		{"go1.22.12", false, true},
		{"go1.22.12", true, true},
		{"go1.21.13", false, false},
	} {
		name := tc.toolchain
		if tc.stripped {
			name += "-w"
		}
		t.Run(name, func(t *testing.T) { testServeMux(t, tc.toolchain, tc.stripped, tc.patterns) })
	}
}

// buildServeMux builds testdata/servemux as a module of its own whose go
// line is the toolchain's release: ServeMux patterns are on only for a main
// module at go 1.22 or later (GODEBUG httpmuxgo121).
func buildServeMux(t *testing.T, toolchain string, stripped bool) string {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "servemux", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := "1.22"
	if strings.HasPrefix(toolchain, "go1.21") {
		goLine = "1.21"
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module servemux\n\ngo "+goLine+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "servemux")
	args := []string{"build", "-o", bin}
	if stripped {
		args = append(args, "-ldflags=-w")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	if toolchain != "local" {
		cmd.Env = append(cmd.Env, "GOTOOLCHAIN="+toolchain)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the servemux service with %s: %v\n%s", toolchain, err, out)
	}
	return bin
}

func testServeMux(t *testing.T, toolchain string, stripped, patterns bool) {
	e := newEnv(t, "local")
	bin := buildServeMux(t, toolchain, stripped)
	addr := freeAddr(t)
	h := startHelper(t, "--header", "x-test-id", "--", bin, "-addr", addr, "-downstream", "http://"+e.down)
	ready := h.waitReady()
	if toolchain != "local" && !strings.HasPrefix(ready.GoVersion, toolchain) {
		t.Fatalf("the service was built by %s, want %s", ready.GoVersion, toolchain)
	}
	if wantTable := stripped; strings.HasPrefix(ready.Offsets, "table:") != wantTable {
		t.Fatalf("offsets from %q, stripped %v", ready.Offsets, stripped)
	}
	waitFor(t, "the servemux service to listen", 20*time.Second, func() bool { return listening.MatchString(h.stderr.String()) })

	type call struct{ method, path, pattern string }
	calls := func(i int) call {
		switch i % 4 {
		case 0:
			return call{http.MethodGet, fmt.Sprintf("/users/%d", i), "GET /users/{id}"}
		case 1:
			return call{http.MethodPost, "/orders", "POST /orders"}
		case 2:
			return call{http.MethodGet, fmt.Sprintf("/items/%d/detail", i), "/items/"}
		default:
			return call{http.MethodGet, "/hosted", "127.0.0.1/hosted"}
		}
	}
	// Go 1.21 routes "GET /users/{id}" and "POST /orders" as literal paths
	// no request has: only the others are sent there.
	var ids []int
	for i := 0; len(ids) < 32; i++ {
		if c := calls(i); patterns || !strings.Contains(c.pattern, " ") {
			ids = append(ids, i)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	start := make(chan struct{})
	for _, i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			c := calls(i)
			req, _ := http.NewRequest(c.method, "http://"+addr+c.path, nil)
			req.Header.Set("X-Test-Id", fmt.Sprintf("mux-%d", i))
			resp, err := client.Do(req)
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != c.pattern {
				errs <- fmt.Errorf("%s %s: %d %q, want the handler of %q", c.method, c.path, resp.StatusCode, b, c.pattern)
			}
		}(i)
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitFor(t, "the requests", 10*time.Second, func() bool { return h.count("request") >= len(ids) })
	rs := h.stop()

	want := map[string]call{} // test id -> the call
	for _, i := range ids {
		want[fmt.Sprintf("mux-%d", i)] = calls(i)
	}
	byID := map[string]record{}
	routes := map[string]int{}
	for _, r := range byType(rs, "request") {
		id := r.Headers["x-test-id"]
		c, ok := want[id]
		if !ok {
			t.Errorf("a request nobody sent: %+v", r)
			continue
		}
		byID[r.ID] = r
		if r.Method != c.method || r.Path != c.path {
			t.Errorf("%s: recorded %s %s, sent %s %s", id, r.Method, r.Path, c.method, c.path)
		}
		wantRoute := c.pattern
		if !patterns {
			wantRoute = ""
		}
		if r.Route != wantRoute {
			t.Errorf("%s (%s %s): route %q, want %q", id, c.method, c.path, r.Route, wantRoute)
		}
		if r.Handler != nil {
			t.Errorf("%s: handler %+v from the probe; ServeMux handlers come from the route index", id, r.Handler)
		}
		routes[r.Route]++
	}
	if len(byID) != len(ids) {
		t.Fatalf("%d request records, want %d", len(byID), len(ids))
	}
	if patterns && len(routes) != 4 {
		t.Errorf("routes %v, want the 4 patterns", routes)
	}
	portOf := map[string]int{}
	for _, tr := range e.truth() {
		portOf[tr.TestID] = tr.RemotePort
	}
	seen := map[string]int{}
	for _, ob := range byType(rs, "outbound") {
		if ob.Request == nil {
			t.Errorf("outbound %+v has no request", ob)
			continue
		}
		id := byID[*ob.Request].Headers["x-test-id"]
		seen[id]++
		if portOf[id] != ob.Sport {
			t.Errorf("%s: outbound from port %d, the downstream saw %s's call from %d", *ob.Request, ob.Sport, id, portOf[id])
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("%s: %d outbound records, want 1", id, seen[id])
		}
	}
}
