// Package tracer turns the probes' events into the record stream
// (contract v1): ready, request, outbound, stats, error.
package tracer

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
	// Truncated names the fields cut to what the probe copies (path 256
	// bytes, method 16, route 128, a header value 256): "path", "method",
	// "route", "headers.<name>". Absent when nothing was cut.
	Truncated []string `json:"truncated,omitempty"`
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
