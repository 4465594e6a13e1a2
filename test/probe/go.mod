module outboundlens/test/probe

go 1.26.0

require outboundlens/bpf v0.0.0

// The record types are the helper's own (bpf/records), not a copy.
replace outboundlens/bpf => ../../bpf
