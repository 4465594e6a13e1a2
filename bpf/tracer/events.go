package tracer

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"outboundlens/bpf/probe"
	"outboundlens/bpf/records"
)

// Symbols is what the tracer needs from the binary's symbol tables.
type Symbols interface {
	// Symbolize maps a PC to function, file and line.
	Symbolize(pc uint64) (fn, file string, line int, ok bool)
	// FuncStart maps a function value's PC to the function's first line.
	FuncStart(pc uint64) (fn, file string, line int, ok bool)
	// CallSite picks the first frame in the service's own code.
	CallSite(pcs []uint64) *Loc
	// CallPath lists the frames of the service's main module, innermost
	// first, at most max.
	CallPath(pcs []uint64, max int) []Loc
	// GRPCMethod finds the method of the service implementation's type
	// (a link-time type descriptor address) for a gRPC full method.
	GRPCMethod(typeAddr uint64, fullMethod string) (fn, file string, line int, ok bool)
}

// pending is a request that has started and not yet ended.
type pending struct {
	rec Request
}

// Tracer joins events into records. Not safe for concurrent use: one
// goroutine reads the ring buffer and calls Handle.
type Tracer struct {
	PID     int
	Out     *Output
	Sym     Symbols
	Headers []string // canonical, in probe slot order
	// Bias is added to kernel-reported PCs' complement: runtime PC - Bias = link-time PC (PIE).
	Bias uint64
	// MonoToUnix converts bpf_ktime_get_ns (CLOCK_MONOTONIC) to Unix ns.
	MonoToUnix int64
	// Statements: records carry a statement's text and a Redis key (else
	// only the verb and the command).
	Statements bool
	// RunStats, if set, gives the probes' run counts for stats records.
	RunStats func() []records.ProgramRuns

	requests map[uint64]*pending
	free     freeList[pending] // ended requests' structs, for the next ones
	routes   stringCache       // route templates seen: a service has few
	recent   recentRequests    // ended requests, for late outbound lines in text format
	frames   map[uint64]frame
	// Symbolizing walks the binary's tables (a handler's start line is a
	// linear search): what a handler PC or a whole user stack gave is kept.
	calls     map[uint64]*pendingCall // by goroutine
	freeCalls freeList[pendingCall]   // written calls' structs, for the next ones
	addrs     map[addrKey]string      // addresses as text: a service talks to few
	hosts     stringCache             // calls' URL hosts and authorities, likewise
	handlers  map[uint64]*Loc
	callSites map[string]*symbolized
	grpc      map[grpcImpl]*Loc // resolved once per service type and method
	// serverNames: the server name each TLS connection's ClientHello
	// asked for, by the connection's tuple, for the calls on it.
	serverNames map[connTuple]string
	stats       Stats
}

// connTuple is a connection's kernel tuple.
type connTuple struct {
	family       uint16
	sport, dport uint16
	saddr, daddr [16]byte
}

// tupleOf keys a connection alike whichever probe saw it (an IPv4
// address is its first 4 bytes, the rest unread).
func tupleOf(e *probe.Outbound) connTuple {
	t := connTuple{family: e.T.Family, sport: e.T.Sport, dport: e.T.Dport}
	n := 4
	if t.family == 10 {
		n = 16
	}
	copy(t.saddr[:n], e.T.Saddr[:n])
	copy(t.daddr[:n], e.T.Daddr[:n])
	return t
}

// maxServerNames bounds the TLS connections whose server name is kept;
// past it one is forgotten for each new one.
const maxServerNames = 65536

// maxCallSites bounds the call-site cache: a service has few distinct
// stacks at its outbound calls; past this many the cache starts over.
const maxCallSites = 8192

// grpcImpl is a service implementation's type and a gRPC full method.
type grpcImpl struct {
	typ    uint64
	method string
}

type frame struct {
	shared bool // in sharedClientFrames
}

func (t *Tracer) init() {
	if t.requests == nil {
		t.requests = map[uint64]*pending{}
		t.routes = stringCache{}
		t.frames = map[uint64]frame{}
		t.handlers = map[uint64]*Loc{}
		t.calls = map[uint64]*pendingCall{}
		t.addrs = map[addrKey]string{}
		t.hosts = stringCache{}
		t.callSites = map[string]*symbolized{}
		t.grpc = map[grpcImpl]*Loc{}
		t.serverNames = map[connTuple]string{}
		t.recent.init(4096)
		t.stats.Type = "stats"
	}
}

// Stats returns the counters so far; lost comes from the probes.
func (t *Tracer) Stats(lost uint64) Stats {
	t.init()
	s := t.stats
	s.Lost = lost
	if t.RunStats != nil {
		s.Programs = t.RunStats()
	}
	return s
}

// Handle decodes one ring buffer record and writes what it completes.
func (t *Tracer) Handle(raw []byte) {
	t.init()
	if len(raw) < int(unsafe.Sizeof(probeHeader{})) {
		return
	}
	t.stats.Events++
	h := (*probeHeader)(unsafe.Pointer(&raw[0]))
	switch h.Type {
	case probe.EvRequestStart:
		// Sent without the header slots after the last one the request
		// carries, and with none, without the path's bytes after its end.
		var rs probe.RequestStart
		if fill(&rs, raw, unsafe.Offsetof(rs.Path)) {
			t.requestStart(&rs)
		}
	case probe.EvRequestEnd:
		// Sent without the route's bytes after its end.
		var e probe.RequestEnded
		if fill(&e, raw, unsafe.Offsetof(e.Route)) {
			t.requestEnd(h, &e)
		} else {
			t.requestEnd(h, nil)
		}
	case probe.EvRoute:
		if len(raw) >= int(unsafe.Sizeof(probe.Route{})) {
			t.route((*probe.Route)(unsafe.Pointer(&raw[0])))
		}
	case probe.EvGRPCImpl:
		if len(raw) >= int(unsafe.Sizeof(probe.GRPCImpl{})) {
			t.grpcCall((*probe.GRPCImpl)(unsafe.Pointer(&raw[0])))
		}
	case probe.EvConnect, probe.EvConnectFail:
		if len(raw) >= int(unsafe.Sizeof(probe.Outbound{})) {
			e := (*probe.Outbound)(unsafe.Pointer(&raw[0]))
			delete(t.serverNames, tupleOf(e)) // a new connection on the tuple
			t.outbound(e, nil)
		}
	case probe.EvRoundTrip, probe.EvWrite, probe.EvGRPCCall:
		if len(raw) >= int(unsafe.Sizeof(probe.Call{})) {
			c := (*probe.Call)(unsafe.Pointer(&raw[0]))
			if h.Type == probe.EvWrite && t.clientHello(c) {
				return
			}
			t.outbound(&c.O, c)
		}
	case probe.EvCallEnd:
		if len(raw) >= int(unsafe.Sizeof(probe.CallEnd{})) {
			t.callEnd((*probe.CallEnd)(unsafe.Pointer(&raw[0])))
		}
	}
}

type probeHeader = probe.EventHeader

// fill copies a record sent without its unused tail into the zeroed *p;
// false if raw is shorter than min or longer than *p.
func fill[T any](p *T, raw []byte, min uintptr) bool {
	full := unsafe.Slice((*byte)(unsafe.Pointer(p)), unsafe.Sizeof(*p))
	if len(raw) < int(min) || len(raw) > len(full) {
		return false
	}
	copy(full, raw)
	return true
}

// clientHello keeps the server name of a TLS ClientHello seen at a write
// for the connection's calls; done when the write was sent for that alone
// (the connect that opened the connection reported its exchange).
func (t *Tracer) clientHello(c *probe.Call) (done bool) {
	n := min(int(c.OpLens[0]), len(c.Op))
	if name, ok := clientHelloServerName(c.Op[:n]); ok {
		k := tupleOf(&c.O)
		if _, known := t.serverNames[k]; !known && len(t.serverNames) >= maxServerNames {
			for old := range t.serverNames {
				delete(t.serverNames, old)
				break
			}
		}
		t.serverNames[k] = name
	}
	return c.HelloOnly != 0
}

func cstr(b []int8, n uint32) string {
	if int(n) > len(b) {
		n = uint32(len(b))
	}
	return string(unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), n))
}

// clipped reports whether a string filled its whole probe buffer: the
// probe copies at most len(b) bytes, so the original was at least that
// long and is taken as cut (one exactly that long is marked too).
func clipped(b []int8, n uint32) bool { return int(n) >= len(b) }

func (r *pending) cut(field string) { r.rec.Truncated = append(r.rec.Truncated, field) }

func requestID(n uint64) string {
	var buf [21]byte
	buf[0] = 'r'
	return string(strconv.AppendUint(buf[:1], n, 10))
}

// bytesOf is a probe buffer's first n bytes (at most all of it).
func bytesOf(b []int8, n uint32) []byte {
	if int(n) > len(b) {
		n = uint32(len(b))
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), n)
}

// methodString is a request's method: the common ones without an allocation
// (a switch on string(b) compares without converting).
func methodString(b []int8, n uint32) string { return methodOf(bytesOf(b, n)) }

// methodOf is methodString's work on the bytes.
func methodOf(m []byte) string {
	switch string(m) {
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "PATCH":
		return "PATCH"
	case "HEAD":
		return "HEAD"
	case "OPTIONS":
		return "OPTIONS"
	default:
		return string(m)
	}
}

// maxInterned bounds the strings a stringCache, or the addresses' cache,
// keeps; past it the cache starts over.
const maxInterned = 4096

// stringCache makes a string once per distinct run of bytes: for values a
// service has few of (route templates, hosts), which would otherwise be
// allocated for every record.
type stringCache map[string]string

// of is b as a string (looking the map up by string(b) copies nothing).
func (c stringCache) of(b []byte) string {
	if s, ok := c[string(b)]; ok {
		return s
	}
	if len(c) >= maxInterned {
		clear(c)
	}
	s := string(b)
	c[s] = s
	return s
}

// routeString is a route template as a string, made once per template.
func (t *Tracer) routeString(b []int8, n uint32) string { return t.routes.of(bytesOf(b, n)) }

// freeList keeps the structs of records written, for the next ones.
type freeList[T any] []*T

// maxFree bounds the structs a freeList keeps.
const maxFree = 1024

// get is a zeroed struct, a written one's where there is one.
func (f *freeList[T]) get() *T {
	if n := len(*f); n > 0 {
		p := (*f)[n-1]
		*f = (*f)[:n-1]
		return p
	}
	return new(T)
}

// put takes back a struct whose record is written: nothing refers to it.
func (f *freeList[T]) put(p *T) {
	if len(*f) < maxFree {
		var zero T
		*p = zero
		*f = append(*f, p)
	}
}

// noHeaders is the headers of every request that carried none of those
// asked for: written as {}, never written to.
var noHeaders = map[string]string{}

func (t *Tracer) requestStart(e *probe.RequestStart) {
	r := t.free.get()
	r.rec = Request{
		Type:    "request",
		ID:      requestID(e.H.Request),
		PID:     t.PID,
		Goid:    e.H.Goid,
		Method:  methodString(e.Method[:], e.MethodLen),
		Path:    cstr(e.Path[:], e.PathLen),
		StartNs: int64(e.H.Ts) + t.MonoToUnix,
	}
	if clipped(e.Method[:], e.MethodLen) {
		r.cut("method")
	}
	if clipped(e.Path[:], e.PathLen) {
		r.cut("path")
	}
	for i, name := range t.Headers {
		if i >= len(e.Headers) {
			break
		}
		hv := &e.Headers[i]
		if hv.Present == 0 {
			continue
		}
		key := strings.ToLower(name)
		if r.rec.Headers == nil {
			r.rec.Headers = make(map[string]string, len(t.Headers))
		}
		r.rec.Headers[key] = cstr(hv.Value[:], hv.Len)
		if clipped(hv.Value[:], hv.Len) {
			r.cut("headers." + key)
		}
	}
	if r.rec.Headers == nil {
		r.rec.Headers = noHeaders
	}
	r.rec.TraceID = TraceID(r.rec.Headers["traceparent"])
	t.requests[e.H.Request] = r
}

func (t *Tracer) route(e *probe.Route) {
	if r := t.requests[e.H.Request]; r != nil {
		t.setRoute(r, e.Route[:], e.RouteLen, e.HandlerPc)
	}
}

// setRoute gives r a framework's route and handler (its function's pc).
func (t *Tracer) setRoute(r *pending, route []int8, n uint32, pc uint64) {
	r.rec.Route = t.routeString(route, n)
	if clipped(route, n) {
		r.cut("route")
	}
	if pc != 0 && t.Sym != nil {
		h, ok := t.handlers[pc]
		if !ok {
			if fn, file, line, found := t.Sym.FuncStart(pc - t.Bias); found {
				h = (&Loc{Func: fn, File: file, Line: line}).Seal()
			}
			t.handlers[pc] = h
		}
		if h != nil {
			// Shared with the cache and the handler's other requests: a
			// record is written and dropped, never changed.
			r.rec.Handler = h
		}
	}
}

// maxGRPCImpls bounds the resolved gRPC methods kept (a path is the
// client's to choose).
const maxGRPCImpls = 4096

// grpcCall completes a gRPC call's request: its route is the full method
// (its path), its handler the service implementation's method.
func (t *Tracer) grpcCall(e *probe.GRPCImpl) {
	r := t.requests[e.H.Request]
	if r == nil {
		return
	}
	r.rec.Route = r.rec.Path
	if slices.Contains(r.rec.Truncated, "path") {
		r.cut("route")
	}
	if e.ImplType == 0 || t.Sym == nil {
		return
	}
	k := grpcImpl{e.ImplType - t.Bias, r.rec.Path}
	loc, ok := t.grpc[k]
	if !ok {
		if fn, file, line, found := t.Sym.GRPCMethod(k.typ, k.method); found {
			loc = (&Loc{Func: fn, File: file, Line: line}).Seal()
		}
		if len(t.grpc) < maxGRPCImpls {
			t.grpc[k] = loc
		}
	}
	if loc != nil {
		r.rec.Handler = loc // shared: records are never changed
	}
}

// requestEnd writes the request; e, when the end event carries one, has
// Gin's route and handler, or the ServeMux pattern that chose the handler,
// which becomes the route unless a router reported one.
func (t *Tracer) requestEnd(h *probeHeader, e *probe.RequestEnded) {
	r := t.requests[h.Request]
	if r == nil {
		return // started before the trace did
	}
	switch {
	case e == nil:
	case e.FrameworkRoute != 0:
		t.setRoute(r, e.Route[:], e.RouteLen, e.HandlerPc)
	case e.RouteLen > 0 && r.rec.Route == "":
		r.rec.Route = t.routeString(e.Route[:], e.RouteLen)
		if clipped(e.Route[:], e.RouteLen) {
			r.cut("route")
		}
	}
	delete(t.requests, h.Request)
	r.rec.EndNs = int64(h.Ts) + t.MonoToUnix
	t.stats.Requests++
	if t.Out.text {
		// Only text lines name a call's request by its path.
		t.recent.add(h.Request, r.rec.Path, r.rec.Method)
	}
	t.Out.Record(&r.rec, r.rec.Path, r.rec.Method)
	t.free.put(r)
}

func (t *Tracer) outbound(e *probe.Outbound, c *probe.Call) {
	n := int(e.StackLen / 8)
	if n > len(e.Stack) {
		n = len(e.Stack)
	}
	var st *symbolized
	if t.Sym != nil {
		st = t.symbolize(e.Stack[:n])
	}
	via := "http"
	switch e.H.Type {
	case probe.EvGRPCCall:
		via = "grpc"
	case probe.EvConnectFail:
		// Reported whoever dialed: a connection net/http's dialer could
		// not open has no round trip to report it.
		via = "connect"
	case probe.EvWrite, probe.EvConnect:
		via = "connect"
		if e.H.Type == probe.EvWrite {
			via = "write"
		}
		// A connection net/http's dialer opens (and its TLS handshake) is
		// reported by the round trip that uses it, with the caller's call
		// site; the bytes a client's own loops send for all its callers
		// (HTTP/2 window updates and pings) belong to none of them.
		if st != nil && st.shared {
			return
		}
	}
	p := t.freeCalls.get()
	rec := &p.rec
	*rec = Outbound{
		Type:   "outbound",
		PID:    t.PID,
		Goid:   e.H.Goid,
		Proto:  "tcp",
		Src:    t.ipString(e.T.Family, e.T.Saddr),
		Sport:  int(e.T.Sport),
		Dst:    t.ipString(e.T.Family, e.T.Daddr),
		Dport:  int(e.T.Dport),
		Reused: e.Reused != 0,
		TsNs:   int64(e.H.Ts) + t.MonoToUnix,
		Via:    via,
	}
	if st != nil {
		// Shared with the cache and other records: a record is written
		// and dropped, never changed.
		rec.CallSite, rec.CallPath = st.site, st.path
	}
	var sni string
	if len(t.serverNames) > 0 {
		sni = t.serverNames[tupleOf(e)]
	}
	if e.H.Type == probe.EvConnectFail {
		p.op = Op{Protocol: "tcp", Failed: true, Error: connectError(e.SockErr)}
		rec.Op = &p.op
	}
	if c != nil {
		rec.Op = t.op(e.H.Type, c, &p.op)
		if rec.Op.ServerName == "" && (rec.Op.Protocol == "http" || rec.Op.Protocol == "grpc" || rec.Op.Protocol == "tls") {
			rec.Op.ServerName = sni
		}
	}
	// The service's own words: a call's URL host or authority, else the
	// address it gave its dialer, else the server name it asked TLS for,
	// else the kernel's tuple.
	name := cstr(e.Remote.Name[:], e.Remote.Len)
	if rec.Op != nil && rec.Op.Host != "" && (rec.Op.Protocol == "http" || rec.Op.Protocol == "grpc") && rec.Via != "write" {
		name = rec.Op.Host
	}
	if name == "" && sni != "" {
		name = net.JoinHostPort(sni, strconv.Itoa(rec.Dport))
	}
	if name == "" {
		name = net.JoinHostPort(rec.Dst, strconv.Itoa(rec.Dport))
	}
	p.remote.Name = name
	rec.Remote = &p.remote
	var path, method string
	if e.H.Request != 0 {
		p.request = requestID(e.H.Request)
		rec.Request = &p.request
		if t.Out.text { // only text lines name a call's request by its path
			if r := t.requests[e.H.Request]; r != nil {
				path, method = r.rec.Path, r.rec.Method
			} else {
				path, method = t.recent.get(e.H.Request)
			}
		}
	}
	if c != nil && c.AwaitsEnd != 0 {
		// Written when the call returns, with its status and duration.
		if old, ok := t.calls[e.H.Goid]; ok {
			t.emit(old) // its end was not seen
		}
		if len(t.calls) >= maxPendingCalls {
			t.FlushCalls()
		}
		p.path, p.method, p.start = path, method, e.H.Ts
		p.byGoroutine = c.AwaitsEnd == 1
		t.calls[e.H.Goid] = p
		return
	}
	p.path, p.method = path, method
	t.emit(p)
}

// pendingCall is an HTTP or gRPC call's record waiting for the call to
// return. A gRPC call's end names it by start, the call event's timestamp;
// an HTTP call's (byGoroutine) comes from the goroutine that made it and
// names none: it ends the HTTP call that goroutine awaits. The record's
// parts live in it: one allocation, reused once written.
type pendingCall struct {
	rec          Outbound
	op           Op
	remote       records.Remote
	request      string
	path, method string
	start        uint64
	byGoroutine  bool
}

// maxPendingCalls bounds the calls awaiting their end (one per goroutine
// in a call); past it they are written without.
const maxPendingCalls = 65536

func (t *Tracer) emit(p *pendingCall) {
	t.stats.Outbound++
	t.Out.Record(&p.rec, p.path, p.method)
	t.freeCalls.put(p)
}

func (t *Tracer) callEnd(e *probe.CallEnd) {
	p, ok := t.calls[e.H.Goid]
	if !ok || (e.Start == 0 && !p.byGoroutine) || (e.Start != 0 && p.start != e.Start) {
		// not the call the goroutine waits for: its end was not seen, or
		// (start 0) a round trip the probes did not report ended
		return
	}
	delete(t.calls, e.H.Goid)
	if op := p.rec.Op; op != nil {
		op.Status = int(e.Status)
		op.Failed = e.Failed != 0
		if e.H.Ts > p.start {
			op.DurationNs = int64(e.H.Ts - p.start)
		}
	}
	t.emit(p)
}

// FlushCalls writes the calls still waiting for their end (at the end of
// a trace, or when too many wait), without status or duration.
func (t *Tracer) FlushCalls() {
	t.init()
	for g, p := range t.calls {
		delete(t.calls, g)
		t.emit(p)
	}
}

// sharedClientFrames are the functions under which a client library works
// for all its callers at once: net/http's dialer (HTTP/1 and HTTP/2, the
// bundled and the internal copy) and its HTTP/2 connection's read loop, and
// gRPC-go's loopy writer and reader. What they write is no request's.
var sharedClientFrames = []string{
	"net/http.(*Transport).dial",
	"net/http.(*persistConn).addTLS", // the TLS handshake, in a goroutine of its own
	"net/http.(*http2Transport).",
	"net/http.(*http2addConnCall).",      // closes a surplus connection dialed in a race
	"net/http.http2configureTransports.", // the same, where HTTP/2 is negotiated by TLS
	"net/http.(*http2ClientConn).readLoop",
	"net/http.(*http2clientConnReadLoop).",
	"net/http/internal/http2.(*Transport).",
	"net/http/internal/http2.(*addConnCall).",
	"net/http/internal/http2.(*ClientConn).readLoop",
	"net/http/internal/http2.(*clientConnReadLoop).",
	"google.golang.org/grpc/internal/transport.(*loopyWriter).",
	"google.golang.org/grpc.(*addrConn).", // dials, and writes the preface and settings

	"google.golang.org/grpc/internal/transport.(*http2Client).reader",
}

// maxCallPath is how many of the service's frames a record lists.
const maxCallPath = 8

// symbolized is what a user stack says: its call site, its call path,
// and whether it runs under one of sharedClientFrames.
type symbolized struct {
	site   *Loc
	path   []Loc
	shared bool
}

// symbolize looks up a raw user stack (runtime PCs), symbolized once per
// distinct stack: a service writes from few.
func (t *Tracer) symbolize(raw []uint64) *symbolized {
	key := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(raw))), len(raw)*8)
	if s, ok := t.callSites[string(key)]; ok { // looked up without a copy of the key
		return s
	}
	pcs := make([]uint64, len(raw))
	for i, pc := range raw {
		pcs[i] = pc - t.Bias
	}
	s := &symbolized{site: t.Sym.CallSite(pcs), path: t.Sym.CallPath(pcs, maxCallPath), shared: t.carriesForMany(raw)}
	// Shared by the stack's records, which never change them.
	if s.site != nil {
		s.site.Seal()
	}
	for i := range s.path {
		s.path[i].Seal()
	}
	if len(t.callSites) >= maxCallSites {
		clear(t.callSites)
	}
	t.callSites[string(key)] = s
	return s
}

// carriesForMany reports whether a raw user stack (runtime PCs) runs
// under one of sharedClientFrames.
func (t *Tracer) carriesForMany(raw []uint64) bool {
	if t.Sym == nil {
		return false
	}
	for _, pc := range raw {
		f, ok := t.frames[pc]
		if !ok {
			fn, _, _, _ := t.Sym.Symbolize(pc - t.Bias - 1)
			f = frame{shared: slices.ContainsFunc(sharedClientFrames, func(p string) bool { return strings.HasPrefix(fn, p) })}
			t.frames[pc] = f
		}
		if f.shared {
			return true
		}
	}
	return false
}

// op names what a call or an exchange did: an HTTP or gRPC call's in dst.
func (t *Tracer) op(typ uint32, c *probe.Call, dst *Op) *Op {
	part := func(off, max int, n uint16) ([]byte, bool) {
		l := min(int(n), max)
		return c.Op[off : off+l], int(n) >= max
	}
	switch typ {
	case probe.EvWrite:
		n := min(int(c.OpLens[0]), len(c.Op))
		return writeOp(c.Op[:n], n == int(c.OpLens[1]), t.Statements)
	case probe.EvGRPCCall:
		host, c1 := part(probe.OpHost, probe.OpHostMax, c.OpLens[2])
		path, c2 := part(probe.OpPath, probe.OpPathMax, c.OpLens[3])
		*dst = Op{Protocol: "grpc", Host: t.hosts.of(host), Path: string(path), Truncated: c1 || c2}
		return dst
	}
	method, c0 := part(probe.OpMethod, probe.OpMethodMax, c.OpLens[0])
	scheme, c1 := part(probe.OpScheme, probe.OpSchemeMax, c.OpLens[1])
	host, c2 := part(probe.OpHost, probe.OpHostMax, c.OpLens[2])
	path, c3 := part(probe.OpPath, probe.OpPathMax, c.OpLens[3])
	m := "GET" // net/http: an empty Method means GET
	if len(method) > 0 {
		m = methodOf(method)
	}
	*dst = Op{Protocol: "http", Method: m, Scheme: schemeOf(scheme), Host: t.hosts.of(host), Path: string(path), Truncated: c0 || c1 || c2 || c3}
	return dst
}

// schemeOf is a URL's scheme, http and https without an allocation.
func schemeOf(b []byte) string {
	switch string(b) {
	case "http":
		return "http"
	case "https":
		return "https"
	}
	return string(b)
}

// addrKey is an address as the probes report it.
type addrKey struct {
	family uint16
	addr   [16]uint8
}

// ipString is ipString(family, b), made once per distinct address.
func (t *Tracer) ipString(family uint16, b [16]uint8) string {
	k := addrKey{family, b}
	if family != 10 {
		k.addr = [16]uint8{b[0], b[1], b[2], b[3]} // the rest unread
	}
	if s, ok := t.addrs[k]; ok {
		return s
	}
	if len(t.addrs) >= maxInterned {
		clear(t.addrs)
	}
	s := ipString(family, b)
	t.addrs[k] = s
	return s
}

// connectError names a failed connect's socket error (0: the service
// closed the socket before the handshake completed, e.g. a dial timeout).
func connectError(errno uint16) string {
	switch syscall.Errno(errno) {
	case 0:
		return "canceled"
	case syscall.ECONNREFUSED:
		return "connection refused"
	case syscall.ETIMEDOUT:
		return "timed out"
	case syscall.EHOSTUNREACH:
		return "host unreachable"
	case syscall.ENETUNREACH:
		return "network unreachable"
	}
	return syscall.Errno(errno).Error()
}

// Pending returns how many requests have started and not ended.
func (t *Tracer) Pending() int { return len(t.requests) }

func ipString(family uint16, b [16]uint8) string {
	if family == 10 {
		a := netip.AddrFrom16(b)
		if a.Is4In6() {
			return a.Unmap().String()
		}
		return a.String()
	}
	return netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]}).String()
}

// TraceID extracts the trace id from a W3C traceparent
// ("00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"), or "".
func TraceID(traceparent string) string {
	if traceparent == "" {
		return ""
	}
	parts := strings.Split(strings.TrimSpace(traceparent), "-")
	if len(parts) < 4 || len(parts[0]) != 2 || len(parts[1]) != 32 || len(parts[2]) != 16 {
		return ""
	}
	id := strings.ToLower(parts[1])
	if strings.Trim(id, "0") == "" {
		return ""
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	return id
}

// recentRequests remembers the path of the last N ended requests.
type recentRequests struct {
	ids  []uint64
	by   map[uint64][2]string
	next int
}

func (r *recentRequests) init(n int) {
	r.ids = make([]uint64, n)
	r.by = make(map[uint64][2]string, n)
}

func (r *recentRequests) add(id uint64, path, method string) {
	if old := r.ids[r.next]; old != 0 {
		delete(r.by, old)
	}
	r.ids[r.next] = id
	r.by[id] = [2]string{path, method}
	r.next = (r.next + 1) % len(r.ids)
}

func (r *recentRequests) get(id uint64) (string, string) {
	v := r.by[id]
	return v[0], v[1]
}
