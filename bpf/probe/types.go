package probe

// Exported names for the event layouts bpf2go generated, so the tracer
// can decode ring buffer records without copying.
type (
	EventHeader  = probeEventHeader
	RequestStart = probeRequestStart
	Route        = probeRoute
	RequestEnded = probeRequestEnded
	Outbound     = probeOutbound
	GRPCCall     = probeGrpcCall
)

// The event types of probe.bpf.c's enum event_type.
const (
	EvRequestStart = uint32(probeEventTypeEV_REQUEST_START)
	EvRequestEnd   = uint32(probeEventTypeEV_REQUEST_END)
	EvRoute        = uint32(probeEventTypeEV_ROUTE)
	EvConnect      = uint32(probeEventTypeEV_CONNECT)
	EvRoundTrip    = uint32(probeEventTypeEV_ROUND_TRIP)
	EvWrite        = uint32(probeEventTypeEV_WRITE)
	EvGRPCCall     = uint32(probeEventTypeEV_GRPC_CALL)
)
