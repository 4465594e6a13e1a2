// Package tracer turns the probes' events into the record stream
// (contract v1): ready, request, outbound, stats, error.
package tracer

import "outboundlens/bpf/records"

// The records the tracer writes, declared once in bpf/records.
type (
	Loc      = records.Loc
	Request  = records.Request
	Outbound = records.Outbound
	Stats    = records.Stats
)
