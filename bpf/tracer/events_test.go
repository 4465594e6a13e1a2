package tracer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"outboundlens/bpf/probe"
)

// The tracer's correlation, fed with events laid out as the BPF programs
// write them (the bpf2go types), without a kernel.

const bias = 0x1000 // a PIE's load bias: runtime PC - bias = link-time PC

type fakeSymbols struct{}

func (fakeSymbols) Symbolize(pc uint64) (string, string, int, bool) {
	switch pc {
	case 0x500 - 1:
		return "net/http.(*Transport).dialConnFor", "/go/transport.go", 1, true
	case 0x600 - 1:
		return "main.dialRaw", "/src/main.go", 182, true
	}
	return "", "", 0, false
}

func (fakeSymbols) FuncStart(pc uint64) (string, string, int, bool) {
	if pc == 0x700 {
		return "main.(*server).echo", "/src/main.go", 104, true
	}
	return "", "", 0, false
}

func (f fakeSymbols) CallPath(pcs []uint64, max int) []Loc {
	if l := f.CallSite(pcs); l != nil {
		return []Loc{*l, {Func: "main.(*server).echo", File: "/src/main.go", Line: 110}}
	}
	return nil
}

func (fakeSymbols) GRPCMethod(typeAddr uint64, fullMethod string) (string, string, int, bool) {
	if typeAddr == 0x800 && fullMethod == "/grpc.testing.TestService/UnaryCall" {
		return "main.(*server).UnaryCall", "/src/main.go", 70, true
	}
	return "", "", 0, false
}

func (fakeSymbols) CallSite(pcs []uint64) *Loc {
	for _, pc := range pcs {
		if pc == 0x600 {
			return &Loc{Func: "main.dialRaw", File: "/src/main.go", Line: 182}
		}
	}
	return nil
}

func raw[T any](v *T) []byte {
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))...)
}

func setStr(dst []int8, s string) uint32 {
	for i := range s {
		dst[i] = int8(s[i])
	}
	return uint32(len(s))
}

func header(typ uint32, goid, request, ts uint64) probe.EventHeader {
	return probe.EventHeader{Type: typ, Ts: ts, Goid: goid, Request: request}
}

// requestStart is sent as the probe sends it: up to the last header slot
// asked for, or with no header, up to the path's last byte.
func requestStart(id, goid uint64, method, path string, headers ...string) []byte {
	var e probe.RequestStart
	e.H = header(probe.EvRequestStart, goid, id, 1000)
	e.MethodLen = setStr(e.Method[:], method)
	e.PathLen = setStr(e.Path[:], path)
	for i, v := range headers {
		e.Headers[i].Present = 1
		e.Headers[i].Len = setStr(e.Headers[i].Value[:], v)
	}
	b := raw(&e)
	if len(headers) == 0 {
		return b[:unsafe.Offsetof(e.Path)+uintptr(len(path))]
	}
	return b[:unsafe.Offsetof(e.Headers)+uintptr(len(headers))*unsafe.Sizeof(e.Headers[0])]
}

func route(id, goid uint64, tmpl string, handlerPC uint64) []byte {
	var e probe.Route
	e.H = header(probe.EvRoute, goid, id, 1500)
	e.RouteLen = setStr(e.Route[:], tmpl)
	e.HandlerPc = handlerPC
	return raw(&e)
}

func end(id, goid uint64) []byte {
	e := header(probe.EvRequestEnd, goid, id, 3000)
	return raw(&e)
}

// endWithPattern is a request's end that carries the ServeMux pattern,
// sent up to its last byte.
func endWithPattern(id, goid uint64, pattern string) []byte {
	var e probe.RequestEnded
	e.H = header(probe.EvRequestEnd, goid, id, 3000)
	e.RouteLen = setStr(e.Route[:], pattern)
	return raw(&e)[:unsafe.Offsetof(e.Route)+uintptr(len(pattern))]
}

// endWithRoute is a Gin request's end: its route and handler.
func endWithRoute(id, goid uint64, tmpl string, handlerPC uint64) []byte {
	var e probe.RequestEnded
	e.H = header(probe.EvRequestEnd, goid, id, 3000)
	e.RouteLen = setStr(e.Route[:], tmpl)
	e.HandlerPc, e.FrameworkRoute = handlerPC, 1
	return raw(&e)[:unsafe.Offsetof(e.Route)+uintptr(len(tmpl))]
}

func outbound(typ uint32, id, goid uint64, dport uint16, reused bool, stack ...uint64) []byte {
	var e probe.Outbound
	e.H = header(typ, goid, id, 2000)
	e.T.Family = 2
	e.T.Sport, e.T.Dport = 38610, dport
	copy(e.T.Saddr[:], []byte{127, 0, 0, 1})
	copy(e.T.Daddr[:], []byte{10, 0, 0, 7})
	if reused {
		e.Reused = 1
	}
	copy(e.Stack[:], stack)
	e.StackLen = uint32(8 * len(stack))
	if typ == probe.EvConnect {
		return raw(&e)
	}
	// A client call: GET http://10.0.0.7:PORT/stock
	c := probe.Call{O: e}
	put := func(i, off int, v string) { c.OpLens[i] = uint16(copy(c.Op[off:], v)) }
	put(0, probe.OpMethod, "GET")
	put(1, probe.OpScheme, "http")
	put(2, probe.OpHost, fmt.Sprintf("10.0.0.7:%d", dport))
	put(3, probe.OpPath, "/stock")
	return raw(&c)
}

func newTracer(t *testing.T, format string) (*Tracer, *bytes.Buffer) {
	var buf bytes.Buffer
	out, err := NewOutput(&buf, format)
	if err != nil {
		t.Fatal(err)
	}
	return &Tracer{PID: 42, Out: out, Sym: fakeSymbols{}, Headers: []string{"Traceparent", "X-Request-Id"}, Bias: bias, MonoToUnix: 1e9}, &buf
}

func decoded(t *testing.T, tr *Tracer, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	tr.Out.Flush()
	var rs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		rs = append(rs, r)
	}
	return rs
}

func TestRequestLifecycle(t *testing.T) {
	tr, buf := newTracer(t, "ndjson")
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tr.Handle(requestStart(7, 11, "GET", "/echo", tp))
	tr.Handle(route(7, 11, "/echo", 0x700+bias))
	if n := len(decoded(t, tr, buf)); n != 0 || tr.Pending() != 1 {
		t.Fatalf("a request is written when it ends: %d records, %d pending", n, tr.Pending())
	}
	tr.Handle(end(7, 11))
	rs := decoded(t, tr, buf)
	if len(rs) != 1 {
		t.Fatalf("records %v", rs)
	}
	r := rs[0]
	want := map[string]any{"type": "request", "id": "r7", "pid": 42.0, "goid": 11.0, "method": "GET", "path": "/echo", "route": "/echo",
		"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "startNs": 1e9 + 1000, "endNs": 1e9 + 3000}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s = %v, want %v", k, r[k], v)
		}
	}
	if h, _ := r["handler"].(map[string]any); h["func"] != "main.(*server).echo" || h["line"] != 104.0 {
		t.Errorf("handler %v: the handler PC is mapped through the load bias", r["handler"])
	}
	if h, _ := r["headers"].(map[string]any); h["traceparent"] != tp || len(h) != 1 {
		t.Errorf("headers %v: only the headers present, lower-case", r["headers"])
	}
	if tr.Pending() != 0 {
		t.Errorf("%d pending after the end", tr.Pending())
	}
}

// A gRPC call: its route is its path (the full method), its handler the
// method the service implementation's type (mapped through the load bias)
// has for it.
func TestGRPCCall(t *testing.T) {
	tr, buf := newTracer(t, "ndjson")
	const fm = "/grpc.testing.TestService/UnaryCall"
	tr.Handle(requestStart(9, 12, "POST", fm, "", "x"))
	var c probe.GRPCImpl
	c.H = header(probe.EvGRPCImpl, 12, 9, 1100)
	c.ImplType = 0x800 + bias
	tr.Handle(raw(&c))
	tr.Handle(end(9, 12))
	rs := decoded(t, tr, buf)
	if len(rs) != 1 {
		t.Fatalf("records %v", rs)
	}
	r := rs[0]
	if r["route"] != fm || r["path"] != fm || r["method"] != "POST" {
		t.Errorf("route %v path %v method %v, want POST %s", r["route"], r["path"], r["method"], fm)
	}
	if h, _ := r["handler"].(map[string]any); h["func"] != "main.(*server).UnaryCall" || h["line"] != 70.0 {
		t.Errorf("handler %v", r["handler"])
	}
	if h, _ := r["headers"].(map[string]any); h["x-request-id"] != "x" {
		t.Errorf("headers %v", r["headers"])
	}
}

// A ServeMux pattern arrives with the request's end and becomes the route;
// a router's route, reported before the end, wins over it; a pattern that
// filled the probe's buffer is marked as cut.
func TestServeMuxPatternRoute(t *testing.T) {
	tr, buf := newTracer(t, "ndjson")
	tr.Handle(requestStart(1, 11, "GET", "/users/42"))
	tr.Handle(endWithPattern(1, 11, "GET /users/{id}"))
	tr.Handle(requestStart(2, 12, "GET", "/echo"))
	tr.Handle(route(2, 12, "/echo", 0x700+bias))
	tr.Handle(endWithPattern(2, 12, "/"))
	tr.Handle(requestStart(3, 13, "GET", "/x"))
	long := "GET /" + strings.Repeat("a", 200)
	tr.Handle(endWithPattern(3, 13, long[:128]))
	tr.Handle(requestStart(4, 14, "GET", "/nothing"))
	tr.Handle(endWithPattern(4, 14, ""))
	rs := decoded(t, tr, buf)
	if len(rs) != 4 {
		t.Fatalf("records %v", rs)
	}
	if rs[0]["route"] != "GET /users/{id}" || rs[0]["handler"] != nil || rs[0]["truncated"] != nil {
		t.Errorf("pattern request %v", rs[0])
	}
	if rs[1]["route"] != "/echo" || rs[1]["handler"] == nil {
		t.Errorf("gin request %v: the Gin route wins", rs[1])
	}
	if cut, _ := rs[2]["truncated"].([]any); rs[2]["route"] != long[:128] || len(cut) != 1 || cut[0] != "route" {
		t.Errorf("long pattern %v", rs[2])
	}
	if rs[3]["route"] != "" {
		t.Errorf("no pattern %v", rs[3])
	}
}

// Gin's route and handler come with the request's end (route cut to its
// buffer: marked), and win over a router's route reported before; a route
// in a record longer than its struct is not read.
func TestGinRouteAtEnd(t *testing.T) {
	tr, buf := newTracer(t, "ndjson")
	tr.Handle(requestStart(1, 11, "GET", "/users/42"))
	tr.Handle(endWithRoute(1, 11, "/users/:id", 0x700+bias))
	tr.Handle(requestStart(2, 12, "GET", "/x"))
	tr.Handle(route(2, 12, "/chi/*", 0))
	long := "/" + strings.Repeat("b", 200)
	tr.Handle(endWithRoute(2, 12, long[:128], 0))
	tr.Handle(requestStart(3, 13, "GET", "/y"))
	tr.Handle(append(endWithRoute(3, 13, "/y", 0x700+bias), make([]byte, 200)...))
	rs := decoded(t, tr, buf)
	if len(rs) != 3 {
		t.Fatalf("records %v", rs)
	}
	if h, _ := rs[0]["handler"].(map[string]any); rs[0]["route"] != "/users/:id" || h["func"] != "main.(*server).echo" || rs[0]["truncated"] != nil {
		t.Errorf("gin request %v", rs[0])
	}
	if cut, _ := rs[1]["truncated"].([]any); rs[1]["route"] != long[:128] || rs[1]["handler"] != nil || len(cut) != 1 || cut[0] != "route" {
		t.Errorf("long gin route %v", rs[1])
	}
	if rs[2]["route"] != "" || rs[2]["handler"] != nil || rs[2]["endNs"] != 1e9+3000 {
		t.Errorf("oversized end %v: written without its route", rs[2])
	}
}

func TestOutboundAttribution(t *testing.T) {
	tr, buf := newTracer(t, "ndjson")
	tr.Handle(requestStart(1, 11, "GET", "/dial"))
	// A round trip on a kept-alive connection, in the request's goroutine.
	tr.Handle(outbound(probe.EvRoundTrip, 1, 11, 8081, true, 0x600+bias))
	// net/http's dialer goroutine connects: the round trip reports it.
	tr.Handle(outbound(probe.EvConnect, 1, 12, 8081, false, 0x400+bias, 0x500+bias))
	// A raw dial in the request's goroutine.
	tr.Handle(outbound(probe.EvConnect, 1, 11, 9000, false, 0x600+bias))
	// Background work no request caused.
	tr.Handle(outbound(probe.EvConnect, 0, 99, 5432, false))
	tr.Handle(end(1, 11))
	rs := decoded(t, tr, buf)
	if len(rs) != 4 {
		t.Fatalf("want 3 outbound records and the request, got %v", rs)
	}
	rt, raw, bg := rs[0], rs[1], rs[2]
	if rt["via"] != "http" || rt["request"] != "r1" || rt["reused"] != true || rt["dst"] != "10.0.0.7" || rt["dport"] != 8081.0 || rt["src"] != "127.0.0.1" || rt["sport"] != 38610.0 {
		t.Errorf("round trip %v", rt)
	}
	if op, _ := rt["op"].(map[string]any); op["protocol"] != "http" || op["method"] != "GET" || op["scheme"] != "http" || op["host"] != "10.0.0.7:8081" || op["path"] != "/stock" {
		t.Errorf("round trip's op %v", rt["op"])
	}
	if raw["op"] != nil {
		t.Errorf("a connect has no op: %v", raw["op"])
	}
	if cp, _ := rt["callPath"].([]any); len(cp) != 2 || cp[1].(map[string]any)["line"] != 110.0 {
		t.Errorf("call path %v", rt["callPath"])
	}
	if cs, _ := rt["callSite"].(map[string]any); cs["func"] != "main.dialRaw" {
		t.Errorf("call site %v: stack PCs are mapped through the load bias", rt["callSite"])
	}
	if raw["via"] != "connect" || raw["request"] != "r1" || raw["dport"] != 9000.0 || raw["reused"] != false {
		t.Errorf("raw connect %v", raw)
	}
	if bg["request"] != nil || bg["dport"] != 5432.0 {
		t.Errorf("background connect %v: request must be null", bg)
	}
	if s := tr.Stats(3); s.Events != 6 || s.Requests != 1 || s.Outbound != 3 || s.Lost != 3 {
		t.Errorf("stats %+v", s)
	}
}

func TestTextLineNamesTheEndedRequest(t *testing.T) {
	tr, buf := newTracer(t, "text")
	tr.Handle(requestStart(3, 11, "POST", "/api/v1/orders"))
	tr.Handle(end(3, 11))
	// A fire-and-forget goroutine calls out after the request ended.
	tr.Handle(outbound(probe.EvConnect, 3, 13, 8081, false, 0x600+bias))
	tr.Out.Flush()
	line := strings.TrimSpace(buf.String())
	for _, want := range []string{"/api/v1/orders", "POST", "pid 42", "10.0.0.7:8081", "new", "main.go:182"} {
		if !strings.Contains(line, want) {
			t.Errorf("text line %q lacks %q", line, want)
		}
	}
}

func TestEventsThatDoNotFit(t *testing.T) {
	tr, buf := newTracer(t, "ndjson")
	tr.Handle(nil)
	tr.Handle([]byte{1, 2, 3})
	tr.Handle(end(5, 11))                                         // started before the trace did
	tr.Handle(route(6, 11, "/x", 0))                              // its start was not seen either
	tr.Handle(outbound(probe.EvRoundTrip, 0, 11, 80, false)[:40]) // cut short
	long := requestStart(8, 11, "GET", "/y", "a", "b")
	tr.Handle(append(long, make([]byte, 1<<16)...)) // longer than any request_start
	if rs := decoded(t, tr, buf); len(rs) != 0 || tr.Pending() != 0 {
		t.Errorf("records %v, pending %d", rs, tr.Pending())
	}
}

func TestTraceID(t *testing.T) {
	for in, want := range map[string]string{
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01": "4bf92f3577b34da6a3ce929d0e0e4736",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01": "",
		"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01":  "",
		"00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01": "",
		"": "",
	} {
		if got := TraceID(in); got != want {
			t.Errorf("TraceID(%q) = %q, want %q", in, got, want)
		}
	}
}

// write is a use seen at a write on the connection outbound() lays out,
// carrying b's first bytes; helloOnly marks a ClientHello sent for its
// server name alone.
func write(id, goid uint64, dport uint16, b []byte, helloOnly bool) []byte {
	var c probe.Call
	o := outbound(probe.EvConnect, id, goid, dport, false, 0x600+bias)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&c.O)), unsafe.Sizeof(c.O)), o)
	c.O.H.Type = probe.EvWrite
	c.OpLens[0] = uint16(copy(c.Op[:], b))
	c.OpLens[1] = uint16(len(b))
	if helloOnly {
		c.HelloOnly = 1
	}
	return raw(&c)
}

// A TLS connection's ClientHello, sent in the exchange its connect
// reported, writes no record of its own; its server name goes on the calls
// on the connection (an HTTPS round trip, later exchanges), and names the
// remote end where the service gave no dialer address. A new connection on
// the same tuple starts without one.
func TestClientHelloServerNameOnCalls(t *testing.T) {
	tr, buf := newTracer(t, "ndjson")
	hello := clientHello(t, "api.test")
	tr.Handle(requestStart(1, 11, "GET", "/call"))
	tr.Handle(outbound(probe.EvConnect, 1, 11, 8443, false, 0x600+bias))
	tr.Handle(write(1, 11, 8443, hello[:256], true))
	tr.Handle(outbound(probe.EvRoundTrip, 1, 11, 8443, false, 0x600+bias))
	tr.Handle(write(1, 11, 8443, []byte{0x17, 0x03, 0x03, 0x00, 0x40, 0x11}, false))
	tr.Handle(outbound(probe.EvConnect, 1, 11, 8443, false, 0x600+bias))
	tr.Handle(write(1, 11, 8443, []byte{0x17, 0x03, 0x03, 0x00, 0x40, 0x11}, false))
	// A ClientHello that is an exchange of its own is one.
	tr.Handle(write(1, 11, 8443, hello[:256], false))
	tr.Handle(end(1, 11))
	rs := decoded(t, tr, buf)
	if len(rs) != 7 {
		t.Fatalf("want 6 outbound records and the request, got %v", rs)
	}
	op := func(r map[string]any) map[string]any { m, _ := r["op"].(map[string]any); return m }
	remote := func(r map[string]any) any { m, _ := r["remote"].(map[string]any); return m["name"] }
	if rs[0]["via"] != "connect" || rs[0]["op"] != nil || remote(rs[0]) != "10.0.0.7:8443" {
		t.Errorf("connect %v", rs[0])
	}
	if rt := rs[1]; rt["via"] != "http" || op(rt)["serverName"] != "api.test" || op(rt)["host"] != "10.0.0.7:8443" || remote(rt) != "10.0.0.7:8443" {
		t.Errorf("round trip %v: the server name with the URL host", rt)
	}
	if w := rs[2]; w["via"] != "write" || op(w)["protocol"] != "tls" || op(w)["serverName"] != "api.test" || remote(w) != "api.test:8443" {
		t.Errorf("exchange %v: the server name names the remote end", w)
	}
	if w := rs[4]; op(w)["protocol"] != "tls" || op(w)["serverName"] != nil || remote(w) != "10.0.0.7:8443" {
		t.Errorf("exchange on a new connection %v: no server name", w)
	}
	if w := rs[5]; w["via"] != "write" || op(w)["serverName"] != "api.test" || remote(w) != "api.test:8443" {
		t.Errorf("ClientHello of an exchange of its own %v", w)
	}
}

// A request's and a call's structs are reused once their records are
// written: the next records carry nothing of theirs.
func TestReusedStructsStartEmpty(t *testing.T) {
	tr, buf := newTracer(t, "ndjson")
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tr.Handle(requestStart(7, 11, "GET", "/echo", tp))
	tr.Handle(route(7, 11, "/echo", 0x700+bias))
	tr.Handle(outbound(probe.EvRoundTrip, 7, 11, 8080, true, 0x600+bias))
	tr.Handle(end(7, 11))
	tr.Handle(requestStart(8, 12, "POST", "/other"))
	tr.Handle(outbound(probe.EvConnect, 0, 12, 9090, false))
	tr.Handle(end(8, 12))
	tr.FlushCalls()
	rs := decoded(t, tr, buf)
	var second, bare map[string]any
	for _, r := range rs {
		switch {
		case r["type"] == "request" && r["id"] == "r8":
			second = r
		case r["type"] == "outbound" && r["dport"] == 9090.0:
			bare = r
		}
	}
	if second == nil || bare == nil {
		t.Fatalf("records %v", rs)
	}
	for _, k := range []string{"route", "handler", "traceId"} {
		if second[k] != nil && second[k] != "" {
			t.Errorf("the second request has the first's %s: %v", k, second[k])
		}
	}
	if h, _ := second["headers"].(map[string]any); len(h) != 0 {
		t.Errorf("the second request has headers %v", h)
	}
	for _, k := range []string{"request", "callSite", "callPath", "op"} {
		if bare[k] != nil {
			t.Errorf("the bare connect has the call's %s: %v", k, bare[k])
		}
	}
}

// A call waits for its end. An HTTP call's end comes from the goroutine
// that made it and names no start: it ends that goroutine's HTTP call, and
// nothing else (no call waiting; a gRPC call, whose end names its start).
func TestCallEnds(t *testing.T) {
	tr, buf := newTracer(t, "ndjson")
	callEnd := func(goid, start, ts uint64, status uint32) []byte {
		var e probe.CallEnd
		e.H = header(probe.EvCallEnd, goid, 0, ts)
		e.Start, e.Status = start, status
		return raw(&e)
	}
	awaiting := func(typ uint32, goid uint64, awaits uint32) []byte {
		b := outbound(typ, 1, goid, 8080, false, 0x600+bias)
		(*probe.Call)(unsafe.Pointer(&b[0])).AwaitsEnd = awaits
		return b
	}
	tr.Handle(requestStart(1, 7, "GET", "/echo"))
	tr.Handle(callEnd(9, 0, 2100, 200)) // goroutine 9 awaits no call
	tr.Handle(awaiting(probe.EvRoundTrip, 7, 1))
	tr.Handle(awaiting(probe.EvGRPCCall, 8, 2))
	tr.Handle(callEnd(8, 0, 2200, 200)) // a round trip the probes did not report
	if rs := decoded(t, tr, buf); len(rs) != 0 {
		t.Fatalf("written before their ends: %v", rs)
	}
	tr.Handle(callEnd(7, 0, 2500, 502))
	tr.Handle(callEnd(8, 1999, 2600, 0)) // not this call's start
	tr.Handle(callEnd(8, 2000, 2700, 5))
	rs := decoded(t, tr, buf)
	if len(rs) != 2 {
		t.Fatalf("records %v", rs)
	}
	for i, want := range []struct {
		status, duration float64
	}{{502, 500}, {5, 700}} {
		op, _ := rs[i]["op"].(map[string]any)
		if op["status"] != want.status || op["durationNs"] != want.duration {
			t.Errorf("call %d: op %v, want status %v after %v ns", i, op, want.status, want.duration)
		}
	}
}
