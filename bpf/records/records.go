// Package records is the helper's record contract (v1): the lines
// `outbound-lens-helper trace --format ndjson` writes, one JSON object each.
// Field names are part of the contract: add fields freely, never rename one.
//
// This package is the one declaration. `go generate ./records` (in bpf/)
// derives the rest from it: the TypeScript types and error codes
// (src/shared/records.gen.ts), the README's record tables, Any (every
// field in one struct, for decoding a mixed stream) and each type's
// AppendJSON (what the helper writes with). The records/gen test
// fails when a derived copy differs.
package records

//go:generate go run ./gen

// Loc is a place in the service's source.
type Loc struct {
	Func string `json:"func"` // the function, as Go's symbol table names it (main.getUser)
	File string `json:"file"` // absolute path
	Line int    `json:"line"`

	enc []byte // its JSON, made once by Seal
}

// Ready is the first record of a trace: the probes are attached.
type Ready struct {
	Type           string      `json:"type" record:"ready"`
	PID            int         `json:"pid"`            // the traced process
	Exe            string      `json:"exe"`            // its executable
	GoVersion      string      `json:"goVersion"`      // the Go release that built the target (go1.26.8)
	Probes         []string    `json:"probes"`         // what got attached
	CaptureHeaders []string    `json:"captureHeaders"` // the request headers read, lower-case
	Offsets        string      `json:"offsets"`        // where struct offsets came from: dwarf or a version table (table:go1.NN)
	Sites          []ProbeSite `json:"sites"`          // where each probe sits: program, role, function, instruction class, whether the kernel single-steps it
}

// ProbeSite is one probe's instructions of one class in one function.
type ProbeSite struct {
	Program     string   `json:"program"`     // the BPF program run there
	Role        string   `json:"role"`        // request-start, request-end, request-end-h2, goroutine-start, gin-route, round-trip, round-trip-h2, round-trip-end, round-trip-end-h2, …
	Func        string   `json:"func"`        // the function that holds the instructions
	Insn        string   `json:"insn"`        // the class: call, jmp, jcc, nop, push; bl, b, b.cond, blr, …; else the mnemonic
	Stepped     bool     `json:"stepped"`     // the kernel single-steps it rather than emulating it
	Count       int      `json:"count"`       // how many such instructions (a function's RETs, its call sites)
	RequestPath bool     `json:"requestPath"` // hit by every HTTP/1 request (or outbound call) it concerns
	Offsets     []uint64 `json:"offsets"`     // the instructions' file offsets
}

// ProgramRuns is how often one BPF program ran, and for how long in all.
type ProgramRuns struct {
	Program string `json:"program"`
	Runs    uint64 `json:"runs"`
	Ns      uint64 `json:"ns"`
}

// Request is an inbound request, written when it ends.
type Request struct {
	Type      string            `json:"type" record:"request"`
	ID        string            `json:"id"` // what outbound records name in their request field
	PID       int               `json:"pid"`
	Goid      uint64            `json:"goid"`    // the goroutine that served it
	Method    string            `json:"method"`  // POST for a gRPC call
	Path      string            `json:"path"`    // a gRPC call's full method (/pkg.Service/Method)
	Route     string            `json:"route"`   // the Gin, chi or echo route template, the ServeMux pattern that chose the handler (Go 1.22+), or a gRPC call's full method; empty otherwise
	Handler   *Loc              `json:"handler"` // the Gin or echo handler, the method of the gRPC service implementation, or null (a chi or ServeMux handler comes from the route index)
	Headers   map[string]string `json:"headers"` // the captured headers (a gRPC call's metadata), lower-case names
	TraceID   string            `json:"traceId"` // from a W3C traceparent header, or empty
	StartNs   int64             `json:"startNs"` // Unix nanoseconds
	EndNs     int64             `json:"endNs"`
	Truncated []string          `json:"truncated,omitempty"` // the fields the probe cut to its buffers (path 256 bytes, method 16, route 128, a header value 256): path, method, route, headers.NAME; absent when none was cut
}

// Outbound is one use of an outbound TCP connection.
type Outbound struct {
	Type     string  `json:"type" record:"outbound"`
	Request  *string `json:"request"` // the inbound request's id, or null for a call no request caused
	PID      int     `json:"pid"`
	Goid     uint64  `json:"goid"`
	Proto    string  `json:"proto"` // tcp
	Src      string  `json:"src"`
	Sport    int     `json:"sport"`
	Dst      string  `json:"dst"`
	Dport    int     `json:"dport"`
	Reused   bool    `json:"reused"`             // a connection opened before this request (kept alive, pooled, or open before the trace), not one it opened
	CallSite *Loc    `json:"callSite"`           // the caller's line in the service, or null
	CallPath []Loc   `json:"callPath,omitempty"` // the service's own frames (its main module) from the call site up to the handler, innermost first, at most 8
	TsNs     int64   `json:"tsNs"`               // Unix nanoseconds
	Via      string  `json:"via"`                // which probe saw it: http (a net/http client call, HTTP/1 or HTTP/2), grpc (a gRPC-go client call), connect (a new connection), or write (an exchange on any other connection, seen at its first write)
	Op       *Op     `json:"op,omitempty"`       // what the call or exchange did, in its protocol's words; absent on a connect
	Remote   *Remote `json:"remote,omitempty"`   // the other end, as the service named it (always written by this helper; absent in older recordings)
}

// Remote is an outbound connection's other end.
type Remote struct {
	Name string `json:"name"` // an HTTP or gRPC call's URL host or authority, else the address the service gave its dialer when it opened the connection while traced (db.internal:5432), else on a TLS connection the server name its ClientHello asked for with dport (api.internal:443), else dst:dport; the helper makes no DNS lookups
}

// Op is what an outbound call or exchange did. Only what its protocol
// needs is set: the method, scheme, host and path of an HTTP call (never a
// header value, never the query string), a gRPC call's authority and full
// method, a database statement and its verb, a Redis command and its key,
// a TLS connection's server name.
type Op struct {
	Protocol   string `json:"protocol"`             // http, grpc, postgresql, mysql, redis, tls, or tcp (not recognized)
	Method     string `json:"method,omitempty"`     // HTTP: GET, POST, …
	Scheme     string `json:"scheme,omitempty"`     // HTTP: http or https, from the URL
	Host       string `json:"host,omitempty"`       // HTTP: the URL's host[:port] as the service named it; gRPC: the authority
	Path       string `json:"path,omitempty"`       // HTTP: the URL's path, without the query; gRPC: /package.Service/Method
	Verb       string `json:"verb,omitempty"`       // PostgreSQL, MySQL: the statement's first keyword, upper case (SELECT)
	Statement  string `json:"statement,omitempty"`  // PostgreSQL, MySQL: the statement's text, at most 200 bytes; absent with --no-statements
	Command    string `json:"command,omitempty"`    // Redis: the command, upper case (GET)
	Key        string `json:"key,omitempty"`        // Redis: its first argument; absent with --no-statements
	ServerName string `json:"serverName,omitempty"` // TLS (an HTTPS or gRPC call, or an exchange on a TLS connection): the server name (SNI) the connection's ClientHello asked for, when the trace saw it (not on a connection opened before the trace); never a header
	Status     int    `json:"status,omitempty"`     // HTTP/1 and HTTP/2 (net/http): the response's status code; gRPC (grpc-go): the call's status code (1 Canceled … 16 Unauthenticated; OK, 0, is left out), 2 (Unknown) for an error that carries none
	DurationNs int64  `json:"durationNs,omitempty"` // HTTP/1 and HTTP/2 (net/http): from the call to its response's headers (or its error); gRPC (grpc-go): from the call attempt's start to its end (its response and status read, or its error)
	Failed     bool   `json:"failed,omitempty"`     // HTTP/1 and HTTP/2 (net/http): the call got no response on its connection (reset, timed out, not HTTP, …); gRPC (grpc-go): its status code is not OK; a connect (protocol tcp): the connection was never established (see error)
	Error      string `json:"error,omitempty"`      // a failed connect: why, as the kernel says: connection refused, timed out, host unreachable, network unreachable, or canceled (the service gave up before the handshake completed)
	Truncated  bool   `json:"truncated,omitempty"`  // a field was cut to what the probe reads (256 bytes of the write; host 104, path 128)
}

// Stats counts what was seen; written periodically and at the end.
type Stats struct {
	Type     string        `json:"type" record:"stats"`
	Events   uint64        `json:"events"` // probe events read
	Lost     uint64        `json:"lost"`   // probe events the kernel dropped
	Requests uint64        `json:"requests"`
	Outbound uint64        `json:"outbound"`
	Programs []ProgramRuns `json:"programs,omitempty"` // with --probe-stats: each program's runs and time in BPF so far (uprobe programs, then tracepoint programs by tracepoint name, which run for every process's syscalls)
	Maps     []MapUse      `json:"maps,omitempty"`     // the probes' hash maps: how full each is and what an LRU one evicted so far
}

// MapUse is one hash map of the probes: an LRU map never refuses an entry,
// it evicts the least recently used one when full; a plain one (its
// entries deleted as their request or call ends) refuses new keys when full.
type MapUse struct {
	Map       string  `json:"map"`       // its name in probe.bpf.c (goroutine_request)
	Entries   uint64  `json:"entries"`   // its entries: counted every 30 s (a stats record in between repeats the last count) and for the last stats record
	Max       uint32  `json:"max"`       // max_entries
	Evictions *uint64 `json:"evictions"` // entries the kernel evicted to make room since the trace began (the probes count the map's new keys and deletes: evictions = inserts - deletes - entries); null for a map whose entries are deleted as their request or call ends, which counts neither
}

// ErrorRecord says why the helper could not trace; it then exits non-zero.
type ErrorRecord struct {
	Type    string `json:"type" record:"error"`
	Code    Code   `json:"code"`
	Message string `json:"message"` // what went wrong and what to do
}

// End is the last record of a trace: why it stopped.
type End struct {
	Type   string `json:"type" record:"end"`
	Reason string `json:"reason"`               // signal, duration, target-exited, target-exec, stdin-closed, connection-closed or parent-exited
	Status *int   `json:"exitStatus,omitempty"` // the target's exit status, when it exited
}
