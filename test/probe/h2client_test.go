package probe_test

import (
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// h2Downstream is an HTTP/2 server in the test process that records each
// call's X-Test-Id and client port.
type h2Downstream struct {
	mu    sync.Mutex
	seen  map[key]int
	proto map[string]int
}

func (d *h2Downstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, p, _ := net.SplitHostPort(r.RemoteAddr)
	port, _ := strconv.Atoi(p)
	d.mu.Lock()
	d.seen[key{r.Header.Get("X-Test-Id"), port}]++
	d.proto[r.Proto]++
	d.mu.Unlock()
	status, ok := h2Status[r.URL.Path]
	if !ok {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write([]byte("{}"))
}

// h2Status is what the HTTP/2 downstreams answer each path with (200 for
// any other).
var h2Status = map[string]int{"/tls": http.StatusOK, "/h2c": http.StatusNotFound, "/pool": http.StatusServiceUnavailable}

func (d *h2Downstream) snapshot() map[key]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[key]int{}
	for k, v := range d.seen {
		out[k] = v
	}
	return out
}

// TestHTTP2ClientCalls: calls over HTTP/2 (TLS with ALPN h2, and h2c),
// 32 requests in flight multiplexed on shared connections, are reported
// once per call, attributed to their request (also when a worker makes the
// call with the request's context), new on each connection's first call
// only, with the status the downstream answered (200, 404, 503 by path)
// and a duration within the request's. Truth: the downstreams' own view
// (test id, client port).
// The service uses Go 1.24's http.Protocols for h2c: it is built with each
// toolchain under test from Go 1.24 on (Go 1.27 moved net/http's HTTP/2
// client to net/http/internal/http2).
func TestHTTP2ClientCalls(t *testing.T) {
	for _, tc := range toolchainsFrom(t, 24) {
		t.Run(tc, func(t *testing.T) { testHTTP2ClientCalls(t, tc) })
	}
}

// toolchainsFrom lists the toolchains under test from Go 1.minor on (the
// local one counts); none is a failure, not a skip.
func toolchainsFrom(t *testing.T, minor int) []string {
	t.Helper()
	var out []string
	for _, tc := range toolchains {
		if tc == "local" || goMinorOf(tc) >= minor {
			out = append(out, tc)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no toolchain under test (%v) is Go 1.%d or newer", toolchains, minor)
	}
	return out
}

// goMinorOf reads 24 from "go1.24.13".
func goMinorOf(tc string) int {
	var minor int
	fmt.Sscanf(strings.TrimPrefix(tc, "go1."), "%d", &minor)
	return minor
}

// checkNewOnFirstCall: on a multiplexed connection, a call is new only if
// it is the connection's first.
func checkNewOnFirstCall(t *testing.T, obs []record) {
	t.Helper()
	sort.SliceStable(obs, func(i, j int) bool { return obs[i].TsNs < obs[j].TsNs })
	seen := map[int]bool{}
	for _, r := range obs {
		if r.Reused != seen[r.Sport] {
			t.Errorf("call on connection :%d: reused %v, want %v (new on the connection's first call only)", r.Sport, r.Reused, seen[r.Sport])
		}
		seen[r.Sport] = true
	}
}

func testHTTP2ClientCalls(t *testing.T, toolchain string) {
	d := &h2Downstream{seen: map[key]int{}, proto: map[string]int{}}
	tlsSrv := httptest.NewUnstartedServer(d)
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	h2cSrv := httptest.NewUnstartedServer(d)
	h2cSrv.Config.Protocols = &h2c
	h2cSrv.Start()
	defer h2cSrv.Close()

	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "h2client")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = "testdata/h2client" // a module of its own: Go 1.24 is enough
	if toolchain != "local" {
		build.Env = append(os.Environ(), "GOTOOLCHAIN="+toolchain)
	}
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the h2client service: %v\n%s", err, out)
	}
	e := &env{t: t, service: freeAddr(t)}
	h := startHelper(t, "--header", "x-test-id", "--", bin, "-addr", e.service, "-tls", tlsSrv.URL, "-ca", ca, "-h2c", h2cSrv.URL)
	h.waitReady()
	waitFor(t, "the service to listen", 20*time.Second, func() bool { return listening.MatchString(h.stderr.String()) })

	routes := []string{"/tls/%d", "/h2c/%d", "/pool/%d"}
	const total = 192
	e.run(total, 32, func(i int) string { return fmt.Sprintf(routes[i%len(routes)], i) })
	waitFor(t, "all request records", 10*time.Second, func() bool { return h.count("request") >= total })
	rs := h.stop()
	if d.proto["HTTP/2.0"] != total {
		t.Fatalf("the downstreams saw %v, want %d HTTP/2 calls", d.proto, total)
	}

	ids := testIDs(rs)
	reqs := map[string]record{}
	for _, r := range byType(rs, "request") {
		reqs[r.ID] = r
	}
	ports := map[int]bool{port(tlsSrv.Listener.Addr().String()): true, port(h2cSrv.Listener.Addr().String()): true}
	traced := map[key]int{}
	var obs []record
	for _, r := range byType(rs, "outbound") {
		if !ports[r.Dport] {
			continue
		}
		if r.Via == "connect" {
			continue // the dial of a connection; its calls are reported apart
		}
		if r.Via != "http" {
			t.Errorf("an HTTP/2 call reported via %s, want http: %+v", r.Via, r)
		}
		id := "none"
		if r.Request != nil {
			id = ids[*r.Request]
		}
		traced[key{id, r.Sport}]++
		obs = append(obs, r)
		// What went out: GET https://127.0.0.1:PORT/tls, …
		want := map[int]string{port(tlsSrv.Listener.Addr().String()): "https", port(h2cSrv.Listener.Addr().String()): "http"}[r.Dport]
		if r.Op == nil || r.Op.Protocol != "http" || r.Op.Method != "GET" || r.Op.Scheme != want ||
			r.Op.Host != fmt.Sprintf("127.0.0.1:%d", r.Dport) || (r.Op.Path != "/tls" && r.Op.Path != "/h2c" && r.Op.Path != "/pool") {
			t.Errorf("HTTP/2 call's op %+v", r.Op)
			continue
		}
		if r.Op.Status != h2Status[r.Op.Path] || r.Op.Failed {
			t.Errorf("HTTP/2 call to %s: status %d (failed %v), want %d", r.Op.Path, r.Op.Status, r.Op.Failed, h2Status[r.Op.Path])
		}
		if r.Request == nil {
			t.Errorf("HTTP/2 call without its request: %+v", r)
			continue
		}
		if req := reqs[*r.Request]; r.Op.DurationNs <= 0 || r.Op.DurationNs > req.EndNs-req.StartNs {
			t.Errorf("HTTP/2 call to %s: duration %d ns, want more than 0 and at most the request's %d", r.Op.Path, r.Op.DurationNs, req.EndNs-req.StartNs)
		}
	}
	p, rc := score(t, "HTTP/2 calls", traced, d.snapshot())
	t.Logf("%s: %d HTTP/2 calls, precision %.4f recall %.4f", toolchain, total, p, rc)
	if p != 1 || rc != 1 {
		t.Fatalf("precision %.4f and recall %.4f must both be 1", p, rc)
	}
	checkNewOnFirstCall(t, obs)
	checkLost(t, rs)
}
