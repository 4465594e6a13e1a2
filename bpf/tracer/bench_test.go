package tracer

import (
	"io"
	"testing"
	"unsafe"

	"outboundlens/bpf/probe"
)

// The helper's own cost per traced request: a request with its route and
// end (as /health gives), and one with a client call (as /echo gives).
func BenchmarkRequest(b *testing.B) {
	out, _ := NewOutput(io.Discard, "ndjson")
	tr := &Tracer{PID: 42, Out: out, Sym: fakeSymbols{}, Headers: []string{"Traceparent"}, Bias: bias, MonoToUnix: 1e9}
	evs := [][]byte{requestStart(1, 7, "GET", "/health"), endWithRoute(1, 7, "/health", 0x700+bias)}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, e := range evs {
			tr.Handle(e)
		}
	}
}

func BenchmarkRequestWithCall(b *testing.B) {
	out, _ := NewOutput(io.Discard, "ndjson")
	tr := &Tracer{PID: 42, Out: out, Sym: fakeSymbols{}, Headers: []string{"Traceparent"}, Bias: bias, MonoToUnix: 1e9}
	evs := [][]byte{requestStart(1, 7, "GET", "/echo"), outbound(probe.EvRoundTrip, 1, 7, 8080, true, 0x600+bias, 0x700+bias),
		endWithRoute(1, 7, "/echo", 0x700+bias)}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, e := range evs {
			tr.Handle(e)
		}
	}
}

// An /echo request as net/http gives it: the client call's record waits
// for the call's end, which brings its status and duration.
func BenchmarkRequestWithAwaitedCall(b *testing.B) {
	out, _ := NewOutput(io.Discard, "ndjson")
	tr := &Tracer{PID: 42, Out: out, Sym: fakeSymbols{}, Headers: []string{"Traceparent"}, Bias: bias, MonoToUnix: 1e9}
	call := outbound(probe.EvRoundTrip, 1, 7, 8080, true, 0x600+bias, 0x700+bias)
	c := (*probe.Call)(unsafe.Pointer(&call[0]))
	c.AwaitsEnd = 1
	var e probe.CallEnd
	e.H = header(probe.EvCallEnd, 7, 1, c.O.H.Ts+500)
	e.Status = 200 // an HTTP call's end names no start
	evs := [][]byte{requestStart(1, 7, "GET", "/echo"), call, raw(&e), endWithRoute(1, 7, "/echo", 0x700+bias)}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, e := range evs {
			tr.Handle(e)
		}
	}
	if tr.stats.Outbound != uint64(b.N) {
		b.Fatalf("%d calls written for %d requests", tr.stats.Outbound, b.N)
	}
}
