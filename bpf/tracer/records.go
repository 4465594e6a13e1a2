// Package tracer turns the probes' events into the record stream
// (contract v1): ready, request, outbound, stats, error.
package tracer

import "outboundlens/bpf/probe"

// Loc is a place in the service's source.
type Loc struct {
	Func string `json:"func"`
	File string `json:"file"`
	Line int    `json:"line"`
}

type Ready struct {
	Type      string   `json:"type"`
	PID       int      `json:"pid"`
	Exe       string   `json:"exe"`
	GoVersion string   `json:"goVersion"`
	Probes    []string `json:"probes"`
	Headers   []string `json:"captureHeaders"`
	Offsets   string   `json:"offsets"` // where struct offsets came from: dwarf or a version table
	// Sites says where each probe sits and whether the kernel emulates the
	// instruction there (cheap) or single-steps it (about ten times dearer).
	Sites []ProbeSite `json:"sites"`
}

// ProbeSite is one probe's instructions of one class in one function.
type ProbeSite struct {
	Program     string   `json:"program"` // the BPF program run there
	Role        string   `json:"role"`    // request-start, request-end, goroutine-start, gin-route, round-trip, …
	Func        string   `json:"func"`
	Insn        string   `json:"insn"` // call, jmp, jcc, nop, push; bl, b.cond, …; else the mnemonic
	Stepped     bool     `json:"stepped"`
	Count       int      `json:"count"`       // how many such instructions (a function's RETs, its call sites)
	RequestPath bool     `json:"requestPath"` // hit by every HTTP/1 request (or outbound call) it concerns
	Offsets     []uint64 `json:"offsets"`     // the instructions' file offsets
}

type Request struct {
	Type    string            `json:"type"`
	ID      string            `json:"id"`
	PID     int               `json:"pid"`
	Goid    uint64            `json:"goid"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Route   string            `json:"route"`
	Handler *Loc              `json:"handler"`
	Headers map[string]string `json:"headers"`
	TraceID string            `json:"traceId"`
	StartNs int64             `json:"startNs"`
	EndNs   int64             `json:"endNs"`
}

type Outbound struct {
	Type     string  `json:"type"`
	Request  *string `json:"request"`
	PID      int     `json:"pid"`
	Goid     uint64  `json:"goid"`
	Proto    string  `json:"proto"`
	Src      string  `json:"src"`
	Sport    int     `json:"sport"`
	Dst      string  `json:"dst"`
	Dport    int     `json:"dport"`
	Reused   bool    `json:"reused"`
	CallSite *Loc    `json:"callSite"`
	TsNs     int64   `json:"tsNs"`
	// Via says which probe saw it: "http" (client round trip) or "connect".
	Via string `json:"via"`
}

type Stats struct {
	Type     string `json:"type"`
	Events   uint64 `json:"events"`
	Lost     uint64 `json:"lost"`
	Requests uint64 `json:"requests"`
	Outbound uint64 `json:"outbound"`
	// Programs: each uprobe program's runs and time in BPF so far, with
	// the helper's --probe-stats.
	Programs []probe.ProgramRuns `json:"programs,omitempty"`
}

type ErrorRecord struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// End is the last record of a trace: why it stopped.
type End struct {
	Type   string `json:"type"`
	Reason string `json:"reason"` // "signal", "duration", "target-exited", "stdin-closed", "parent-exited"
	Status *int   `json:"exitStatus,omitempty"`
}
