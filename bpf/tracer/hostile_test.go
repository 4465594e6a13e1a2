package tracer

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"

	"outboundlens/bpf/probe"
)

func setBytes(dst []int8, s string) uint32 {
	n := copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), len(dst)), s)
	return uint32(n)
}

// A request whose path, method and header fill the probe's buffers, with
// invalid UTF-8 and control characters: the record is valid UTF-8 JSON,
// says what was cut, and keeps what it can.
func TestHostileRequestRecord(t *testing.T) {
	var out bytes.Buffer
	o, _ := NewOutput(&out, "ndjson")
	tr := &Tracer{PID: 1, Out: o, Headers: []string{"X-Hostile", "Traceparent"}}
	var e probe.RequestStart
	e.H.Type, e.H.Request = probe.EvRequestStart, 7
	e.MethodLen = setBytes(e.Method[:], strings.Repeat("M", 40))
	e.PathLen = setBytes(e.Path[:], "/users/\xff\xfe\x1b[2J\x00"+strings.Repeat("a", 1<<20))
	e.Headers[0].Present = 1
	e.Headers[0].Len = setBytes(e.Headers[0].Value[:], "bad\x01\xc3")
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&e)), unsafe.Sizeof(e))
	tr.Handle(raw)
	var end probe.EventHeader
	end.Type, end.Request = probe.EvRequestEnd, 7
	tr.Handle(unsafe.Slice((*byte)(unsafe.Pointer(&end)), unsafe.Sizeof(end)))
	o.Flush()

	line := out.Bytes()
	if !utf8.Valid(line) {
		t.Fatalf("the record is not valid UTF-8: %q", line)
	}
	var rec Request
	if err := json.Unmarshal(line, &rec); err != nil {
		t.Fatalf("not JSON: %v: %q", err, line)
	}
	if want := []string{"method", "path"}; strings.Join(rec.Truncated, ",") != strings.Join(want, ",") {
		t.Errorf("truncated %q, want %q", rec.Truncated, want)
	}
	if len(rec.Method) != len(e.Method) {
		t.Errorf("method %q", rec.Method)
	}
	if !strings.HasPrefix(rec.Path, "/users/\uFFFD\uFFFD\x1b[2J\x00aaa") {
		t.Errorf("path %q: the invalid bytes should read as U+FFFD, the rest kept", rec.Path[:20])
	}
	if got := rec.Headers["x-hostile"]; got != "bad\x01\uFFFD" {
		t.Errorf("header %q", got)
	}

	// Text format: control characters are quoted, never sent to the terminal.
	var text bytes.Buffer
	to, _ := NewOutput(&text, "text")
	id := "r7"
	to.Record(&Outbound{Type: "outbound", Request: &id, Proto: "tcp", Src: "127.0.0.1", Dst: "127.0.0.1"}, rec.Path[:16], rec.Method)
	to.Flush()
	if s := text.String(); strings.ContainsAny(s, "\x1b\x00") || !utf8.ValidString(s) || !strings.HasPrefix(s, `"/users/`) {
		t.Errorf("text line %q", s)
	}
}
