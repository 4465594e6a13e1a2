package probe

// Exported names for the event layouts bpf2go generated, so the tracer
// can decode ring buffer records without copying.
type (
	EventHeader  = probeEventHeader
	RequestStart = probeRequestStart
	Route        = probeRoute
	RequestEnded = probeRequestEnded
	Outbound     = probeOutbound
	Call         = probeCall
	GRPCImpl     = probeGrpcImpl
	CallEnd      = probeCallEnd
)

// Offsets and sizes of the parts of Call.Op for an HTTP or gRPC call
// (probe.bpf.c's enum op_layout); for a write, Op holds its first OpLens[0] bytes
// and OpLens[1] is how many it wrote (at most 65535).
const (
	OpMethod, OpMethodMax = int(probeOpLayoutOP_METHOD), int(probeOpLayoutOP_METHOD_MAX)
	OpScheme, OpSchemeMax = int(probeOpLayoutOP_SCHEME), int(probeOpLayoutOP_SCHEME_MAX)
	OpHost, OpHostMax     = int(probeOpLayoutOP_HOST), int(probeOpLayoutOP_HOST_MAX)
	OpPath, OpPathMax     = int(probeOpLayoutOP_PATH), int(probeOpLayoutOP_PATH_MAX)
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
	EvCallEnd      = uint32(probeEventTypeEV_CALL_END)
	EvGRPCImpl     = uint32(probeEventTypeEV_GRPC_IMPL)
	EvConnectFail  = uint32(probeEventTypeEV_CONNECT_FAILED)
)
