package probe_test

import (
	"bufio"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestGRPC: a grpc-go service (unary, server-streaming and bidirectional
// methods, 32 calls in flight) is traced: each call is a request record
// whose route and path are the full method, whose handler is the
// implementing method (its line in the source), with the x-test-id and
// traceparent metadata; the HTTP calls its methods make (directly, from a
// goroutine they start with context.Background(), and from a worker
// started with the service, with the call's context) are attributed to the
// call. Truth: the downstream's own view (test id, client port). The
// service needs Go 1.24 (grpc-go's go.mod): it is built with each
// toolchain under test from Go 1.24 on. Served by grpc-go's own server
// (Serve), and mounted in net/http's HTTP/2 server (ServeHTTP, h2c), where
// each call is the HTTP request that carries it.
func TestGRPC(t *testing.T) {
	for _, tc := range toolchainsFrom(t, 24) {
		t.Run(tc+"/Serve", func(t *testing.T) { testGRPC(t, tc, false) })
		t.Run(tc+"/ServeHTTP", func(t *testing.T) { testGRPC(t, tc, true) })
	}
}

// TestGRPCProbeSitesAreEmulated: in the gRPC service, built for amd64 and
// arm64 with each toolchain under test from Go 1.24, the gRPC probes are
// placed (the client call's end too: it calls itself over gRPC), on
// instructions the kernel emulates, without net/http's server
// probes (a gRPC-only service has no net/http server).
func TestGRPCProbeSitesAreEmulated(t *testing.T) {
	for _, tc := range toolchainsFrom(t, 24) {
		for _, arch := range []string{"amd64", "arm64"} {
			t.Run(tc+"/"+arch, func(t *testing.T) {
				bin := filepath.Join(t.TempDir(), "grpcservice")
				build := exec.Command("go", "build", "-o", bin, ".")
				build.Dir = "testdata/grpc"
				build.Env = append(os.Environ(), "GOARCH="+arch, "CGO_ENABLED=0")
				if tc != "local" {
					build.Env = append(build.Env, "GOTOOLCHAIN="+tc)
				}
				if out, err := build.CombinedOutput(); err != nil {
					t.Fatalf("building the gRPC service: %v\n%s", err, out)
				}
				roles := checkSitesEmulated(t, bin, arch)
				for _, want := range []string{"grpc-start", "grpc-end", "grpc-call-end", "goroutine-start", "round-trip"} {
					if !roles[want] {
						t.Errorf("no %s probe placed", want)
					}
				}
				if roles["request-start"] {
					t.Errorf("a net/http server probe placed in a service without one")
				}
			})
		}
	}
}

// funcLine is the line of the first line of src that starts with decl.
func funcLine(t *testing.T, src, decl string) int {
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		if strings.HasPrefix(s.Text(), decl) {
			return n
		}
	}
	t.Fatalf("%s declares no %q", src, decl)
	return 0
}

func testGRPC(t *testing.T, toolchain string, serveHTTP bool) {
	d := &h2Downstream{seen: map[key]int{}, proto: map[string]int{}}
	down := httptest.NewServer(d)
	defer down.Close()

	dir := t.TempDir()
	bin := filepath.Join(dir, "grpcservice")
	build := exec.Command("go", "build", "-o", bin, ".")
	if serveHTTP {
		build.Args = []string{"go", "build", "-tags", "servehttp", "-o", bin, "."}
	}
	build.Dir = "testdata/grpc" // a module of its own, with grpc-go
	if toolchain != "local" {
		build.Env = append(os.Environ(), "GOTOOLCHAIN="+toolchain)
	}
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the gRPC service: %v\n%s", err, out)
	}
	src, err := filepath.Abs("testdata/grpc/main.go")
	if err != nil {
		t.Fatal(err)
	}
	// route -> the implementing method, by call number modulo 3
	routes := []string{"/grpc.testing.TestService/UnaryCall", "/grpc.testing.TestService/StreamingOutputCall", "/grpc.testing.TestService/FullDuplexCall"}
	methods := map[string]string{}
	for _, r := range routes {
		methods[r] = r[strings.LastIndex(r, "/")+1:]
	}
	lines := map[string]int{}
	for _, m := range methods {
		lines[m] = funcLine(t, src, "func (s *server) "+m+"(")
	}

	addr := freeAddr(t)
	args := []string{"--header", "x-test-id", "--", bin, "-addr", addr, "-downstream", down.URL}
	if serveHTTP {
		args = append(args, "-servehttp")
	}
	h := startHelper(t, args...)
	ready := h.waitReady()
	// Without the servehttp tag the service has no net/http server: it is
	// traced for its gRPC calls alone.
	if hasHTTP := slices.Contains(ready.Probes, "net/http.serverHandler.ServeHTTP"); hasHTTP != serveHTTP {
		t.Fatalf("net/http's server probed: %v, want %v (probes %v)", hasHTTP, serveHTTP, ready.Probes)
	}
	waitFor(t, "the service to listen", 20*time.Second, func() bool { return listening.MatchString(h.stderr.String()) })

	const total = 129 // a third each unary, server-streaming, bidirectional
	load := exec.Command(bin, "-load", "-addr", addr, "-n", fmt.Sprint(total), "-c", "32")
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("the gRPC calls: %v\n%s", err, out)
	}
	waitFor(t, "all request records", 10*time.Second, func() bool { return h.count("request") >= total })
	rs := h.stop()

	reqs := byType(rs, "request")
	if len(reqs) != total {
		t.Fatalf("%d request records, want %d", len(reqs), total)
	}
	seenIDs := map[string]bool{}
	perRoute := map[string]int{}
	for _, r := range reqs {
		var i int
		if _, err := fmt.Sscanf(r.Headers["x-test-id"], "g%d", &i); err != nil {
			t.Errorf("request %s: x-test-id %q is not the caller's: %+v", r.ID, r.Headers["x-test-id"], r)
			continue
		}
		seenIDs[r.Headers["x-test-id"]] = true
		want := routes[i%3]
		perRoute[r.Route]++
		if r.Route != want || r.Path != want || r.Method != "POST" {
			t.Errorf("request %s (call %d): method %q path %q route %q, want POST %s", r.ID, i, r.Method, r.Path, r.Route, want)
		}
		m := methods[want]
		if r.Handler == nil || r.Handler.Func != "main.(*server)."+m || r.Handler.File != src || r.Handler.Line != lines[m] {
			t.Errorf("request %s (call %d): handler %+v, want main.(*server).%s at %s:%d", r.ID, i, r.Handler, m, src, lines[m])
		}
		if tp := fmt.Sprintf("00-%032x-%016x-01", i+1, i+1); r.Headers["traceparent"] != tp || r.TraceID != fmt.Sprintf("%032x", i+1) {
			t.Errorf("request %s (call %d): traceparent %q traceId %q, want %q", r.ID, i, r.Headers["traceparent"], r.TraceID, tp)
		}
		if r.EndNs < r.StartNs {
			t.Errorf("request %s ends (%d) before it starts (%d)", r.ID, r.EndNs, r.StartNs)
		}
	}
	if len(seenIDs) != total {
		t.Errorf("%d distinct calls among the request records, want %d", len(seenIDs), total)
	}

	ids := testIDs(rs)
	dport := port(down.Listener.Addr().String())
	traced := map[key]int{}
	for _, r := range byType(rs, "outbound") {
		if r.Dport != dport || r.Via == "connect" {
			continue // the dial of a connection; its call is reported by the round trip
		}
		id := "none"
		if r.Request != nil {
			id = ids[*r.Request]
		}
		traced[key{id, r.Sport}]++
	}
	p, rc := score(t, "gRPC methods' calls", traced, d.snapshot())
	t.Logf("%s: %d gRPC calls (%v), %d downstream calls, precision %.4f recall %.4f", toolchain, total, perRoute, 3*total, p, rc)
	if p != 1 || rc != 1 {
		t.Fatalf("precision %.4f and recall %.4f must both be 1", p, rc)
	}
	checkLost(t, rs)
}

// TestGRPCWithoutDWARF: a gRPC-only service built without DWARF (-w) is
// refused with NOT_HTTP_SERVER, saying that its gRPC calls need DWARF.
func TestGRPCWithoutDWARF(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "grpcservice")
	build := exec.Command("go", "build", "-ldflags=-w", "-o", bin, ".")
	build.Dir = "testdata/grpc"
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the gRPC service: %v\n%s", err, out)
	}
	h := startHelper(t, "--", bin, "-addr", freeAddr(t))
	rs := h.wait(20 * time.Second)
	if h.exit == 0 {
		t.Errorf("exit code 0, want non-zero")
	}
	errs := byType(rs, "error")
	if len(errs) != 1 || errs[0].Code != "NOT_HTTP_SERVER" || !strings.Contains(errs[0].Message, "DWARF") {
		t.Fatalf("want one NOT_HTTP_SERVER error naming DWARF, got %+v\nstderr: %s", rs, h.stderr.String())
	}
}
