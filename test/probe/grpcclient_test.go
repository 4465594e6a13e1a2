package probe_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"outboundlens/bpf/records"
)

// TestGRPCClientCalls: gRPC-go client calls, whose bytes the connection's
// loopy writer sends for every caller, are reported once per call in the
// caller's goroutine (via grpc), attributed to their request, also when a
// worker started with the service makes them with the request's context;
// 32 requests in flight over one multiplexed connection. Each call's
// outcome: its status code (op.status; op.failed unless OK) as the server
// answered it (OK, NotFound, Unavailable, PermissionDenied), and a
// duration (op.durationNs) of at least the server's delay before it
// answered and at most the request's; a server stream the caller cancels
// after its first message (Canceled), whose end grpc-go may see in a
// goroutine of its own. Truth: the gRPC server's own view
// (x-test-id metadata, client port, the code and delay it answered with).
// gRPC-go needs Go 1.24 here: built with each toolchain under test from
// Go 1.24 on.
func TestGRPCClientCalls(t *testing.T) {
	for _, tc := range toolchainsFrom(t, 24) {
		t.Run(tc, func(t *testing.T) { testGRPCClientCalls(t, tc) })
	}
}

func testGRPCClientCalls(t *testing.T, toolchain string) {
	bin := filepath.Join(t.TempDir(), "grpcclient")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = "testdata/grpcclient" // a module of its own, with grpc-go
	if toolchain != "local" {
		build.Env = append(os.Environ(), "GOTOOLCHAIN="+toolchain)
	}
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the gRPC service: %v\n%s", err, out)
	}
	grpcAddr, truthAddr := freeAddr(t), freeAddr(t)
	start(t, bin, "-serve", "-addr", grpcAddr, "-truth", truthAddr)

	e := &env{t: t, service: freeAddr(t)}
	h := startHelper(t, "--header", "x-test-id", "--", bin, "-addr", e.service, "-grpc", grpcAddr)
	h.waitReady()
	waitFor(t, "the service to listen", 20*time.Second, func() bool { return listening.MatchString(h.stderr.String()) })

	routes := []string{"/grpc/%d", "/grpcpool/%d", "/grpcwatch/%d"}
	const total = 192
	e.run(total, 32, func(i int) string { return fmt.Sprintf(routes[i%len(routes)], i) })
	waitFor(t, "all request records", 10*time.Second, func() bool { return h.count("request") >= total })
	rs := h.stop()

	resp, err := http.Get("http://" + truthAddr + "/truth")
	if err != nil {
		t.Fatal(err)
	}
	var calls []struct {
		TestID     string `json:"testId"`
		RemotePort int    `json:"remotePort"`
		Method     string `json:"method"`
		Code       int    `json:"code"`
		DelayNs    int64  `json:"delayNs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&calls); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	seen := map[key]int{}
	type outcome struct {
		method  string
		code    int
		delayNs int64
	}
	answered := map[string]outcome{}
	codes := map[int]int{}
	for _, c := range calls {
		seen[key{c.TestID, c.RemotePort}]++
		answered[c.TestID] = outcome{c.Method, c.Code, c.DelayNs}
		codes[c.Code]++
	}
	if len(codes) < 5 {
		t.Fatalf("the calls ended with codes %v, want 5 different ones", codes)
	}

	ids := testIDs(rs)
	reqs := map[string]record{}
	for _, r := range byType(rs, "request") {
		reqs[r.ID] = r
	}
	traced := map[key]int{}
	var obs []record
	for _, r := range byType(rs, "outbound") {
		if r.Dport != port(grpcAddr) || r.Via == "connect" {
			continue
		}
		if r.Via != "grpc" {
			t.Errorf("a gRPC call reported via %s, want grpc: %+v", r.Via, r)
		}
		id := "none"
		if r.Request != nil {
			id = ids[*r.Request]
		}
		traced[key{id, r.Sport}]++
		obs = append(obs, r)
		if r.Op == nil {
			t.Errorf("gRPC call without its op: %+v", r)
			continue
		}
		want, ok := answered[id]
		op := *r.Op
		op.Status, op.DurationNs, op.Failed = 0, 0, false // the outcome: checked against the server's below
		if !ok || op != (records.Op{Protocol: "grpc", Host: grpcAddr, Path: want.method}) {
			t.Errorf("%s: gRPC call's op %+v, want %s", id, r.Op, want.method)
		}
		if ok && r.Request != nil {
			req := reqs[*r.Request]
			if r.Op.Status != want.code || r.Op.Failed != (want.code != 0) {
				t.Errorf("%s: gRPC call's status %d (failed %v), want %d as the server answered", id, r.Op.Status, r.Op.Failed, want.code)
			}
			if r.Op.DurationNs <= 0 || r.Op.DurationNs < want.delayNs || r.Op.DurationNs > req.EndNs-req.StartNs {
				t.Errorf("%s: gRPC call's duration %d ns, want at least the server's delay %d and at most the request's %d", id, r.Op.DurationNs, want.delayNs, req.EndNs-req.StartNs)
			}
		}
		if r.Request != nil && (r.CallSite == nil || !regexp.MustCompile(`grpcclient/main\.go$`).MatchString(r.CallSite.File)) {
			t.Errorf("a gRPC call without its call site in the service: %+v", r.CallSite)
		}
	}
	p, rc := score(t, "gRPC calls", traced, seen)
	t.Logf("%s: %d gRPC calls, precision %.4f recall %.4f", toolchain, total, p, rc)
	if p != 1 || rc != 1 {
		t.Fatalf("precision %.4f and recall %.4f must both be 1", p, rc)
	}
	checkNewOnFirstCall(t, obs)
	checkLost(t, rs)
}
