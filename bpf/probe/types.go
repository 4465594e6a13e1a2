package probe

// Exported names for the event layouts bpf2go generated, so the tracer
// can decode ring buffer records without copying.
type (
	EventHeader  = probeEventHeader
	RequestStart = probeRequestStart
	Route        = probeRoute
	Outbound     = probeOutbound
)
