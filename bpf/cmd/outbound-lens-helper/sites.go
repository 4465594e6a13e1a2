package main

import (
	"errors"
	"fmt"

	"outboundlens/bpf/inspect"
	"outboundlens/bpf/probe"
	"outboundlens/bpf/records"
)

// Where each probe goes. A fact may be observable at several places; the
// options are in order of preference and the first whose instructions the
// kernel emulates wins (see inspect.Insn). Where a binary offers no
// emulated place, the first that exists is used, and the ready record and
// stderr say that it is single-stepped.

const (
	sh        = "net/http.serverHandler.ServeHTTP"
	connServe = "net/http.(*conn).serve"
	ginServe  = "github.com/gin-gonic/gin.(*Engine).ServeHTTP"
	ginHandle = "github.com/gin-gonic/gin.(*Engine).handleHTTPRequest"
	poolPut   = "sync.(*Pool).Put"
	chiServe  = "github.com/go-chi/chi/v5.(*Mux).ServeHTTP"
	echoServe = "github.com/labstack/echo/v4.(*Echo).ServeHTTP"
	pcRT      = "net/http.(*persistConn).roundTrip"
	trRT      = "net/http.(*Transport).roundTrip"
)

// h2HandlerDone: the HTTP/2 server's response writer's handlerDone, run by
// the handler goroutine when the handler returns (bundled before Go 1.27,
// internal/http2 since).
var h2HandlerDone = []string{
	"net/http.(*http2responseWriter).handlerDone",
	"net/http/internal/http2.(*responseWriter).handlerDone",
}

type siteFinder func(b *inspect.Binary) ([]probe.Uprobe, error)

type role struct {
	name string
	// requestPath: hit on every HTTP/1 request (or every outbound call);
	// no site of such a role may be single-stepped.
	requestPath bool
	required    bool
	// optional: probes a library the binary may not link; its absence
	// is not worth a note.
	optional bool
	// needs: the offsets the role's programs read are known (nil: always).
	needs   func(inspect.Offsets) bool
	options []siteFinder
}

// at makes a finder of a function that finds sites in a binary.
func at(role, prog string, find func(b *inspect.Binary) ([]inspect.Site, error)) siteFinder {
	return func(b *inspect.Binary) ([]probe.Uprobe, error) {
		s, err := find(b)
		if err != nil {
			return nil, err
		}
		return []probe.Uprobe{{Role: role, Program: prog, Sites: s}}, nil
	}
}

func entry(role, prog, fn string) siteFinder {
	return at(role, prog, func(b *inspect.Binary) ([]inspect.Site, error) {
		s, err := b.EntrySite(fn)
		return []inspect.Site{s}, err
	})
}

func calls(role, prog, caller, callee string) siteFinder {
	return at(role, prog, func(b *inspect.Binary) ([]inspect.Site, error) { return b.CallSites(caller, callee) })
}

func afterCall(role, prog, caller, callee string) siteFinder {
	return at(role, prog, func(b *inspect.Binary) ([]inspect.Site, error) { return b.SitesAfterCall(caller, callee) })
}

func returns(role, prog, fn string) siteFinder {
	return at(role, prog, func(b *inspect.Binary) ([]inspect.Site, error) { return b.ReturnSites(fn) })
}

// both needs every finder to succeed (a probe made of two programs).
func both(fs ...siteFinder) siteFinder {
	return func(b *inspect.Binary) ([]probe.Uprobe, error) {
		var all []probe.Uprobe
		for _, f := range fs {
			u, err := f(b)
			if err != nil {
				return nil, err
			}
			all = append(all, u...)
		}
		return all, nil
	}
}

// firstOf uses the first function of names the binary has.
func firstOf(names []string, f func(string) siteFinder) siteFinder {
	return func(b *inspect.Binary) ([]probe.Uprobe, error) {
		var err error
		for _, n := range names {
			var u []probe.Uprobe
			if u, err = f(n)(b); !errors.Is(err, inspect.ErrNoFunc) {
				return u, err
			}
		}
		return nil, err
	}
}

const (
	roleRequestStart   = "request-start"
	roleRequestEnd     = "request-end"
	roleRequestEndH2   = "request-end-h2"
	roleGoroutineStart = "goroutine-start"
	roleGinRoute       = "gin-route"
	roleChiRoute       = "chi-route"
	roleEchoRoute      = "echo-route"
	roleRoundTrip      = "round-trip"
	roleRoundTripH2    = "round-trip-h2"
	roleRoundTripEnd   = "round-trip-end"
	roleRoundTripEndH2 = "round-trip-end-h2"
	roleDial           = "dial"
	roleSQLCall        = "sql-call"
	roleRedisCall      = "redis-call"
	roleGRPCCall       = "grpc-call"
	roleGRPCCallEnd    = "grpc-call-end"
	roleGRPCStart      = "grpc-start"
	roleGRPCEnd        = "grpc-end"
)

// gRPC servers (grpc-go): each stream is served in a goroutine of its own
// by (*Server).handleStream, which calls processUnaryRPC or
// processStreamingRPC, which call the method's handler and then write the
// stream's status. A call starts at their entry (arm64: handleStream's bl
// to them). On amd64 handleStream returns right after them (no emulated
// instruction follows either call), so the call ends at the entry of the
// HTTP/2 transport's writeStatus (WriteStatus before grpc-go 1.7x), which
// the same goroutine runs once the handler returned (the stream's
// WriteStatus, which calls it, is inlined); on arm64, where that entry is
// stepped, at the first emulated instruction after handleStream's calls
// return (its ret, which arm64 emulates).
const (
	grpcHandleStream = "google.golang.org/grpc.(*Server).handleStream"
	grpcUnary        = "google.golang.org/grpc.(*Server).processUnaryRPC"
	grpcStreaming    = "google.golang.org/grpc.(*Server).processStreamingRPC"
)

// grpcAttemptFinish ends a gRPC client call attempt: (a, err error).
const grpcAttemptFinish = "google.golang.org/grpc.(*csAttempt).finish"

var grpcWriteStatus = []string{
	"google.golang.org/grpc/internal/transport.(*http2Server).writeStatus",
	"google.golang.org/grpc/internal/transport.(*http2Server).WriteStatus",
}

var roles = []role{
	{name: roleRequestStart, requestPath: true, required: true, options: []siteFinder{
		entry(roleRequestStart, probe.ProgRequestStart, sh),
		calls(roleRequestStart, probe.ProgRequestStart, connServe, sh),
	}},
	{name: roleRequestEnd, requestPath: true, required: true, options: []siteFinder{
		afterCall(roleRequestEnd, probe.ProgRequestEnd, connServe, sh),
		returns(roleRequestEnd, probe.ProgRequestEnd, sh),
	}},
	{name: roleRequestEndH2, options: []siteFinder{
		firstOf(h2HandlerDone, func(fn string) siteFinder { return entry(roleRequestEndH2, probe.ProgRequestEndH2, fn) }),
	}},
	{name: roleGoroutineStart, requestPath: true, required: true, options: []siteFinder{
		calls(roleGoroutineStart, probe.ProgGoroutineStart, "runtime.newproc.func1", "runtime.runqput"),
		returns(roleGoroutineStart, probe.ProgNewproc1Ret, "runtime.newproc1"),
	}},
	{name: roleGinRoute, requestPath: true, needs: func(o inspect.Offsets) bool { return o.HasGin }, options: []siteFinder{
		calls(roleGinRoute, probe.ProgGinRoute, ginServe, poolPut),
		both(entry(roleGinRoute, probe.ProgGinHandle, ginHandle), returns(roleGinRoute, probe.ProgGinHandleRet, ginHandle)),
	}},
	// chi and echo put their context back into a sync.Pool after the
	// handlers ran, as Gin does: one hit a request, at the call of Put.
	{name: roleChiRoute, requestPath: true, needs: func(o inspect.Offsets) bool { return o.HasChi }, options: []siteFinder{
		calls(roleChiRoute, probe.ProgChiRoute, chiServe, poolPut),
	}},
	{name: roleEchoRoute, requestPath: true, needs: func(o inspect.Offsets) bool { return o.HasEcho }, options: []siteFinder{
		calls(roleEchoRoute, probe.ProgEchoRoute, echoServe, poolPut),
	}},
	{name: roleRoundTrip, requestPath: true, options: []siteFinder{
		entry(roleRoundTrip, probe.ProgRoundTrip, pcRT),
		calls(roleRoundTrip, probe.ProgRoundTrip, trRT, pcRT),
	}},
	// An HTTP/1 call's response status and duration: where its results
	// are still in their registers after the call returns.
	{name: roleRoundTripEnd, requestPath: true, options: []siteFinder{
		at(roleRoundTripEnd, probe.ProgRoundTripEnd, func(b *inspect.Binary) ([]inspect.Site, error) {
			return b.ResultSitesAfterCall(trRT, pcRT)
		}),
	}},
	{name: roleGRPCStart, requestPath: true, options: []siteFinder{
		both(entry(roleGRPCStart, probe.ProgGRPCStart, grpcUnary), entry(roleGRPCStart, probe.ProgGRPCStart, grpcStreaming)),
		both(calls(roleGRPCStart, probe.ProgGRPCStart, grpcHandleStream, grpcUnary), calls(roleGRPCStart, probe.ProgGRPCStart, grpcHandleStream, grpcStreaming)),
	}},
	{name: roleGRPCEnd, requestPath: true, options: []siteFinder{
		firstOf(grpcWriteStatus, func(fn string) siteFinder { return entry(roleGRPCEnd, probe.ProgGRPCEnd, fn) }),
		both(afterCall(roleGRPCEnd, probe.ProgGRPCEnd, grpcHandleStream, grpcUnary), afterCall(roleGRPCEnd, probe.ProgGRPCEnd, grpcHandleStream, grpcStreaming)),
	}},
	// An HTTP/2 client call, once per call. net/http's own copy of the
	// HTTP/2 client moved to internal/http2 in Go 1.27 (where
	// net/http.(*http2ClientConn).RoundTrip remains, as an adapter of
	// another layout: so internal/http2 first); in the bundled copy
	// RoundTrip wraps roundTrip from Go 1.24 and is the whole call before.
	{name: roleRoundTripH2, options: []siteFinder{
		entry(roleRoundTripH2, probe.ProgH2iRoundTrip, "net/http/internal/http2.(*ClientConn).roundTrip"),
		entry(roleRoundTripH2, probe.ProgH2RoundTrip, "net/http.(*http2ClientConn).roundTrip"),
		entry(roleRoundTripH2, probe.ProgH2RoundTrip, "net/http.(*http2ClientConn).RoundTrip"),
	}},
	// An HTTP/2 call's response status and duration: where the transport's
	// RoundTripOpt has the results of the call the round-trip-h2 probe
	// started (roundTrip, or RoundTrip before Go 1.23 and where it is not
	// inlined) in their registers; internal/http2's is a *ClientResponse.
	{name: roleRoundTripEndH2, options: []siteFinder{
		at(roleRoundTripEndH2, probe.ProgH2iRoundTripEnd, func(b *inspect.Binary) ([]inspect.Site, error) {
			return b.ResultSitesAfterCall("net/http/internal/http2.(*Transport).RoundTripOpt", "net/http/internal/http2.(*ClientConn).roundTrip")
		}),
		at(roleRoundTripEndH2, probe.ProgH2RoundTripEnd, func(b *inspect.Binary) ([]inspect.Site, error) {
			return b.ResultSitesAfterCall("net/http.(*http2Transport).RoundTripOpt", "net/http.(*http2ClientConn).roundTrip")
		}),
		at(roleRoundTripEndH2, probe.ProgH2RoundTripEnd, func(b *inspect.Binary) ([]inspect.Site, error) {
			return b.ResultSitesAfterCall("net/http.(*http2Transport).RoundTripOpt", "net/http.(*http2ClientConn).RoundTrip")
		}),
	}},
	// The address a connection was dialed by: its name.
	{name: roleDial, optional: true, options: []siteFinder{
		entry(roleDial, probe.ProgDial, "net.(*Dialer).DialContext"),
	}},
	// Database and cache calls with a context, where a binary links them.
	{name: roleSQLCall, optional: true, options: []siteFinder{
		entry(roleSQLCall, probe.ProgCtxCall, "database/sql.(*DB).conn"),
	}},
	{name: roleGRPCCall, optional: true, options: []siteFinder{
		entry(roleGRPCCall, probe.ProgGRPCCall, "google.golang.org/grpc/internal/transport.(*http2Client).NewStream"),
	}},
	// A gRPC call attempt's status code and duration: where it ends, with
	// its error in the argument registers (the caller's goroutine for a
	// unary call). Its start is known by the attempt's CallHdr, which needs
	// the attempt's layout from DWARF (clientStream.callHdr, Error.s and
	// Status.s are at offset 0: their presence cannot be told apart).
	{name: roleGRPCCallEnd, requestPath: true, optional: true, needs: func(o inspect.Offsets) bool {
		return o.GRPCAttemptStream != 0 && o.GRPCStatusCode != 0
	}, options: []siteFinder{
		entry(roleGRPCCallEnd, probe.ProgGRPCCallEnd, grpcAttemptFinish),
		// arm64, where its entry allocates a large frame: its callers'
		// calls of it (the stream's end, a retry's abandoned attempt).
		both(calls(roleGRPCCallEnd, probe.ProgGRPCCallEnd, "google.golang.org/grpc.(*clientStream).finish", grpcAttemptFinish),
			calls(roleGRPCCallEnd, probe.ProgGRPCCallEnd, "google.golang.org/grpc.(*clientStream).retryLocked", grpcAttemptFinish)),
	}},
	{name: roleRedisCall, optional: true, options: []siteFinder{
		entry(roleRedisCall, probe.ProgCtxCall, "github.com/redis/go-redis/v9.(*baseClient).getConn"),
		entry(roleRedisCall, probe.ProgCtxCall, "github.com/redis/go-redis/v9.(*baseClient)._getConn"),
	}},
}

// plan is where the probes go in one binary.
type plan struct {
	Uprobes []probe.Uprobe
	Sites   []records.ProbeSite // for the ready record
	Notes   []string            // what could not be placed, or only stepped
}

// planProbes chooses the probe sites for a binary: a router's role only
// where the binary links it and its offsets are known; hasGRPC: it serves
// gRPC with grpc-go, whose stream layout is known; then its HTTP server's
// probes are not required (a gRPC-only service has no net/http server).
func planProbes(b *inspect.Binary, off inspect.Offsets, hasGRPC bool) (*plan, error) {
	p := &plan{}
	endsAtReturn := false
	for _, r := range roles {
		if r.needs != nil && !r.needs(off) {
			continue
		}
		if (r.name == roleGRPCStart || r.name == roleGRPCEnd) && !hasGRPC {
			continue
		}
		if hasGRPC {
			switch r.name {
			case roleRequestStart, roleRequestEnd:
				r.required = false
			case roleGRPCStart, roleGRPCEnd:
				r.required = true
			}
		}
		if r.name == roleRequestEndH2 && endsAtReturn {
			continue // the RETs of serverHandler.ServeHTTP end HTTP/2 requests too
		}
		var chosen []probe.Uprobe
		var firstErr error
		chosenIdx := -1
		for i, opt := range r.options {
			u, err := opt(b)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			if chosen == nil || !anyStepped(u) {
				chosen, chosenIdx = u, i
			}
			if !anyStepped(u) {
				break
			}
		}
		if r.name == roleRequestEnd && chosenIdx > 0 {
			endsAtReturn = true
		}
		if chosen == nil {
			if r.required {
				return nil, &unplaced{role: r.name, err: firstErr}
			}
			if r.optional && errors.Is(firstErr, inspect.ErrNoFunc) {
				continue
			}
			p.Notes = append(p.Notes, fmt.Sprintf("%s: not probed (%v)", r.name, firstErr))
			continue
		}
		if anyStepped(chosen) {
			p.Notes = append(p.Notes, fmt.Sprintf("%s: no emulated instruction in this binary; probing single-stepped instructions (slower)", r.name))
		}
		p.Uprobes = append(p.Uprobes, chosen...)
		p.Sites = append(p.Sites, describe(r, chosen)...)
	}
	return p, nil
}

// unplaced says that a probe the trace cannot do without found no site.
type unplaced struct {
	role string
	err  error
}

func (u *unplaced) Error() string { return u.role + ": " + u.err.Error() }
func (u *unplaced) Unwrap() error { return u.err }

func anyStepped(us []probe.Uprobe) bool {
	for _, u := range us {
		for _, s := range u.Sites {
			if s.Stepped {
				return true
			}
		}
	}
	return false
}

// describe groups a role's sites by function and instruction class.
func describe(r role, us []probe.Uprobe) []records.ProbeSite {
	var out []records.ProbeSite
	idx := map[[3]string]int{}
	for _, u := range us {
		for _, s := range u.Sites {
			k := [3]string{u.Program, s.Func, s.Insn}
			if i, ok := idx[k]; ok {
				out[i].Count++
				out[i].Offsets = append(out[i].Offsets, s.Offset)
				continue
			}
			idx[k] = len(out)
			out = append(out, records.ProbeSite{Program: u.Program, Role: r.name, Func: s.Func, Insn: s.Insn, Stepped: s.Stepped, Count: 1, RequestPath: r.requestPath, Offsets: []uint64{s.Offset}})
		}
	}
	return out
}
